"""The records a chaos run sends: one change order each, a token that names it in the vendor's state."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass

# Procore records spread over this many contracts, so coalescing makes several sync calls, not one.
PROCORE_CONTRACTS = 8
FIRST_CHANGE_ORDER_ID = 5_000_000


@dataclass(frozen=True)
class ChaosRecord:
    """One queued record: its token (unique per run), its message body, and whether it is invalid on purpose."""

    token: str
    body: str
    invalid: bool


def procore_record(token: str, index: int, invalid: bool) -> str:
    """A PCO sync command with one update whose origin_id is the token."""
    update = {"origin_id": token, "title": f"Chaos change {index}", "status": "bogus" if invalid else "pending"}
    command = {
        "connection": "default",
        "company_id": 4264807,
        "project_id": 298401,
        "contract_id": 562949953421312 + index % PROCORE_CONTRACTS,
        "updates": [update],
    }
    return json.dumps(command)


def prime_record(token: str, index: int, invalid: bool) -> str:
    """A change-order SOV batch command with one item whose name is the token."""
    item = {
        "changeOrderLineItemId": 40_000 + index % 50,
        "name": token,
        "sovType": "BOGUS" if invalid else "LUMP_SUM",
        "changeOrderSovCost": {"total": index + 0.25},  # a quarter is exact in binary: no rounding on the wire
        "workspaceCode": "WS-CHAOS",
        "projectCode": "PRJ-CHAOS",
        "changeOrderCode": f"CO-{index % 50}",
        "associatedAgreementCode": "AGR-CHAOS",
        "changeOrderType": "CONTRACT",
        "changeOrderLineItemCode": f"LI-{index % 50}",
    }
    return json.dumps({"connection": "default", "items": [item]})


def constructiononline_record(token: str, index: int, invalid: bool) -> str:
    """An update of its own change order (seeded by the run) whose NOTES are the token."""
    co_info = {"NOTES": token, "COST_MONEY": f"{index}.10", "CONDITION": 9 if invalid else 1}
    return json.dumps({"connection": "default", "id": FIRST_CHANGE_ORDER_ID + index, "coInfo": co_info})


def build_records(
    prefix: str, count: int, invalid_share: float, make: Callable[[str, int, bool], str], rng: random.Random
) -> list[ChaosRecord]:
    """``count`` records named ``<prefix>-<n>``; about ``invalid_share`` of them invalid on purpose."""
    records = []
    for index in range(count):
        token = f"{prefix}-{index}"
        invalid = rng.random() < invalid_share
        records.append(ChaosRecord(token, make(token, index, invalid), invalid))
    return records
