"""The cost of a change order from the bench's counts and the prices file, and the comparison's results keys."""

from __future__ import annotations

import math

import pytest

from devkit.bench.comparison import comparison_figures
from devkit.bench.cost import cost_per_million, load_prices, requests_per_service, usage
from devkit.bench.throughput import Invocations, ThroughputRun

PRICES = {
    "read_on": "2026-12-05",
    "prices": {
        "lambda_request": {"usd": 2e-7},
        "lambda_gb_second": {"usd": 1e-5},
        "sqs_request": {"usd": 4e-7},
        "dynamodb_write_request_unit": {"usd": 6e-7},
        "dynamodb_read_request_unit": {"usd": 1e-7},
        "secretsmanager_api_call": {"usd": 5e-6},
        "eventbridge_custom_event": {"usd": 1e-6},
    },
}
COUNTS = {
    "sqs ReceiveMessage": 0.5,
    "sqs DeleteMessageBatch": 0.1,
    "dynamodb PutItem": 1.0,
    "dynamodb ledger writes": 2.0,  # an item count, not a request
    "dynamodb write units": 4.0,
    "dynamodb order write units": 2.0,  # of the 4: an object's hold and release
    "dynamodb read units": 0.5,
    "secretsmanager GetSecretValue": 0.01,
    "events PutEvents": 0.1,
    "events entries": 1.0,  # events, not requests
}


def run(records: int, seconds: float, counts: dict[str, float], billed_ms: float, invocations: int) -> ThroughputRun:
    return ThroughputRun(
        records=records,
        seconds=seconds,
        enqueue_seconds=1.0,
        vendor_calls=records,
        refused_calls=0,
        token_calls=1,
        invocations=Invocations(count=invocations, records=records, delivered=records, milliseconds=billed_ms),
        aws_requests={name: value * records for name, value in counts.items()},
        billed_ms=billed_ms,
    )


def test_requests_per_service_sum_operations_and_leave_out_item_and_unit_counts() -> None:
    assert requests_per_service(COUNTS) == pytest.approx(
        {"sqs": 0.6, "dynamodb": 1.0, "secretsmanager": 0.01, "events": 0.1}
    )


def test_usage_prices_units_events_and_gigabyte_seconds() -> None:
    quantities = usage(COUNTS, invocations=0.01, billed_ms=100.0, memory_mb=512)

    assert quantities == pytest.approx(
        {
            "lambda_request": 0.01,
            "lambda_gb_second": 0.1 * 0.5,
            "sqs_request": 0.6,
            "dynamodb_write_request_unit": 2.0,
            "dynamodb_read_request_unit": 0.5,
            "ordering_dynamodb_write_request_unit": 2.0,
            "ordering_dynamodb_read_request_unit": 0.0,
            "secretsmanager_api_call": 0.01,
            "eventbridge_custom_event": 1.0,
        }
    )


def test_the_receipts_and_the_order_marks_are_priced_apart_from_the_like_for_like_total() -> None:
    cost = cost_per_million(usage(COUNTS, 0.01, 100.0, 512), PRICES)

    like_for_like = 0.01 * 2e-7 + 0.05 * 1e-5 + 0.6 * 4e-7 + 2.0 * 6e-7 + 0.5 * 1e-7 + 0.01 * 5e-6
    assert cost["total"] == pytest.approx(like_for_like * 1e6, abs=1e-4)
    assert cost["receipts"] == pytest.approx(1.0)
    assert cost["eventbridge_custom_event"] == pytest.approx(1.0)
    # The reference keeps no order: the marks' write units are at DynamoDB's price, in a figure of their own.
    assert cost["ordering"] == pytest.approx(2.0 * 6e-7 * 1e6)


def test_the_prices_file_says_when_it_was_read_and_where_each_price_comes_from() -> None:
    prices = load_prices()

    assert prices["region"] == "us-east-1"
    assert prices["read_on"]
    for name in usage(COUNTS, 0, 0, 512):
        name = name.removeprefix("ordering_")  # the order marks' units, at DynamoDB's price
        assert prices["prices"][name]["usd"] > 0
        assert prices["prices"][name]["source"].startswith("https://aws.amazon.com/")
    # On-demand DynamoDB after the price cut of November 2024.
    assert prices["prices"]["dynamodb_write_request_unit"]["usd"] == pytest.approx(0.625e-6)


def test_the_comparison_writes_the_issue_s_keys_from_both_implementations_runs() -> None:
    ours = run(1000, 10.0, COUNTS, billed_ms=5000.0, invocations=2)
    reference_counts = {"sqs ReceiveMessage": 2.0, "dynamodb PutItem": 1.0, "dynamodb UpdateItem": 1.0}
    reference = run(100, 20.0, {**reference_counts, "dynamodb write units": 2.0}, billed_ms=13000.0, invocations=10)

    figures = comparison_figures([ours], [reference], 512, PRICES)

    assert figures["speedup_vs_reference"] == pytest.approx(100.0 / 5.0)
    assert figures["aws_requests_per_service"] == pytest.approx(requests_per_service(COUNTS))
    assert figures["dynamodb_write_units_per_record"] == pytest.approx(4.0)
    assert figures["ordering_cost_per_million_usd"] == pytest.approx(2.0 * 6e-7 * 1e6)
    assert figures["reference"]["ordering_cost_per_million_usd"] == 0
    assert figures["reference"]["aws_requests_per_service"] == pytest.approx({"sqs": 2.0, "dynamodb": 2.0})
    assert figures["reference"]["dynamodb_write_units_per_record"] == pytest.approx(2.0)
    expected_ours = cost_per_million(usage(COUNTS, 2 / 1000, 5.0, 512), PRICES)
    assert figures["cost_per_million_usd"] == pytest.approx(expected_ours["total"])
    assert figures["receipts_cost_per_million_usd"] == pytest.approx(1.0)
    assert (
        figures["cost_per_million_usd_by_price"]
        .keys()
        .isdisjoint(
            {"eventbridge_custom_event", "ordering_dynamodb_write_request_unit", "receipts", "ordering", "total"}
        )
    )
    reference_usage = usage({**reference_counts, "dynamodb write units": 2.0}, 0.1, 130.0, 512)
    assert figures["reference_cost_per_million_usd"] == pytest.approx(
        cost_per_million(reference_usage, PRICES)["total"]
    )
    assert math.isclose(
        figures["cost_ratio_to_reference"],
        figures["cost_per_million_usd"] / figures["reference_cost_per_million_usd"],
        rel_tol=1e-3,
    )
