"""How the SQS adapter settles each record, against a recording fake of the SQS client."""

import json

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import BaseModel

from connectors.failures import rate_limited, transient
from connectors.triggers import NOT_BEFORE_ATTRIBUTE, QueueSettings, handle_sqs_batch, idempotency_key

NOW = 1_800_000_000.0
SETTINGS = QueueSettings("Fn", "https://sqs.test/q", "https://sqs.test/dlq", max_receive_count=3)


class Command(BaseModel):
    n: int


class FakeSqs:
    def __init__(self, fail_batches=False):
        self.calls: list[tuple[str, dict]] = []
        self.fail_batches = fail_batches

    def send_message_batch(self, **kwargs):
        self.calls.append(("send_message_batch", kwargs))
        if self.fail_batches:
            raise RuntimeError("SQS down")
        return {"Successful": [{"Id": e["Id"]} for e in kwargs["Entries"]]}

    def change_message_visibility(self, **kwargs):
        self.calls.append(("change_message_visibility", kwargs))

    def send_message(self, **kwargs):
        self.calls.append(("send_message", kwargs))


def record(message_id, body, receive_count=1, attributes=None):
    return {
        "messageId": message_id,
        "receiptHandle": f"rh-{message_id}",
        "body": json.dumps(body) if not isinstance(body, str) else body,
        "attributes": {"ApproximateReceiveCount": str(receive_count)},
        "messageAttributes": attributes or {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
    }


def settle(records, outcome, sqs):
    seen: list[int] = []

    def process(commands, redelivered):
        assert len(redelivered) == len(commands)
        seen.extend(command.n for command in commands)
        return [outcome for _ in commands]

    response = handle_sqs_batch(
        {"Records": records}, Command.model_validate_json, process, sqs, SETTINGS, jitter=lambda: 1.0, clock=lambda: NOW
    )
    return [f["itemIdentifier"] for f in response["batchItemFailures"]], seen


def test_a_rate_limited_record_waits_invisible_for_the_window():
    sqs = FakeSqs()
    failed, _ = settle([record("m1", {"n": 1})], rate_limited("limit", retry_after=1800), sqs)
    assert failed == ["m1"]
    assert sqs.calls == [
        (
            "change_message_visibility",
            {"QueueUrl": SETTINGS.queue_url, "ReceiptHandle": "rh-m1", "VisibilityTimeout": 1801},
        )
    ]


def test_a_rate_limited_record_on_its_last_receive_is_requeued_fresh_not_dead_lettered():
    sqs = FakeSqs()
    failed, _ = settle([record("m1", {"n": 1}, receive_count=3)], rate_limited("limit", retry_after=3600), sqs)
    assert failed == []  # the original is deleted; its fresh copy carries on
    [(call, sent)] = sqs.calls
    assert call == "send_message" and sent["QueueUrl"] == SETTINGS.queue_url
    assert sent["DelaySeconds"] == 900
    assert sent["MessageAttributes"][NOT_BEFORE_ATTRIBUTE]["StringValue"] == str(round(NOW + 3601))
    assert sent["MessageAttributes"]["requeued_from"]["StringValue"] == "m1"


def test_a_requeued_record_that_arrives_before_its_window_is_not_processed():
    sqs = FakeSqs()
    due = {NOT_BEFORE_ATTRIBUTE: {"stringValue": str(NOW + 2700), "dataType": "Number"}}
    failed, seen = settle([record("m1", {"n": 1}, attributes=due)], None, sqs)
    assert failed == ["m1"] and seen == []
    assert sqs.calls[0][1]["VisibilityTimeout"] == 2700


def test_a_transient_failure_backs_off_then_is_dead_lettered_on_the_last_receive():
    sqs = FakeSqs()
    failed, _ = settle([record("m1", {"n": 1}, receive_count=2)], transient("502"), sqs)
    assert failed == ["m1"] and sqs.calls[0][1]["VisibilityTimeout"] == 20
    sqs = FakeSqs()
    failed, _ = settle([record("m1", {"n": 1}, receive_count=3)], transient("502"), sqs)
    assert failed == [] and sqs.calls[0][0] == "send_message_batch"


def test_a_record_that_cannot_be_dead_lettered_stays_on_the_queue():
    failed, _ = settle([record("m1", "not json")], None, FakeSqs(fail_batches=True))
    assert failed == ["m1"]


def test_invalid_bodies_are_dead_lettered_with_their_reason_and_the_rest_processed():
    sqs = FakeSqs()
    failed, seen = settle([record("bad", {"n": "x"}), record("good", {"n": 2})], None, sqs)
    assert failed == [] and seen == [2]
    [(_, sent)] = sqs.calls
    [entry] = sent["Entries"]
    assert entry["MessageBody"] == json.dumps({"n": "x"})
    assert entry["MessageAttributes"]["error_class"]["StringValue"] == "invalid_input"
    assert "n" in json.loads(entry["MessageAttributes"]["problems"]["StringValue"])[0]["field"]


KEYED = {"Idempotency-Key": {"stringValue": "order-9", "dataType": "String"}}


def test_the_producer_key_travels_with_a_requeued_copy_and_into_the_dead_letter_queue():
    sqs = FakeSqs()
    settle([record("m1", {"n": 1}, receive_count=3, attributes=KEYED)], rate_limited("limit", retry_after=60), sqs)
    [(_, requeued)] = sqs.calls
    assert requeued["MessageAttributes"]["Idempotency-Key"] == {"DataType": "String", "StringValue": "order-9"}

    sqs = FakeSqs()
    settle([record("m2", {"n": "bad"}, attributes=KEYED)], None, sqs)
    [(_, dead)] = sqs.calls
    assert dead["Entries"][0]["MessageAttributes"]["Idempotency-Key"]["StringValue"] == "order-9"


def test_a_record_is_keyed_by_its_producer_key_else_by_the_message_it_was_first_queued_as():
    requeued = {"requeued_from": {"stringValue": "m0", "dataType": "String"}}
    assert idempotency_key(SQSRecord(record("m1", {"n": 1}, attributes=KEYED))) == "key:order-9"
    assert idempotency_key(SQSRecord(record("m2", {"n": 1}, attributes=requeued))) == "message:m0"
    assert idempotency_key(SQSRecord(record("m3", {"n": 1}))) == "message:m3"
    redriven = {"source_message_id": {"stringValue": "m4", "dataType": "String"}}
    assert idempotency_key(SQSRecord(record("m5", {"n": 1}, attributes=redriven))) == "message:m4"


def test_redelivered_and_redriven_records_are_flagged_for_the_operation():
    flags: list[bool] = []

    def process(commands, redelivered):
        flags.extend(redelivered)
        return [None for _ in commands]

    redriven = {"source_message_id": {"stringValue": "m0", "dataType": "String"}}
    records = [
        record("m1", {"n": 1}),
        record("m2", {"n": 2}, receive_count=2),
        record("m3", {"n": 3}, attributes=redriven),
    ]
    handle_sqs_batch({"Records": records}, Command.model_validate_json, process, FakeSqs(), SETTINGS)
    assert flags == [False, True, True]
