"""Stored change orders: the record shape, the seeded records and partial updates."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Final

from devkit.sandbox.constructiononline.co_info import UPDATABLE

# Returned by the vendor but not changeable through coInfo (names as on the vendor's overview page).
READ_ONLY: Final = ("NAME", "PRJ_ID", "PROJECTNAME", "COST_TIME", "DATE_CREATED", "DATE_MODIFIED")
FIELDS: Final = frozenset({"ID", *UPDATABLE, *READ_ONLY})


def blank_record(change_order_id: int, now: str) -> dict[str, object]:
    """A change order with every property present: read-only ones filled in, updatable ones null."""
    record: dict[str, object] = {
        "ID": change_order_id,
        "NAME": f"Change Order {change_order_id}",
        "PRJ_ID": 3456123,
        "PROJECTNAME": "Riverside Medical Office Building",
        "COST_TIME": 0,
        "DATE_CREATED": now,
        "DATE_MODIFIED": now,
    }
    record.update(dict.fromkeys(UPDATABLE))
    record["CONDITION"] = 0
    return record


def _seed(change_order_id: int, name: str, created: str, values: Mapping[str, object]) -> tuple[int, dict[str, object]]:
    record = blank_record(change_order_id, created)
    record.update(NAME=name, **values)
    return change_order_id, record


# Money, quantities and dates are strings, as PUT stores them, so a property keeps one type across updates.
_SEEDED: Final = dict(
    (
        _seed(
            1234567,
            "Added electrical conduit",
            "2024-03-04T15:12:09.417Z",
            {
                "NUMBER": "CO-001",
                "DETAILS": 'Add 2" conduit and pull boxes along grid line C, levels 2-4.',
                "CONDITION": 0,
                "COST_MONEY": "12500.00",
                "NOTES": "Pricing from Volt Electric, quote #4471.",
                "REASONING": "Owner-requested additional circuits for imaging equipment.",
                "PRICE": "14375.00",
                "QTY": "1",
                "UNIT_NAME": "LS",
                "MULTIPLIER": "1",
                "MARKUP": "15",
                "MARKUP_TYPE": "%",
                "DATE_SUBMITTED": "2024-03-05",
                "GCCO": "GC-CO-017",
                "COST_TIME": 3,
            },
        ),
        _seed(
            1234568,
            "Revised storefront glazing",
            "2024-03-11T09:40:55.102Z",
            {
                "NUMBER": "CO-002",
                "DETAILS": "Replace clear storefront glazing with low-E insulated units at the east entry.",
                "CONDITION": 1,
                "COST_MONEY": "8420.50",
                "REASONING": "Energy code review comment EC-12.",
                "PRICE": "9683.58",
                "QTY": "6",
                "UNIT_NAME": "EA",
                "MULTIPLIER": "1",
                "MARKUP": "15",
                "MARKUP_TYPE": "%",
                "DATE_SUBMITTED": "2024-03-12",
                "DATE_CLOSED": "2024-03-20",
                "SUBSTANTIAL_COMMENCEMENT": "2024-04-01",
            },
        ),
        _seed(
            1234569,
            "Rock excavation allowance",
            "2024-04-02T13:05:31.880Z",
            {
                "NUMBER": "CO-003",
                "DETAILS": "Unforeseen rock at footing F-7; hoe-ram and haul-off.",
                "CONDITION": 3,
                "COST_MONEY": "21750.00",
                "NOTES": "Draft: waiting on geotechnical report.",
                "QTY": "145",
                "UNIT_NAME": "CY",
                "MULTIPLIER": "1",
                "MARKUP": "10",
                "MARKUP_TYPE": "%",
                "COST_TIME": 5,
            },
        ),
    )
)


class ChangeOrderStore:
    """Change orders by ID, starting with the seeded ones. Not thread-safe: the caller holds its lock."""

    def __init__(self) -> None:
        self._records = copy.deepcopy(_SEEDED)

    def __contains__(self, change_order_id: object) -> bool:
        return change_order_id in self._records

    def get(self, change_order_id: int) -> dict[str, object] | None:
        """A copy of the record, or None."""
        record = self._records.get(change_order_id)
        return copy.deepcopy(record) if record is not None else None

    def update(self, change_order_id: int, changes: Mapping[str, object], now: str) -> dict[str, object]:
        """Change only the given properties of an existing record, stamp DATE_MODIFIED, return a copy."""
        record = self._records[change_order_id]
        record.update(changes)
        record["DATE_MODIFIED"] = now
        return copy.deepcopy(record)

    def put(self, change_order_id: int, values: Mapping[str, object], now: str) -> dict[str, object]:
        """Add or replace a whole record: a blank one with ``values`` over it; return a copy."""
        record = blank_record(change_order_id, now)
        record.update(copy.deepcopy(dict(values)))
        record["ID"] = change_order_id
        self._records[change_order_id] = record
        return copy.deepcopy(record)

    def all(self) -> list[dict[str, object]]:
        """Copies of every record, by ID."""
        return [copy.deepcopy(self._records[key]) for key in sorted(self._records)]
