"""Idempotency through the real DynamoDB table in moto: nothing delivered twice, a reused key refused."""

from __future__ import annotations

import json

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from connectors.adapters.sqs_delivery import ledger_key
from connectors.http import RetryPolicy
from connectors.idempotency import IDEMPOTENCY_KEY_ATTRIBUTE, Claim, new_batch
from connectors.models.common import DEFAULT_CONNECTION
from tests.integration.conftest import attributes_of, reply
from tests.integration.test_procore_failure_classes import bearer, message, stored_pcos, sync_event, syncs

pytestmark = pytest.mark.integration

QUERY = {"project_id": "298401", "contract_id": str(2**53 + 7)}
ATTEMPTS = RetryPolicy().attempts  # a fault on this many calls fails every attempt of one invocation


@pytest.fixture
def procore(deploy):
    return deploy("ProcorePcoSyncFunction")


def send_with_key(procore, sqs, body: dict, key: str) -> str:
    answer = sqs.send_message(
        QueueUrl=procore.queue.url,
        MessageBody=json.dumps(body),
        MessageAttributes={IDEMPOTENCY_KEY_ATTRIBUTE: {"DataType": "String", "StringValue": key}},
    )
    return str(answer["MessageId"])


def test_a_record_redelivered_after_success_is_not_sent_again(procore, control):
    procore.send(message("once-1"))
    event, failed = procore.deliver()
    assert failed == [] and len(syncs(control)) == 1

    # What SQS does when the delete after a success is lost: the same message, delivered again.
    again = procore.invoke(event)

    assert again == {"batchItemFailures": []}
    assert len(syncs(control)) == 1
    assert procore.dead_letters() == []


def test_one_producer_key_on_two_messages_is_delivered_once(procore, control, sqs):
    body = message("keyed-1")
    send_with_key(procore, sqs, body, "order-77")
    procore.deliver()
    send_with_key(procore, sqs, body, "order-77")
    _, failed = procore.deliver()

    assert failed == []
    assert len(syncs(control)) == 1
    assert [p["origin_id"] for p in stored_pcos(control)] == ["keyed-1"]
    assert procore.visible() == [] and procore.dead_letters() == []


def test_a_producer_key_reused_for_another_body_is_dead_lettered_with_the_reason(procore, control, sqs):
    send_with_key(procore, sqs, message("first"), "order-78")
    procore.deliver()
    reused = send_with_key(procore, sqs, message("second"), "order-78")
    _, failed = procore.deliver()

    assert failed == []
    [dead] = procore.dead_letters()
    attributes = attributes_of(dead)
    assert attributes["source_message_id"] == reused
    assert attributes["error_class"] == "invalid_input"
    assert "Idempotency-Key was used before for a different message body" in attributes["error_message"]
    assert attributes[IDEMPOTENCY_KEY_ATTRIBUTE] == "order-78"  # kept, so a redrive keeps the producer's key
    assert [p["origin_id"] for p in stored_pcos(control)] == ["first"]


def test_a_record_another_invocation_is_sending_waits_instead_of_being_sent_twice(procore, control):
    procore.send(message("busy-1"))
    [record] = procore.visible()
    key = idempotency_key_of(record)
    # Another container claimed it a moment ago and is still sending it.
    assert procore.runtime().idempotency.records.claim(
        [(key, record["Body"])], remaining_ms=60_000, batch=new_batch()
    ) == [Claim.NEW]

    _, failed = procore.deliver()

    assert len(failed) == 1
    assert syncs(control) == []
    assert procore.dead_letters() == []


def test_a_failed_record_is_released_so_its_retry_is_sent(procore, control):
    control.post("/_sandbox/faults", json={"route": "procore.sync", "kind": "status", "count": ATTEMPTS, "status": 500})
    procore.send(message("retry-1"))
    event, failed = procore.deliver()
    assert len(failed) == 1

    again = procore.invoke(event)  # the retry SQS makes once the record is visible again

    assert again == {"batchItemFailures": []}
    assert len(syncs(control)) == ATTEMPTS + 1  # the failed attempts, then the one that landed
    assert [p["origin_id"] for p in stored_pcos(control)] == ["retry-1"]


def test_an_api_request_repeated_with_its_key_gets_the_stored_reply_and_procore_is_called_once(procore, control):
    body = {"updates": [{"origin_id": "api-1", "title": "Once"}]}
    event = sync_event(body, bearer(**{"Idempotency-Key": "k1"}), QUERY)

    first = procore.invoke(event)
    second = procore.invoke(event)

    assert reply(first)[0] == 200
    assert second["statusCode"] == 200 and json.loads(second["body"]) == json.loads(first["body"])
    assert len(syncs(control)) == 1


def test_an_api_key_reused_for_another_request_is_refused_naming_the_header(procore, control):
    procore.invoke(sync_event({"updates": [{"origin_id": "api-2"}]}, bearer(**{"Idempotency-Key": "k2"}), QUERY))

    status, answer = reply(
        procore.invoke(sync_event({"updates": [{"origin_id": "api-3"}]}, bearer(**{"Idempotency-Key": "k2"}), QUERY))
    )

    assert status == 400
    assert answer["error"]["problems"][0]["field"] == "headers.Idempotency-Key"
    assert [p["origin_id"] for p in stored_pcos(control)] == ["api-2"]


def test_an_api_reply_worth_retrying_is_not_stored(procore, control):
    control.post("/_sandbox/faults", json={"route": "procore.sync", "kind": "status", "count": ATTEMPTS, "status": 500})
    event = sync_event({"updates": [{"origin_id": "api-4"}]}, bearer(**{"Idempotency-Key": "k3"}), QUERY)

    first, _ = reply(procore.invoke(event))
    second, _ = reply(procore.invoke(event))

    assert first >= 500
    assert second == 200
    assert [p["origin_id"] for p in stored_pcos(control)] == ["api-4"]


def idempotency_key_of(message_: dict) -> str:
    """The key the SQS adapter claims for a received message of the default connection (its message id)."""
    record = {"messageId": message_["MessageId"], "body": message_["Body"], "messageAttributes": {}}
    return ledger_key(SQSRecord(record), DEFAULT_CONNECTION)
