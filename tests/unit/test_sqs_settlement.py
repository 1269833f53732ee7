"""How the SQS adapter settles each record, against a recording fake of the SQS client."""

import json
import time
from typing import cast

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import BaseModel

from connectors.adapters.sqs import handle_sqs_batch
from connectors.adapters.sqs_delivery import earlier_attempt_may_have_reached
from connectors.adapters.sqs_records import NOT_BEFORE_ATTRIBUTE, idempotency_key
from connectors.adapters.sqs_settings import QueueSettings, RetryBudget
from connectors.failures import rate_limited, transient
from connectors.idempotency import Claim, RecordLedger
from connectors.models.exact_json import loads_exact
from tests.log_capture import captured_log_records

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

    def change_message_visibility_batch(self, QueueUrl, Entries):
        # Recorded one call per record: what each record's wait became is what the tests check.
        for entry in Entries:
            self.calls.append(
                (
                    "change_message_visibility",
                    {
                        "QueueUrl": QueueUrl,
                        "ReceiptHandle": entry["ReceiptHandle"],
                        "VisibilityTimeout": entry["VisibilityTimeout"],
                    },
                )
            )
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries], "Failed": []}

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

    def process(commands, infos):
        flags.extend(info.redelivered for info in infos)
        return [None for _ in commands]

    redriven = {"source_message_id": {"stringValue": "m0", "dataType": "String"}}
    requeued = {"requeued_from": {"stringValue": "m0", "dataType": "String"}}
    records = [
        record("m1", {"n": 1}),
        record("m2", {"n": 2}, receive_count=2),
        record("m3", {"n": 3}, attributes=redriven),
        record("m4", {"n": 4}, attributes=requeued),  # its original may have been received, and sent, before
    ]
    handle_sqs_batch({"Records": records}, Command.model_validate_json, process, FakeSqs(), SETTINGS)
    assert flags == [False, True, True, True]


class RemembersADay:
    memory_seconds = 24 * 3600


def test_a_record_the_ledger_held_nothing_for_is_not_flagged_unless_a_copy_or_older_than_the_ledger_remembers():
    now_ms = int(time.time() * 1000)
    requeued = {"requeued_from": {"stringValue": "m0", "dataType": "String"}}

    def received(receive_count=2, attributes=None, first_received_ms=now_ms - 60_000):
        raw = record("m1", {"n": 1}, receive_count, attributes)
        raw["attributes"]["ApproximateFirstReceiveTimestamp"] = str(first_received_ms)
        return SQSRecord(raw)

    ledger = cast(RecordLedger, RemembersADay())
    # Received before, but its first claim: no attempt was claimed, and none is sent unclaimed.
    assert not earlier_attempt_may_have_reached(received(), Claim.NEW, ledger)
    # An earlier attempt left its claim or release: it may have been sent.
    assert earlier_attempt_may_have_reached(received(), Claim.RECLAIMED, ledger)
    # A copy's original, or a record older than the ledger's memory, may have been claimed in what it forgot.
    assert earlier_attempt_may_have_reached(received(attributes=requeued), Claim.NEW, ledger)
    assert earlier_attempt_may_have_reached(received(first_received_ms=now_ms - 25 * 3600_000), Claim.NEW, ledger)
    # Without a ledger, SQS's word stands; a first receive was never sent.
    assert earlier_attempt_may_have_reached(received(), Claim.NEW, None)
    assert not earlier_attempt_may_have_reached(received(receive_count=1), Claim.RECLAIMED, ledger)


def test_a_failure_shared_by_many_records_is_logged_once_with_their_count_and_ids():
    records = [record(f"m{n}", {"n": n}) for n in range(30)]

    def process(commands, infos):
        return [transient("vendor down") if c.n < 25 else transient("other") for c in commands]

    with captured_log_records() as logged:
        settle_with(records, process, FakeSqs(), SETTINGS)
    lines = [line for line in logged() if line["level"] == "WARNING"]
    assert [(line["message"], line["records"]) for line in lines] == [("vendor down", 25), ("other", 5)]
    assert lines[0]["message_ids"] == [f"m{n}" for n in range(20)]  # the first ones, not all of an outage
    assert lines[1]["message_ids"] == [f"m{n}" for n in range(25, 30)]


# ---------------------------------------------------------------------------------------------- the boundary


def sent_at(seconds_ago: float) -> dict:
    return {"SentTimestamp": str(int((NOW - seconds_ago) * 1000))}


def aged(message_id, body, seconds_ago, receive_count=1):
    raw = record(message_id, body, receive_count)
    raw["attributes"].update(sent_at(seconds_ago))
    return raw


BUDGET = QueueSettings("Fn", "https://sqs.test/q", "https://sqs.test/dlq", 50, RetryBudget(3600, 10, 900))


def settle_with(records, process, sqs, settings=BUDGET, parse=Command.model_validate_json):
    response = handle_sqs_batch(
        {"Records": records}, parse, process, sqs, settings, jitter=lambda: 1.0, clock=lambda: NOW
    )
    return [f["itemIdentifier"] for f in response["batchItemFailures"]]


