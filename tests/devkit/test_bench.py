"""``make bench`` with tiny numbers: the figures it writes, and that they agree with what the sandbox saw."""

import functools
import json
import math
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from moto.sqs.models import SQSBackend, sqs_backends

from devkit.aws import sqs_client
from devkit.bench.__main__ import main
from devkit.bench.aws_requests import request_counts
from devkit.bench.cost import load_prices
from devkit.bench.fast_moto import QueueAttributes, delete_message_batch
from devkit.bench.stack import (
    bench_stack,
    function_runtimes,
    prepare_sandbox,
    reference,
    sandbox_config,
    stored_tokens,
    vendor_requests,
)
from devkit.bench.throughput import run_throughput
from devkit.bench.vendors import CONSTRUCTIONONLINE, PROCORE
from devkit.local_aws import ACCOUNT_ID, REGION

if TYPE_CHECKING:
    from mypy_boto3_sqs.literals import QueueAttributeNameType

VENDOR_KEYS = {
    "records_per_second",
    "vendor_calls",
    "throughput_ratio_to_bound",
    "bound_records_per_second",
    "speedup_vs_naive",
    "naive_records_per_second",
    "overhead_us",
    "peak_memory_mb",
    "speedup_vs_reference",
    "aws_requests_per_service",
    "dynamodb_write_units_per_record",
    "cost_per_million_usd",
    "reference_cost_per_million_usd",
    "receipts_cost_per_million_usd",
    "ordering_cost_per_million_usd",
    "reference",
}


def test_bench_writes_consistent_figures_and_the_table(tmp_path: Path) -> None:
    results_path = tmp_path / "results.json"
    page = tmp_path / "benchmarks.md"
    page.write_text("# Title\n\n<!-- bench:start -->\nold table\n<!-- bench:end -->\n\n## Next\n")
    records = 12

    status = main(
        [
            "--records", str(records), "--runs", "1", "--naive-records", "3", "--reference-records", str(records),
            # Limits the reference does not reach: a refused record of its waits out the 180 s visibility timeout.
            "--constructiononline-per-second", "1000", "--prime-per-second", "55",
            "--results", str(results_path), "--page", str(page), "--output", str(tmp_path / "out"),
        ]
    )  # fmt: skip

    assert status == 0
    results = json.loads(results_path.read_text())
    assert results["parameters"]["records"] == records
    assert results["parameters"]["runs"] == 1
    assert results["parameters"]["latency_ms"] == 50
    cold = results["cold_start"]
    # The ratio is taken before ms and third_party_ms are rounded to 0.1 ms.
    assert math.isclose(cold["ratio"], cold["ms"] / cold["third_party_ms"], rel_tol=0.001)
    procore_cold = cold["functions"]["ProcorePcoSyncFunction"]
    assert "httpx" in procore_cold["third_party_modules"]
    assert 0 < procore_cold["init_ms"] < procore_cold["ms"]  # building the container, a part of the cold start
    event_price = load_prices()["prices"]["eventbridge_custom_event"]["usd"]
    for key in ("procore", "prime", "constructiononline"):
        figures = results[key]
        assert figures.keys() >= VENDOR_KEYS
        assert math.isclose(
            figures["throughput_ratio_to_bound"],
            figures["records_per_second"] / figures["bound_records_per_second"],
            rel_tol=0.01,
        )
        assert math.isclose(
            figures["speedup_vs_naive"],
            figures["records_per_second"] / figures["naive_records_per_second"],
            rel_tol=0.01,
        )
        assert figures["peak_memory_mb"] > 0
        # A claim per record, and per invocation one item listing the records it delivered.
        assert 1 < figures["aws_requests_per_record"]["dynamodb ledger writes"] < 2
        assert math.isclose(
            figures["speedup_vs_reference"],
            figures["records_per_second"] / figures["reference"]["records_per_second"],
            rel_tol=0.01,
        )
        # The reference: a claim and a completion per record, every one of them landed with one vendor call.
        assert figures["reference"]["aws_requests_per_record"]["dynamodb other writes"] == 2
        assert figures["reference"]["vendor_calls_per_record"] == 1
        assert figures["reference"]["dynamodb_write_units_per_record"] == 2
        assert figures["reference_cost_per_million_usd"] > 0
        entries = figures["aws_requests_per_record"]["events entries"]
        assert math.isclose(figures["receipts_cost_per_million_usd"], entries * event_price * 1e6, rel_tol=0.01)
        assert results["parameters"]["sandbox_limits"][key]
    # Primavera Cloud's creates keep no order; the others' order marks are priced apart from the comparison.
    assert results["prime"]["ordering_cost_per_million_usd"] == 0
    assert results["procore"]["ordering_cost_per_million_usd"] > 0
    assert results["constructiononline"]["ordering_cost_per_million_usd"] > 0
    # One change order per call for ConstructionOnline; Procore coalesces, so never more calls than records.
    assert results["constructiononline"]["vendor_calls"] == records
    assert 1 <= results["procore"]["vendor_calls"] <= records
    assert results["procore"]["calls_ratio"] == results["procore"]["vendor_calls"] / math.ceil(records / 1000)
    assert {target["key"] for target in results["targets"]} >= {"procore.calls_ratio", "cold_start.ratio"}
    table = page.read_text()
    assert "old table" not in table
    assert table.startswith("# Title\n\n<!-- bench:start -->\n")
    assert table.endswith("<!-- bench:end -->\n\n## Next\n")
    assert "| procore |" in table
    assert "- procore: " in table and "without the order marks" in table
    assert "| constructiononline |" in table
    assert "Against the reference implementation" in table


