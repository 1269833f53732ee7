"""Per-record CPU cost of validation and mapping: SQS bodies to command models to vendor request bodies, no HTTP.

Each function's own parse and mapping code runs in this process: the parse its handler gives the SQS adapter,
then what its client puts on the wire (Procore: the coalesced sync calls' JSON; Primavera Cloud: the batches'
exact JSON; ConstructionOnline: each update's URL with its encoded coInfo). CPU time of this process, per record.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from connectors.models.exact_json import dumps_exact
from connectors.models.procore import PcoSyncCommand
from constructiononline_change_order_update.client import update_url
from constructiononline_change_order_update.handler import parse_message as parse_constructiononline
from devkit.bench.vendors import BenchVendor
from prime_change_order_sov_batch.handler import parse_message as parse_prime
from procore_pco_sync.operation import plan_calls

Mapper = Callable[[Sequence[str], int], list[Any]]
_BASE_URL = "https://api.constructiononline.com"


def _procore(bodies: Sequence[str], _: int) -> list[Any]:
    commands = [PcoSyncCommand.model_validate_json(body) for body in bodies]
    return [json.dumps({"updates": [update.wire() for _, update in call.items]}) for call in plan_calls(commands)]


def _prime(bodies: Sequence[str], batch_size: int) -> list[Any]:
    items = [item for body in bodies for item in parse_prime(body).items]
    return [
        dumps_exact([item.wire() for item in items[start : start + batch_size]])
        for start in range(0, len(items), batch_size)
    ]


def _constructiononline(bodies: Sequence[str], _: int) -> list[Any]:
    commands = [parse_constructiononline(body) for body in bodies]
    return [update_url(_BASE_URL, command.id, command.coInfo) for command in commands]


MAPPERS: dict[str, Mapper] = {"procore": _procore, "prime": _prime, "constructiononline": _constructiononline}


def overhead_us(vendor: BenchVendor, records: int, batch_size: int) -> float:
    """Microseconds of CPU per record to parse ``records`` SQS bodies and build their vendor request bodies."""
    bodies = [vendor.record(f"overhead-{index}", index) for index in range(records)]
    mapper = MAPPERS[vendor.key]
    started = time.process_time()
    mapper(bodies, batch_size)
    return (time.process_time() - started) * 1e6 / records
