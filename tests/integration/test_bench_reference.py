"""The bench's reference handler is Powertools' documented pattern, run in process against moto and the sandbox.

One vendor call per record, each record idempotent on the template's idempotency table (a redelivered batch calls
the vendor for nothing it already delivered), and a 429 fails only its own record, for SQS to deliver again.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from devkit.aws import dynamodb_client
from devkit.bench.reference import batch
from devkit.bench.reference.functions import reference_id
from devkit.bench.vendors import PROCORE, procore_record
from devkit.lambda_context import new_context
from devkit.local_secrets import seed_connections
from devkit.queue_delivery import deliver_once
from tests.integration.conftest import vendor_requests

pytestmark = pytest.mark.integration

FUNCTION = reference_id(PROCORE.function)


@pytest.fixture
def reference(stack, sandbox, control, monkeypatch) -> Iterator[ModuleType]:
    """The Procore reference handler in a fresh container, with the real function's environment."""
    seed_connections(stack, sandbox.url)
    environment = {
        **stack.function_environment(PROCORE.function),
        "AWS_ENDPOINT_URL": stack.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION,
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    batch._send.cache_clear()
    yield importlib.reload(importlib.import_module("devkit.bench.reference.procore"))
    batch._send.cache_clear()


def deliver(reference: ModuleType, stack, sqs, *tokens: str) -> tuple[dict[str, Any], list[str]]:
    queue = stack.queues["ProcorePcoSyncQueue"]
    for index, token in enumerate(tokens):
        sqs.send_message(QueueUrl=queue.url, MessageBody=procore_record(token, index))

    def invoke(event: dict[str, Any]) -> Any:
        return reference.lambda_handler(event, new_context(FUNCTION, 512, 30))

    return deliver_once(sqs, queue.url, queue.arn, invoke)


def idempotency_records(stack) -> list[dict[str, Any]]:
    table = stack.function_environment(PROCORE.function)["IDEMPOTENCY_TABLE"]
    items = dynamodb_client(stack.endpoint_url).scan(TableName=table)["Items"]
    return [item for item in items if item["id"]["S"].startswith(f"{FUNCTION}.")]


def test_each_record_is_one_vendor_call_and_one_completed_idempotency_record(reference, stack, sqs, control) -> None:
    _, failed = deliver(reference, stack, sqs, "ref-a", "ref-b", "ref-c")

    assert failed == []
    assert len(vendor_requests(control, "procore", "procore.sync")) == 3
    records = idempotency_records(stack)
    assert len(records) == 3
    assert {record["status"]["S"] for record in records} == {"COMPLETED"}
    assert all("devkit.bench.reference.batch" in record["id"]["S"] for record in records)


def test_a_redelivered_batch_calls_the_vendor_for_none_of_its_records(reference, stack, sqs, control) -> None:
    event, _ = deliver(reference, stack, sqs, "ref-a", "ref-b")
    calls = len(vendor_requests(control, "procore", "procore.sync"))

    answer = reference.lambda_handler(event, new_context(FUNCTION, 512, 30))

    assert answer == {"batchItemFailures": []}
    assert len(vendor_requests(control, "procore", "procore.sync")) == calls == 2


def test_a_429_fails_only_its_record_and_leaves_no_idempotency_record(reference, stack, sqs, control) -> None:
    control.post("/_sandbox/config", json={"procore": {"spike_limit": 1}}).raise_for_status()

    event, failed = deliver(reference, stack, sqs, "ref-a", "ref-b")

    statuses = [entry["status"] for entry in vendor_requests(control, "procore", "procore.sync")]
    assert statuses == [200, 429]
    assert failed == [event["Records"][1]["messageId"]]
    assert len(idempotency_records(stack)) == 1  # Powertools deletes the failed record's, so a retry is sent
