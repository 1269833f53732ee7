"""ApiEntityChangeOrderSOV as Oracle documents it for the batch create, checked field by field."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Final

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1

SOV_TYPES: Final = frozenset({"LUMP_SUM", "UNIT_PRICE"})
CHANGE_ORDER_TYPES: Final = frozenset({"CONTRACT", "COMMITMENT"})

_COST_STEMS: Final = ("balanceRemaining", "retainage", "total", "unitPrice")
_COST_SUFFIXES: Final = (
    "",
    "AssociatedAgreement",
    "Commitment",
    "Contract",
    "LineItem",
    "Project",
    "Workspace1",
    "Workspace2",
    "Workspace3",
)
COST_FIELDS: Final = frozenset(stem + suffix for stem in _COST_STEMS for suffix in _COST_SUFFIXES)

# RFC 3339 (OpenAPI's date-time), also taking an offset without its colon as Java parsers do, or no offset at all
# as Oracle's own examples write them (2024-05-01T00:00:00).
_DATE_TIME_RE: Final = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:?\d{2})?")

Check = Callable[[object], bool]


def is_int64(value: object) -> bool:
    """A JSON integer (not a boolean, not 1.0) within the signed 64-bit range."""
    return isinstance(value, int) and not isinstance(value, bool) and _INT64_MIN <= value <= _INT64_MAX


def is_number(value: object) -> bool:
    """A JSON number: an int or a (finite) Decimal, never a boolean."""
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, Decimal) and value.is_finite()
    )


def is_date_time(value: object) -> bool:
    """An RFC 3339 date-time, with or without an offset, naming a real date and time."""
    if not isinstance(value, str) or not _DATE_TIME_RE.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value.upper())
    except ValueError:  # e.g. month 13 or 25:00
        return False
    return True


def _is_string(value: object) -> bool:
    return isinstance(value, str)


def _is_name(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())  # required: blank is as good as missing


def _one_of(allowed: Collection[str]) -> Check:
    return lambda value: isinstance(value, str) and value in allowed


def _is_bool(value: object) -> bool:
    return isinstance(value, bool)


# The fields a create may carry. The read-only ones (cbsCode, link, updateDate; in the cost object link and
# updateDate) and the ids Oracle assigns (sovId, changeOrderSovCost.changeOrderSovId) are left out, so a
# create that sends them is refused like one with an unknown field.
_REQUIRED: Final[Mapping[str, Check]] = {
    "changeOrderLineItemId": is_int64,
    "changeOrderSovCost": lambda value: isinstance(value, dict) and is_valid_cost(value),
    "name": _is_name,
    "sovType": _one_of(SOV_TYPES),
}
_OPTIONAL: Final[Mapping[str, Check]] = {
    **dict.fromkeys(
        (
            "abbreviation",
            "associatedAgreementCode",
            "changeOrderCode",
            "changeOrderLineItemCode",
            "costCategoryName",
            "description",
            "itemCode",
            "parentChangeOrderSovCode",
            "projectCode",
            "unitsOfMeasureCode",
            "workspaceCode",
        ),
        _is_string,
    ),
    **dict.fromkeys(
        (
            "changeOrderId",
            "costCategoryId",
            "costSheetItemId",
            "itemSuffix",
            "parentChangeOrderSovId",
            "unitsOfMeasureId",
        ),
        is_int64,
    ),
    "changeOrderType": _one_of(CHANGE_ORDER_TYPES),
    "isSummarySOV": _is_bool,
    "percentComplete": is_number,  # Percent: undocumented shape; a number, as Oracle's other entities use
    "quantity": is_number,
    "periodAppliedDate": is_date_time,
}


def is_valid_cost(cost: Mapping[str, object]) -> bool:
    """An ApiEntityChangeOrderSOVCost for create: only Cost fields, each null or a JSON number.

    A Cost is a plain JSON number in every Oracle example (``"total": 0``).
    """
    return all(name in COST_FIELDS and (value is None or is_number(value)) for name, value in cost.items())


def is_valid_sov(item: object, known_line_item_ids: Collection[int] | None) -> bool:
    """Whether one batch item may be created.

    Optional fields may be null (Java deserialises that as absent); required ones may not. A
    ``changeOrderLineItemId`` outside ``known_line_item_ids`` (when given) names no line item.
    """
    if not isinstance(item, dict):
        return False
    if any(name not in item or not check(item[name]) for name, check in _REQUIRED.items()):
        return False
    for name, value in item.items():
        if name in _REQUIRED:
            continue
        check = _OPTIONAL.get(name)  # None for refused and unknown fields
        if check is None or (value is not None and not check(value)):
            return False
    return known_line_item_ids is None or item["changeOrderLineItemId"] in known_line_item_ids
