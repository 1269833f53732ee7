"""The three functions under bench: their records, where their vendor keeps what landed, and the vendor's limits."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from connectors.models.procore import MAX_SYNC_ITEMS
from devkit.bench.bounds import Window
from devkit.chaos.records import FIRST_CHANGE_ORDER_ID, constructiononline_record, prime_record

PROCORE_COMPANY_ID = 4264807
PROCORE_PROJECT_ID = 298401
# One contract for every record: the records of a batch coalesce into calls of up to 1000 updates.
PROCORE_CONTRACT_ID = 562949953421312
HOUR_SECONDS = 3600


def procore_record(token: str, index: int) -> str:
    """A PCO sync command with one update whose origin_id is ``token``."""
    update = {"origin_id": token, "title": f"Bench change {index}", "status": "pending"}
    command = {
        "connection": "default",
        "company_id": PROCORE_COMPANY_ID,
        "project_id": PROCORE_PROJECT_ID,
        "contract_id": PROCORE_CONTRACT_ID,
        "updates": [update],
    }
    return json.dumps(command)


def _procore_windows(config: Mapping[str, Any]) -> list[Window]:
    return [Window(config["hourly_limit"], HOUR_SECONDS), Window(config["spike_limit"], config["spike_window_seconds"])]


def _prime_windows(config: Mapping[str, Any]) -> list[Window]:
    return [Window(config["requests_per_second"], 1)]


def _constructiononline_windows(config: Mapping[str, Any]) -> list[Window]:
    periods = ("hourly", "daily", "weekly", "monthly")
    return [Window(config[f"{period}_limit"], config[f"{period}_window_seconds"]) for period in periods]


@dataclass(frozen=True)
class BenchVendor:
    """One function under bench and its vendor as the sandbox shows it."""

    key: str  # the vendor's name in results.json and in the sandbox
    function: str
    write_route: str  # the sandbox route of the vendor call the function makes per batch or record
    stored_path: str
    stored_key: str
    stored_token: Callable[[Mapping[str, Any]], Any]
    record: Callable[[str, int], str]  # (token, index) -> SQS message body
    windows: Callable[[Mapping[str, Any]], list[Window]]  # from the vendor's sandbox config section
    records_per_call: Callable[[Mapping[str, str], int], int]  # (template parameters, SQS batch size)
    calls_in_flight: Callable[[Mapping[str, str], int], int]  # per invocation
    seeds_change_orders: bool = False  # each record updates a change order that must exist


PROCORE = BenchVendor(
    key="procore",
    function="ProcorePcoSyncFunction",
    write_route="procore.sync",
    stored_path="/_sandbox/procore/pcos",
    stored_key="pcos",
    stored_token=lambda pco: pco.get("origin_id"),
    record=procore_record,
    windows=_procore_windows,
    records_per_call=lambda _, batch_size: min(MAX_SYNC_ITEMS, batch_size),
    calls_in_flight=lambda *_: 1,  # an invocation sends its sync calls one after another
)
PRIME = BenchVendor(
    key="prime",
    function="PrimeChangeOrderSovBatchFunction",
    write_route="prime.batch",
    stored_path="/_sandbox/prime/sovs",
    stored_key="sovs",
    stored_token=lambda sov: sov.get("name"),
    record=lambda token, index: prime_record(token, index, False),
    windows=_prime_windows,
    records_per_call=lambda parameters, batch_size: min(int(parameters["PrimeBatchSize"]), batch_size),
    calls_in_flight=lambda *_: 1,  # batches go one after another (a create is looked up before it is re-sent)
)
CONSTRUCTIONONLINE = BenchVendor(
    key="constructiononline",
    function="ConstructionOnlineChangeOrderUpdateFunction",
    write_route="constructiononline.update",
    stored_path="/_sandbox/constructiononline/change-orders",
    stored_key="change_orders",
    stored_token=lambda change_order: change_order.get("NOTES"),
    record=lambda token, index: constructiononline_record(token, index, False),
    windows=_constructiononline_windows,
    records_per_call=lambda *_: 1,
    calls_in_flight=lambda parameters, batch_size: min(int(parameters["ConstructionOnlineConcurrency"]), batch_size),
    seeds_change_orders=True,
)
VENDORS = (PROCORE, PRIME, CONSTRUCTIONONLINE)


def change_order_id(index: int) -> int:
    """The change order the ConstructionOnline record ``index`` updates (one each, seeded by the bench)."""
    return FIRST_CHANGE_ORDER_ID + index
