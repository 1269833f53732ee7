"""Dead letters can be acted on: fix the cause, redrive, and the record is delivered (moto, sandbox, real HTTP)."""

from __future__ import annotations

import json

import pytest

from connectors.idempotency import IDEMPOTENCY_KEY_ATTRIBUTE
from devkit.client import redrive
from devkit.local_secrets import seed_procore_connection
from tests.integration.conftest import attributes_of
from tests.integration.test_procore_failure_classes import message, stored_pcos

pytestmark = pytest.mark.integration


@pytest.fixture
def procore(deploy):
    return deploy("ProcorePcoSyncFunction")


def test_a_record_dead_lettered_for_a_missing_connection_is_delivered_after_the_fix_and_a_redrive(
    procore, control, sqs, sandbox
):
    body = json.dumps(message("late-1", connection="onboarding"))
    sqs.send_message(
        QueueUrl=procore.queue.url,
        MessageBody=body,
        MessageAttributes={IDEMPOTENCY_KEY_ATTRIBUTE: {"DataType": "String", "StringValue": "late-1"}},
    )
    procore.deliver()
    [dead] = procore.dead_letters()
    assert attributes_of(dead)["error_class"] == "invalid_input"  # no such connection (yet)

    seed_procore_connection(procore.stack, sandbox.url, "onboarding")  # the operator fixes the cause
    assert redrive("ProcorePcoSyncFunction") == (
        "moved 1 message(s) from ProcorePcoSyncDeadLetterQueue to ProcorePcoSyncQueue"
    )

    [back] = procore.visible()
    assert back["Body"] == body  # the original body, intact
    _, failed = procore.deliver()
    assert failed == []
    assert [p["origin_id"] for p in stored_pcos(control)] == ["late-1"]
    assert procore.dead_letters() == [] and procore.visible() == []


def test_the_move_keeps_every_attribute_and_deletes_nothing_it_did_not_send(procore, sqs):
    attributes = {
        IDEMPOTENCY_KEY_ATTRIBUTE: {"DataType": "String", "StringValue": "k-9"},
        "error_class": {"DataType": "String", "StringValue": "vendor_rejected"},
    }
    for n in range(12):  # more than one ReceiveMessage can return
        sqs.send_message(
            QueueUrl=procore.dead_letter_queue.url, MessageBody=f'{{"n": {n}}}', MessageAttributes=attributes
        )

    assert redrive("ProcorePcoSyncFunction", limit=5).startswith("moved 5 message(s)")
    assert redrive("ProcorePcoSyncFunction").startswith("moved 7 message(s)")

    moved = []
    while batch := sqs.receive_message(
        QueueUrl=procore.queue.url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        moved.extend(batch)
    assert sorted(json.loads(m["Body"])["n"] for m in moved) == list(range(12))
    assert all(attributes_of(m) == {"Idempotency-Key": "k-9", "error_class": "vendor_rejected"} for m in moved)