def test_counted_calls_are_the_sandbox_log_and_every_record_landed(tmp_path: Path) -> None:
    records = 25
    with bench_stack(tmp_path, constructiononline_per_second=1000) as bench:
        for vendor in (PROCORE, CONSTRUCTIONONLINE):
            prepare_sandbox(bench.control, sandbox_config(5, 1000), vendor, records)
            tokens = [f"test-{vendor.key}-{index}" for index in range(records)]
            backlogs: list[int] = []

            @contextmanager
            def functions(vendor=vendor, backlogs=backlogs):
                """The runtimes, started once the whole run is queued: the backlog is what the clock times."""
                backlogs.append(_queued(bench, vendor))
                with function_runtimes(bench, 2):
                    yield

            run = run_throughput(bench, vendor, records, f"test-{vendor.key}", 120, functions)

            assert backlogs == [records]

            writes = [entry for entry in vendor_requests(bench.control, vendor) if entry["route"] == vendor.write_route]
            assert run.vendor_calls == len(writes)
            assert set(tokens) <= stored_tokens(bench.control, vendor)
            sent = [token for entry in writes if entry["status"] == 200 for token in _sent_tokens(entry)]
            assert sorted(sent) == sorted(tokens)  # every record went out exactly once
            assert run.invocations.records == records
            counted = run.aws_requests
            # Each record: a claim in the ledger, a hold and a release of its own object's mark; each invocation
            # one ledger item listing the records it delivered. Nothing failed, so nothing was released.
            assert records < counted["dynamodb ledger writes"] <= records + run.invocations.count
            assert counted["dynamodb order writes"] == 2 * records
            assert counted["dynamodb order requests"] == 2 * records  # single-item writes
            assert counted["dynamodb PutItem"] >= records and "dynamodb BatchWriteItem" not in counted
            assert counted["sqs DeleteMessageBatch"] >= 1
            assert "sqs GetQueueAttributes" not in counted  # the bench's own requests are left out
            if vendor is PROCORE:
                assert len(writes) < records  # records of one contract coalesced into shared calls
    assert run.vendor_calls == records  # ConstructionOnline: one call per record


