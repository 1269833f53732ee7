"""Delivery receipts: their detail, PutEvents' batches, and what is kept when the bus does not take them."""

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from connectors.receipts import (
    BYTES_PER_PUT,
    ENTRIES_PER_PUT,
    PUT_ROUNDS,
    RECEIPT_SOURCE,
    VENDOR_IDS_LIMIT,
    Receipt,
    ReceiptKind,
    ReceiptPublisher,
    entry,
    entry_size,
    put_batches,
)

BUS = "change-order-deliveries"


def receipt(n: int = 0, **changes: Any) -> Receipt:
    fields: dict[str, Any] = {
        "kind": ReceiptKind.DELIVERED,
        "function": "ProcorePcoSyncFunction",
        "vendor": "procore",
        "connection": "default",
        "trigger": "sqs",
        "key": f"key-{n}",
        "vendor_ids": [{"id": 100 + n, "origin_id": f"erp-{n}"}],
        "at": "2026-12-05T10:00:00.000Z",
        "receipt_id": f"receipt-{n}",
    }
    return Receipt(**(fields | changes))


class Events:
    """An EventBridge client that answers each PutEvents with the next scripted answer (a function of the entries)."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.requests: list[list[dict[str, Any]]] = []

    def put_events(self, *, Entries: list[dict[str, Any]]) -> Any:
        self.requests.append(Entries)
        answer = self.answers.pop(0) if self.answers else taken
        return answer(Entries)


def taken(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"FailedEntryCount": 0, "Entries": [{"EventId": f"event-{n}"} for n in range(len(entries))]}


def first_refused(entries: list[dict[str, Any]]) -> dict[str, Any]:
    refused = {"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}
    return {"FailedEntryCount": 1, "Entries": [refused] + [{"EventId": "e"} for _ in entries[1:]]}


def unreachable(entries: list[dict[str, Any]]) -> dict[str, Any]:
    raise EndpointConnectionError(endpoint_url="https://events.us-east-1.amazonaws.com")


def publisher(events: Events) -> ReceiptPublisher:
    return ReceiptPublisher(lambda: events, BUS, sleep=lambda _: None)  # type: ignore[arg-type,return-value]


def test_an_entry_is_the_receipt_on_the_bus_with_its_kind_as_detail_type():
    item = entry(receipt(), BUS)
    assert item["Source"] == RECEIPT_SOURCE and item["EventBusName"] == BUS
    assert item["DetailType"] == "Change order delivered"
    assert json.loads(item["Detail"]) == {
        "function": "ProcorePcoSyncFunction",
        "vendor": "procore",
        "connection": "default",
        "trigger": "sqs",
        "key": "key-0",
        "vendor_ids": [{"id": 100, "origin_id": "erp-0"}],
        "error": None,
        "attempts": 1,
        "at": "2026-12-05T10:00:00.000Z",
        "superseded": False,
        "receipt_id": "receipt-0",
    }


def test_a_receipt_for_very_many_items_lists_the_first_ones_and_says_it_is_cut_short():
    detail = receipt(vendor_ids=[{"sovId": n} for n in range(VENDOR_IDS_LIMIT + 5)]).detail()
    assert len(detail["vendor_ids"]) == VENDOR_IDS_LIMIT and detail["vendor_ids_truncated"] is True


def test_a_kept_receipt_reads_back_as_it_was():
    failed = receipt(kind=ReceiptKind.DEAD_LETTERED, vendor_ids=[], error={"failure": "vendor_rejected"}, attempts=3)
    assert Receipt.from_json(failed.to_json()) == failed
    with pytest.raises(ValueError, match="not a kept receipt"):
        Receipt.from_json('{"kind": "Change order delivered"}')


def test_batches_hold_at_most_ten_entries():
    entries = [entry(receipt(n), BUS) for n in range(23)]
    assert [len(batch) for batch in put_batches(entries)] == [ENTRIES_PER_PUT, ENTRIES_PER_PUT, 3]


def test_batches_hold_at_most_256_kb():
    big = receipt(vendor_ids=[{"id": n, "origin_id": "x" * 90} for n in range(VENDOR_IDS_LIMIT)])
    entries = [entry(big, BUS) for _ in range(4)]
    assert 100_000 < entry_size(entries[0]) < BYTES_PER_PUT // 2
    batches = list(put_batches(entries))
    assert [len(batch) for batch in batches] == [2, 2]
    assert all(sum(entry_size(entries[i]) for i in batch) <= BYTES_PER_PUT for batch in batches)


def test_every_receipt_is_put_in_batches():
    events = Events()
    receipts = [receipt(n) for n in range(12)]
    assert publisher(events).publish(receipts) == []
    # Side by side, so in either order.
    assert sorted(len(request) for request in events.requests) == [2, 10]
    assert sorted(json.loads(item["Detail"])["key"] for request in events.requests for item in request) == sorted(
        f"key-{n}" for n in range(12)
    )


def test_an_entry_the_bus_did_not_take_is_put_again_alone():
    events = Events(first_refused)
    assert publisher(events).publish([receipt(0), receipt(1)]) == []
    assert [[json.loads(item["Detail"])["key"] for item in request] for request in events.requests] == [
        ["key-0", "key-1"],
        ["key-0"],
    ]


@pytest.mark.parametrize(
    "failure",
    [unreachable, first_refused, lambda entries: {"FailedEntryCount": 0, "Entries": []}],
    ids=["unreachable", "refused", "unanswered"],
)
def test_receipts_the_bus_keeps_refusing_are_handed_back_never_raised(failure):
    events = Events(*[failure] * PUT_ROUNDS)
    left = publisher(events).publish([receipt(0)])
    assert left == [receipt(0)] and len(events.requests) == PUT_ROUNDS


def test_an_access_denied_bus_hands_the_receipts_back_too():
    def denied(entries: list[dict[str, Any]]) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "PutEvents")

    assert publisher(Events(*[denied] * PUT_ROUNDS)).publish([receipt(0)]) == [receipt(0)]


def test_without_a_bus_nothing_is_published_or_kept():
    def no_client() -> Any:
        raise AssertionError("no client without a bus")

    assert ReceiptPublisher(no_client, None).publish([receipt()]) == []