def test_a_transient_failure_is_retried_while_the_budget_lasts_then_dead_lettered_with_its_reason():
    sqs = FakeSqs()
    # Received 9 times, 1000 s old: the next wait (900 s, the cap) still ends inside the hour.
    failed = settle_with([aged("young", {"n": 1}, 1000, receive_count=9)], lambda c, r: [transient("down")], sqs)
    assert failed == ["young"] and sqs.calls[0] == (
        "change_message_visibility",
        {"QueueUrl": BUDGET.queue_url, "ReceiptHandle": "rh-young", "VisibilityTimeout": 900},
    )

    sqs = FakeSqs()
    failed = settle_with([aged("old", {"n": 1}, 3000, receive_count=9)], lambda c, r: [transient("down")], sqs)
    assert failed == []
    [(call, sent)] = sqs.calls
    assert call == "send_message_batch"
    message = sent["Entries"][0]["MessageAttributes"]["error_message"]["StringValue"]
    assert message.startswith("down (retried for 3000 s over 9 receives; the retry budget is 3600 s")


def test_a_rate_limited_record_past_its_budget_waits_on_instead_of_being_dead_lettered():
    sqs = FakeSqs()
    failed = settle_with(
        [aged("m1", {"n": 1}, 7000, receive_count=3)], lambda c, r: [rate_limited("hour", retry_after=1800)], sqs
    )
    assert failed == ["m1"]
    assert sqs.calls == [
        (
            "change_message_visibility",
            {"QueueUrl": BUDGET.queue_url, "ReceiptHandle": "rh-m1", "VisibilityTimeout": 1801},
        )
    ]


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def test_each_hostile_body_fails_alone_and_its_neighbours_are_delivered():
    sqs = FakeSqs()
    seen: list[int] = []

    def process(commands, redelivered):
        seen.extend(command.n for command in commands)
        return [None for _ in commands]

    records = [
        record("deep", deep(200_000)),
        record("huge-exponent", '{"n": 1e100000000}'),
        record("long-number", '{"n": ' + "9" * 5000 + "}"),
        record("good", {"n": 7}),
    ]
    parse = lambda body: Command.model_validate(loads_exact(body))  # noqa: E731 - the handlers' parse, in one line
    failed = settle_with(records, process, sqs, parse=parse)

    assert failed == [] and seen == [7]
    [(_, sent)] = sqs.calls
    reasons = {entry["MessageBody"][:20]: entry["MessageAttributes"] for entry in sent["Entries"]}
    assert len(reasons) == 3
    assert all(attributes["error_class"]["StringValue"] == "invalid_input" for attributes in reasons.values())


def test_an_unexpected_exception_while_reading_fails_that_record_alone_as_transient():
    def parse(body):
        if "boom" in body:
            raise RecursionError("maximum recursion depth exceeded: <payload>")
        return Command.model_validate_json(body)

    sqs = FakeSqs()
    failed = settle_with(
        [record("boom", '{"n": "boom"}'), record("ok", {"n": 1})], lambda c, r: [None] * len(c), sqs, parse=parse
    )
    assert failed == ["boom"]  # retried: a type nobody expected is transient
    assert sqs.calls[0][0] == "change_message_visibility"


def test_a_batch_whose_delivery_raises_is_delivered_command_by_command_so_the_poison_one_fails_alone():
    calls: list[tuple[list[int], list[bool]]] = []

    def process(commands, infos):
        calls.append(([c.n for c in commands], [info.redelivered for info in infos]))
        if any(c.n == 13 for c in commands):
            raise KeyError("secret-looking payload")
        return [None for _ in commands]

    sqs = FakeSqs()
    failed = settle_with([record("a", {"n": 1}), record("poison", {"n": 13}), record("b", {"n": 2})], process, sqs)

    assert failed == ["poison"]
    # Each alone is flagged as possibly sent: an operation that cannot resend blindly looks first.
    assert calls == [([1, 13, 2], [False, False, False]), ([1], [True]), ([13], [True]), ([2], [True])]
    assert sqs.calls[0][0] == "change_message_visibility"


def test_a_failure_of_the_adapter_itself_hands_the_whole_batch_back_instead_of_raising():
    def broken_jitter() -> float:
        raise ZeroDivisionError

    records = [record("a", {"n": 1}), record("b", {"n": 2})]
    response = handle_sqs_batch(
        {"Records": records},
        Command.model_validate_json,
        lambda c, r: [transient("x")] * len(c),
        FakeSqs(),
        BUDGET,
        jitter=broken_jitter,
    )
    assert response == {"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "b"}]}


def test_a_not_before_attribute_that_is_not_a_finite_number_is_ignored():
    due = {NOT_BEFORE_ATTRIBUTE: {"stringValue": "inf", "dataType": "Number"}}
    failed, seen = settle([record("m1", {"n": 1}, attributes=due)], None, FakeSqs())
    assert failed == [] and seen == [1]
