"""An SQS batch's receipts: which outcomes get one, and the receipts kept on the queue published again."""

from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from connectors.adapters.sqs import handle_sqs_batch
from connectors.adapters.sqs_receipts import QueueReceipts, connection_of, keep
from connectors.failures import invalid_input, transient
from connectors.order import Delivered, Superseded
from connectors.receipts import RECEIPT_ATTRIBUTE, Receipt, ReceiptKind
from tests.log_capture import captured_log_records
from tests.unit.test_sqs_settlement import SETTINGS, Command, FakeSqs, record


class Publisher:
    """Takes every receipt, or none when ``refusing``; records what it was given."""

    def __init__(self, refusing: bool = False) -> None:
        self.refusing = refusing
        self.published: list[Receipt] = []

    def publish(self, receipts: list[Receipt]) -> list[Receipt]:
        if self.refusing:
            return list(receipts)
        self.published += receipts
        return []


class Queue:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> Any:
        self.sent += Entries
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries]}


def receipts_with(publisher: Publisher) -> QueueReceipts:
    return QueueReceipts(publisher, "Fn", "procore")  # type: ignore[arg-type]


def sqs_record(message_id: str = "m-1", **kwargs: Any) -> SQSRecord:
    return SQSRecord(record(message_id, {"n": 1}, **kwargs))


@pytest.mark.parametrize(
    ("outcome", "kind", "ids", "superseded"),
    [
        (Delivered([{"id": 7, "origin_id": "a"}]), ReceiptKind.DELIVERED, [{"id": 7, "origin_id": "a"}], False),
        (None, ReceiptKind.DELIVERED, [], False),
        (Superseded("newer edits"), ReceiptKind.DELIVERED, [], True),
    ],
    ids=["delivered", "delivered-without-ids", "superseded"],
)
def test_a_delivered_or_superseded_record_gets_a_delivered_receipt(outcome, kind, ids, superseded):
    receipt = receipts_with(Publisher()).of(sqs_record(receive_count=3), outcome, "north")
    assert receipt is not None
    assert (receipt.kind, receipt.vendor_ids, receipt.superseded) == (kind, ids, superseded)
    assert (receipt.function, receipt.vendor, receipt.connection, receipt.trigger) == ("Fn", "procore", "north", "sqs")
    assert receipt.key == "m-1" and receipt.attempts == 3


def test_a_failure_gets_a_receipt_only_once_dead_lettered():
    receipts = receipts_with(Publisher())
    assert receipts.of(sqs_record(), transient("down"), "default") is None
    receipt = receipts.of(sqs_record(), invalid_input("bad body"), "default", moved=True)
    assert receipt is not None and receipt.kind is ReceiptKind.DEAD_LETTERED
    assert receipt.error == {"failure": "invalid_input", "message": "bad body", "problems": []}


def test_a_duplicate_delivered_before_gets_no_receipt():
    assert receipts_with(Publisher()).of(sqs_record(), Delivered(before=True), "default") is None


def test_the_producers_key_names_the_receipt():
    keyed = sqs_record(attributes={"Idempotency-Key": {"stringValue": "erp-1", "dataType": "String"}})
    receipt = receipts_with(Publisher()).of(keyed, None, "default")
    assert receipt is not None and receipt.key == "erp-1"


def test_kept_receipts_are_published_and_those_still_refused_stay():
    kept = Receipt(ReceiptKind.DELIVERED, "Fn", "procore", "default", "sqs", "k-1")
    marked = {RECEIPT_ATTRIBUTE: {"stringValue": "1", "dataType": "String"}}
    records = [SQSRecord(record("r-1", kept.to_json(), attributes=marked))]
    published = Publisher()
    assert receipts_with(published).republish_kept(records) == [] and published.published == [kept]
    assert receipts_with(Publisher(refusing=True)).republish_kept(records) == [{"itemIdentifier": "r-1"}]


@pytest.mark.parametrize("body", ["not a receipt", "[" * 100_000, '{"kind": "Change order delivered"}'])
def test_a_message_marked_as_a_receipt_that_is_not_one_is_dropped(body):
    marked = {RECEIPT_ATTRIBUTE: {"stringValue": "1", "dataType": "String"}}
    records = [SQSRecord(record("r-1", body, attributes=marked))]
    assert receipts_with(Publisher()).republish_kept(records) == []


def test_receipts_the_bus_refuses_are_kept_on_the_queue_marked():
    queue = Queue()
    receipt = Receipt(ReceiptKind.DELIVERED, "Fn", "procore", "default", "sqs", "k-2")
    receipts_with(Publisher(refusing=True)).send([receipt], queue, "https://sqs.test/q")  # type: ignore[arg-type]
    [entry] = queue.sent
    assert Receipt.from_json(entry["MessageBody"]) == receipt
    assert entry["MessageAttributes"][RECEIPT_ATTRIBUTE]["StringValue"] == "1"


def test_a_receipt_that_cannot_be_kept_is_logged_whole():
    receipt = Receipt(ReceiptKind.DELIVERED, "Fn", "procore", "default", "sqs", "k-3")
    with captured_log_records() as logged:
        keep([receipt], None, None)
    [line] = logged()
    assert line["level"] == "ERROR" and Receipt.from_json(line["receipt"]) == receipt


@pytest.mark.parametrize(
    ("body", "connection"),
    [
        ('{"connection": "north"}', "north"),
        ('{"connection": 5}', "default"),
        ("[1]", "default"),
        ("{", "default"),
        ("[" * 100_000, "default"),  # nested past the recursion limit: refused by the bounded parser, not raised
    ],
    ids=["named", "not-a-string", "not-an-object", "not-json", "hostile"],
)
def test_a_refused_records_connection_is_read_from_its_body_when_it_names_one(body, connection):
    assert connection_of(body) == connection


def test_a_message_handed_over_twice_in_one_batch_is_settled_once_as_its_latest_receive():
    published = Publisher()
    receipts = receipts_with(published)
    records = [record("m-1", {"n": 1}, receive_count=3), record("m-1", {"n": 1}, receive_count=4)]
    response = handle_sqs_batch(
        {"Records": records},
        Command.model_validate_json,
        lambda commands, infos: [Delivered([{"id": 1}]) for _ in commands],
        FakeSqs(),
        SETTINGS,
        receipts=receipts,
    )
    assert response["batchItemFailures"] == []
    [receipt] = published.published
    assert receipt.attempts == 4
