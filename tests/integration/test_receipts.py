"""Delivery receipts over the real moto server (the bus, a rule to the local receipts queue) and the sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connectors.idempotency import IDEMPOTENCY_KEY_ATTRIBUTE
from connectors.receipts import RECEIPT_ATTRIBUTE
from devkit.aws import sqs_client
from tests.integration.conftest import reply
from tests.integration.test_procore_failure_classes import QUERY, bearer, message, stored_pcos, sync_event

pytestmark = pytest.mark.integration


@pytest.fixture
def procore(deploy):
    return deploy("ProcorePcoSyncFunction")


@pytest.fixture
def prime(deploy):
    return deploy("PrimeChangeOrderSovBatchFunction")


def receipts(stack) -> list[dict[str, Any]]:
    """Every receipt on the local receipts queue so far (the EventBridge events, detail parsed), taken off it."""
    sqs = sqs_client(stack.endpoint_url)
    found: list[dict[str, Any]] = []
    while answer := sqs.receive_message(QueueUrl=stack.receipts_queue_url, MaxNumberOfMessages=10).get("Messages"):
        for item in answer:
            found.append(json.loads(item["Body"]))
            sqs.delete_message(QueueUrl=stack.receipts_queue_url, ReceiptHandle=item["ReceiptHandle"])
    return found


def send_keyed(function, sqs, body: dict[str, Any], key: str) -> str:
    attributes = {IDEMPOTENCY_KEY_ATTRIBUTE: {"DataType": "String", "StringValue": key}}
    answer = sqs.send_message(QueueUrl=function.queue.url, MessageBody=json.dumps(body), MessageAttributes=attributes)
    return str(answer["MessageId"])


def test_a_delivered_record_has_a_receipt_with_the_vendors_ids(procore, control, stack, sqs):
    send_keyed(procore, sqs, message("r-1", "r-2"), key="erp-42")
    _, failed = procore.deliver()
    assert failed == []

    [receipt] = receipts(stack)
    stored = {p["origin_id"]: p["id"] for p in stored_pcos(control)}
    assert receipt["source"] == "change-order-connectors" and receipt["detail-type"] == "Change order delivered"
    detail = receipt["detail"]
    assert detail["function"] == "ProcorePcoSyncFunction" and detail["vendor"] == "procore"
    assert detail["trigger"] == "sqs" and detail["key"] == "erp-42" and detail["connection"] == "default"
    assert sorted(detail["vendor_ids"], key=lambda ids: ids["origin_id"]) == [
        {"id": stored["r-1"], "origin_id": "r-1"},
        {"id": stored["r-2"], "origin_id": "r-2"},
    ]
    assert detail["error"] is None and detail["attempts"] == 1


def test_a_dead_lettered_record_has_a_receipt_with_its_reason(procore, stack):
    [message_id] = procore.send(message("bad", status="sideways"))
    procore.deliver()

    [receipt] = receipts(stack)
    assert receipt["detail-type"] == "Change order dead-lettered"
    assert receipt["detail"]["key"] == message_id and receipt["detail"]["vendor_ids"] == []
    assert receipt["detail"]["error"]["failure"] == "invalid_input"
    assert "status" in receipt["detail"]["error"]["message"]
    assert len(procore.dead_letters()) == 1


def test_a_redelivered_duplicate_gets_no_second_delivered_receipt(procore, stack, sqs):
    send_keyed(procore, sqs, message("dup-1"), key="erp-dup")
    procore.deliver()
    send_keyed(procore, sqs, message("dup-1"), key="erp-dup")  # the producer sends it again
    _, failed = procore.deliver()

    assert failed == []
    assert [r["detail"]["key"] for r in receipts(stack)] == ["erp-dup"]


def test_an_api_request_the_route_refuses_has_a_refused_receipt(procore, stack):
    body = {"updates": [{"origin_id": "x", "colour": "red"}]}
    status, _ = reply(procore.invoke(sync_event(body, bearer(**{"Idempotency-Key": "api-7"}), QUERY)))

    assert status == 400
    [receipt] = receipts(stack)
    assert receipt["detail-type"] == "Change order refused"
    assert receipt["detail"]["trigger"] == "api" and receipt["detail"]["key"] == "api-7"
    assert receipt["detail"]["error"]["failure"] == "invalid_input"


def test_an_api_request_delivered_and_replayed_has_one_receipt_with_the_vendors_ids(prime, stack):
    event = json.loads(Path("events/prime_change_order_sov_batch/api.json").read_text())
    event["headers"] = {**event["headers"], "Idempotency-Key": "sov-9"}
    first, again = prime.invoke(event), prime.invoke(event)

    assert first["statusCode"] == again["statusCode"] == 201
    [receipt] = receipts(stack)
    created = json.loads(first["body"])
    assert receipt["detail-type"] == "Change order delivered" and receipt["detail"]["key"] == "sov-9"
    assert receipt["detail"]["vendor_ids"] == [{"item": n, "sovId": c["sovId"]} for n, c in enumerate(created)]


def test_a_bus_that_refuses_delays_nothing_and_loses_no_receipt(procore, control, stack, sqs, monkeypatch):
    monkeypatch.setenv("DELIVERY_EVENT_BUS", "no-such-bus")
    procore.new_container()
    send_keyed(procore, sqs, message("late-1"), key="erp-late")
    _, failed = procore.deliver()

    assert failed == [] and [p["origin_id"] for p in stored_pcos(control)] == ["late-1"]  # delivered, on time
    assert receipts(stack) == []
    [kept] = sqs.receive_message(QueueUrl=procore.queue.url, MessageAttributeNames=["All"], VisibilityTimeout=0)[
        "Messages"
    ]
    assert json.loads(kept["Body"])["key"] == "erp-late"  # kept on the function's own queue, marked as a receipt
    assert kept["MessageAttributes"][RECEIPT_ATTRIBUTE]["StringValue"] == "1"

    monkeypatch.setenv("DELIVERY_EVENT_BUS", stack.function_environment(procore.spec.logical_id)["DELIVERY_EVENT_BUS"])
    procore.new_container()
    _, failed = procore.deliver()  # the next batch publishes the kept receipt instead of delivering it

    assert failed == []
    [receipt] = receipts(stack)
    assert receipt["detail-type"] == "Change order delivered" and receipt["detail"]["key"] == "erp-late"
    assert procore.visible() == [] and len(stored_pcos(control)) == 1
