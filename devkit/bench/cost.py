"""What a change order costs on AWS: the bench's counts per record delivered, priced at bench/prices.json.

Counts carry over from this machine to AWS; the Lambda duration does not (it is measured against the local
emulator, slower than DynamoDB and SQS), so the GB-seconds here are this machine's. Like for like, what only the
functions do is priced apart and left out of ``total``: EventBridge's delivery receipts (``receipts``) and the
order marks' DynamoDB units (``ordering``: the reference sends each record as it comes, in whatever order).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devkit.template import REPO_ROOT

PRICES = REPO_ROOT / "bench" / "prices.json"
MILLION = 1_000_000
MB_PER_GB = 1024
# What is priced apart from the like-for-like cost, by the quantities it is made of: what only the functions do.
APART = {
    "receipts": ("eventbridge_custom_event",),
    "ordering": ("ordering_dynamodb_write_request_unit", "ordering_dynamodb_read_request_unit"),
}
# A quantity priced at another's price: the order marks' units are DynamoDB's.
_PRICED_AS = {
    "ordering_dynamodb_write_request_unit": "dynamodb_write_request_unit",
    "ordering_dynamodb_read_request_unit": "dynamodb_read_request_unit",
}
# The services whose requests are billed per request, by the name the emulator counts them under.
_REQUEST_PRICES = {"sqs": "sqs_request", "secretsmanager": "secretsmanager_api_call"}


def load_prices(path: Path = PRICES) -> dict[str, Any]:
    """The prices file: ``read_on``, and per price its ``usd`` per unit and ``source``."""
    prices: dict[str, Any] = json.loads(path.read_text())
    return prices


def requests_per_service(counts: Mapping[str, float]) -> dict[str, float]:
    """Requests per service from the emulator's counts (``<service> <Operation>``; item and unit counts left out)."""
    services: dict[str, float] = {}
    for name, value in counts.items():
        service, _, operation = name.partition(" ")
        if operation[:1].isupper() and " " not in operation:
            services[service] = services.get(service, 0.0) + value
    return services


def usage(counts: Mapping[str, float], invocations: float, billed_ms: float, memory_mb: int) -> dict[str, float]:
    """Each priced quantity (a key of the prices file, or of ``_PRICED_AS``) from the counts, the invocations and
    the billed duration; the order marks' DynamoDB units apart from the rest's.

    Every argument is per the same thing (a run, or a record): the result is per that too. SQS requests count one
    64 KB chunk each: the bench's records are under 1 KB and a batch of ten under 64 KB.
    """
    services = requests_per_service(counts)
    order_writes = counts.get("dynamodb order write units", 0.0)
    order_reads = counts.get("dynamodb order read units", 0.0)
    quantities = {
        "lambda_request": invocations,
        "lambda_gb_second": billed_ms / 1000 * memory_mb / MB_PER_GB,
        "dynamodb_write_request_unit": counts.get("dynamodb write units", 0.0) - order_writes,
        "dynamodb_read_request_unit": counts.get("dynamodb read units", 0.0) - order_reads,
        "ordering_dynamodb_write_request_unit": order_writes,
        "ordering_dynamodb_read_request_unit": order_reads,
        "eventbridge_custom_event": counts.get("events entries", 0.0),
    }
    for service, price in _REQUEST_PRICES.items():
        quantities[price] = services.get(service, 0.0)
    return quantities


def cost_per_million(quantities: Mapping[str, float], prices: Mapping[str, Any]) -> dict[str, float]:
    """USD per million of whatever ``quantities`` are per: each quantity's, ``total`` (like for like) and each of
    ``APART``'s (``receipts``, ``ordering``)."""
    table = prices["prices"]
    each = {
        name: quantity * table[_PRICED_AS.get(name, name)]["usd"] * MILLION for name, quantity in quantities.items()
    }
    apart = {name for names in APART.values() for name in names}
    return {
        **{name: round(value, 4) for name, value in each.items()},
        "total": round(sum(value for name, value in each.items() if name not in apart), 4),
        **{figure: round(sum(each.get(name, 0.0) for name in names), 4) for figure, names in APART.items()},
    }
