"""The ``coInfo`` query parameter of ``PUT /api/ChangeOrders/{id}``: which properties may change, and how."""

from __future__ import annotations

import json
from typing import Final

from devkit.sandbox.messages import parse_json

# The seed's list, in its order.
UPDATABLE: Final = (
    "NUMBER",
    "DETAILS",
    "CONDITION",
    "COST_MONEY",
    "DATE_CLOSED",
    "NOTES",
    "REASONING",
    "PRICE",
    "QTY",
    "UNIT_NAME",
    "SUBTITLE",
    "IMAGE_ID",
    "URL",
    "SUBSTANTIAL_COMMENCEMENT",
    "MULTIPLIER",
    "MARKUP",
    "MARKUP_TYPE",
    "DATE_SUBMITTED",
    "GCCO",
    "QBO_INVOICE_ID",
    "ACCT_INVOICE_ID",
    "SUBCATIDS",
    "CONIDS",
    "USERIDS",
    "QB_ACTUALS",
    "QB_COMMITTED",
    "QB_INVOICED",
)
_UPDATABLE_SET: Final = frozenset(UPDATABLE)
CONDITIONS: Final = (0, 1, 2, 3)  # pending, approved, rejected, draft


class InvalidCoInfo(ValueError):
    """A ``coInfo`` the vendor refuses; the message is the ASP.NET ``MessageDetail``."""


def parse_co_info(raw: str | None) -> dict[str, object]:
    """Validate the already percent-decoded ``coInfo`` and return the changes to store.

    Checked in order: present, a JSON object, every key updatable, CONDITION in range, other values strings.
    String values are kept exactly as received; CONDITION becomes an int (a byte at the vendor).
    """
    if raw is None:
        raise InvalidCoInfo("The coInfo parameter is required.")
    try:
        payload = parse_json(raw.encode())
    except ValueError:
        raise InvalidCoInfo("coInfo is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise InvalidCoInfo("coInfo must be a JSON object.")
    for key in payload:
        if key not in _UPDATABLE_SET:
            raise InvalidCoInfo(f"Property '{key}' cannot be updated.")
    changes: dict[str, object] = {}
    if "CONDITION" in payload:
        changes["CONDITION"] = _condition(payload["CONDITION"])
    for key, value in payload.items():
        if key == "CONDITION":
            continue
        # The documented wire format is strings; anything else is a client bug worth surfacing.
        if not isinstance(value, str):
            raise InvalidCoInfo(f"Property '{key}' must be a string.")
        changes[key] = value
    return changes


def _condition(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value in CONDITIONS:
        return value
    if isinstance(value, str) and value in {str(condition) for condition in CONDITIONS}:
        return int(value)
    raise InvalidCoInfo(
        f"Property 'CONDITION' must be 0 (pending), 1 (approved), 2 (rejected) or 3 (draft), got {json.dumps(value)}."
    )