def test_a_partial_run_is_measured_on_what_landed_and_leaves_an_empty_queue(tmp_path: Path) -> None:
    records = 8
    with bench_stack(tmp_path, constructiononline_per_second=1000) as bench:
        # Only the first half of the change orders exist: the reference's other records are answered 404, fail,
        # and wait on its queue for the visibility timeout.
        prepare_sandbox(bench.control, sandbox_config(5, 1000), CONSTRUCTIONONLINE, records // 2)
        reference_bench, vendor = reference(bench, CONSTRUCTIONONLINE)
        functions = functools.partial(function_runtimes, reference_bench, 1)

        run = run_throughput(reference_bench, vendor, records, "partial", 20, functions, partial=True)

        assert (run.records, run.not_landed) == (records // 2, records // 2)
        assert run.records_per_second == run.records / run.seconds
        sqs = sqs_client(bench.stack.endpoint_url)
        names: list[QueueAttributeNameType] = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        answer = sqs.get_queue_attributes(QueueUrl=reference_bench.queue_url(vendor.function), AttributeNames=names)
        # Purged: nothing of this run reaches the next.
        assert answer["Attributes"] == dict.fromkeys(names, "0")


def _queued(bench, vendor) -> int:
    sqs = sqs_client(bench.stack.endpoint_url)
    attributes = sqs.get_queue_attributes(
        QueueUrl=bench.queue_url(vendor.function), AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def _sent_tokens(entry: dict) -> list[str]:
    if entry["vendor"] == "procore":
        return [update["origin_id"] for update in entry["body"]["updates"]]
    return [json.loads(entry["query"]["coInfo"])["NOTES"]]


def test_queue_attributes_read_one_by_one_are_moto_s_attributes() -> None:
    # The registry moto's queues find their dead-letter queue in.
    backend = sqs_backends[ACCOUNT_ID][REGION]
    dead = backend.create_queue("bench-attributes-dlq")
    redrive = json.dumps({"deadLetterTargetArn": dead.queue_arn, "maxReceiveCount": 5})
    queues = [
        backend.create_queue("bench-attributes", VisibilityTimeout="180", RedrivePolicy=redrive),
        backend.create_queue("bench-attributes.fifo", FifoQueue="true"),
    ]
    try:
        for queue in queues:
            assert dict(QueueAttributes(queue)) == queue.attributes
    finally:
        for queue in [*queues, dead]:
            backend.delete_queue(queue.name)


def test_a_delete_batch_deletes_what_it_names_and_refuses_unknown_handles() -> None:
    backend = SQSBackend(REGION, ACCOUNT_ID)
    backend.create_queue("bench-queue")
    for body in ("a", "b", "c"):
        backend.send_message("bench-queue", body)
    received = backend.receive_message("bench-queue", 2, 0, 30)
    receipts = [{"Id": str(n), "ReceiptHandle": m.receipt_handle} for n, m in enumerate(received)]

    success, errors = delete_message_batch(backend, "bench-queue", [*receipts, {"Id": "x", "ReceiptHandle": "bogus"}])

    assert success == ["0", "1"]
    assert [error["Id"] for error in errors] == ["x"]
    assert [m.body for m in backend.get_queue("bench-queue")._messages] == sorted(
        {"a", "b", "c"} - {m.body for m in received}
    )
    assert delete_message_batch(backend, "bench-queue", receipts) == (["0", "1"], [])


def _signed(service: str, target: str = "") -> dict:
    environ = {"HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential=test/20261205/us-east-1/{service}/aws4_request, x"}
    return {**environ, "HTTP_X_AMZ_TARGET": target} if target else environ


def test_dynamodb_requests_are_counted_by_operation_and_by_the_kind_of_item_each_write_touches() -> None:
    settle = {
        "RequestItems": {
            "IdempotencyTable": [
                {"PutRequest": {"Item": {"id": {"S": "Fn#record#a"}, "status": {"S": "COMPLETED"}}}},
                {"DeleteRequest": {"Key": {"id": {"S": "Fn#record#b"}}}},
                {"DeleteRequest": {"Key": {"id": {"S": "Fn#mark#default#7"}}}},
            ]
        }
    }
    counted = request_counts(_signed("dynamodb", "DynamoDB_20120810.BatchWriteItem"), json.dumps(settle).encode())
    assert counted == Counter(
        {
            "dynamodb BatchWriteItem": 1,
            "dynamodb ledger writes": 2,
            "dynamodb ledger requests": 1,
            "dynamodb order writes": 1,
            "dynamodb order requests": 1,
        }
    )
    limiter = {"TableName": "RateLimitTable", "Key": {"id": {"S": "constructiononline#key"}}}
    counted = request_counts(_signed("dynamodb", "DynamoDB_20120810.GetItem"), json.dumps(limiter).encode())
    assert counted == Counter({"dynamodb GetItem": 1, "dynamodb limiter reads": 1, "dynamodb limiter requests": 1})


def test_query_protocol_requests_are_counted_by_their_action() -> None:
    body = b"Action=GetSecretValue&SecretId=x"
    assert request_counts(_signed("secretsmanager"), body) == Counter({"secretsmanager GetSecretValue": 1})
    assert request_counts({}, b"") == Counter({"unsigned unknown": 1})
