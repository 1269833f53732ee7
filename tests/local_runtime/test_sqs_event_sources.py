"""Queues polled with Lambda's semantics, against a real moto server: batches, partial failures, redrive.

The fixture queues have visibility timeouts of one and two seconds and a maxReceiveCount of 2, so a record that
keeps failing comes back twice within a test, then SQS itself moves it to the dead-letter queue.
"""

import io
import threading
from typing import Any, cast

import pytest

from devkit.aws import LocalQueue, sqs_client
from devkit.local_runtime.deliveries import DeliveryLog
from devkit.local_runtime.sqs_poller import PARALLEL_RECEIVES, QueuePoller, split_room
from devkit.local_runtime.worker import Invocation
from devkit.queue_delivery import SQS_BATCH_LIMIT
from devkit.template import SqsEventSource
from tests.local_runtime.conftest import POLL_WAIT_SECONDS, reset_moto, wait_for


def test_a_record_never_settled_comes_back_and_the_redrive_policy_dead_letters_it(fixture_runtime):
    fixture_runtime.send("RaisingQueue", "boom")

    [dead] = wait_for(lambda: fixture_runtime.messages("RaisingDeadLetterQueue"), what="the record in the DLQ")

    assert dead["Body"] == "boom"
    assert fixture_runtime.received("RaisingFunction") == [["boom"], ["boom"]]  # maxReceiveCount deliveries
    deliveries = fixture_runtime.deliveries("RaisingFunction")
    assert len(deliveries) == 2
    assert all(
        "sqs RaisingFunction RaisingQueue: 1 record -> 0 delivered, 1 failed in " in line
        and "RuntimeError: this consumer always fails" in line
        for line in deliveries
    )
    assert fixture_runtime.messages("RaisingQueue") == []


def test_a_partial_batch_response_returns_only_the_reported_records(fixture_runtime):
    fixture_runtime.send("PartialQueue", "ok-1", "fail-2", "ok-3")

    [dead] = wait_for(lambda: fixture_runtime.messages("PartialDeadLetterQueue"), what="the failed record in the DLQ")

    assert dead["Body"] == "fail-2"
    batches = fixture_runtime.received("PartialFunction")
    assert sorted(batches[0]) == ["fail-2", "ok-1", "ok-3"]
    assert batches[1:] == [["fail-2"]]  # only the reported record came back
    first, second = fixture_runtime.deliveries("PartialFunction")
    assert "sqs PartialFunction PartialQueue: 3 records -> 2 delivered, 1 failed in " in first
    assert "sqs PartialFunction PartialQueue: 1 record -> 0 delivered, 1 failed in " in second
    assert fixture_runtime.messages("PartialQueue") == []


def test_a_batch_is_collected_until_full_or_until_the_window_passes(fixture_runtime):
    queue = fixture_runtime.stack.queues["PartialQueue"].url
    sqs = sqs_client(fixture_runtime.stack.endpoint_url)
    for body in ("ok-1", "ok-2", "ok-3", "ok-4"):  # one call each: the batching window gathers them
        sqs.send_message(QueueUrl=queue, MessageBody=body)

    wait_for(lambda: len(fixture_runtime.received("PartialFunction")) == 2, what="two batches")

    first, second = fixture_runtime.received("PartialFunction")
    assert (len(first), len(second)) == (3, 1)  # BatchSize 3
    assert sorted(first + second) == ["ok-1", "ok-2", "ok-3", "ok-4"]
    assert fixture_runtime.messages("PartialQueue") == []
    assert [line.split(": ", 1)[1].split(" in ")[0] for line in fixture_runtime.deliveries("PartialFunction")] == [
        "3 records -> 3 delivered, 0 failed",
        "1 record -> 1 delivered, 0 failed",
    ]


class CountingSqs:
    """An SQS client that counts the ReceiveMessage calls in flight at once and keeps the bodies they return."""

    def __init__(self, sqs: Any) -> None:
        self._sqs = sqs
        self._lock = threading.Lock()
        self._in_flight = 0
        self.most_in_flight = 0
        self.received: list[str] = []

    def receive_message(self, **request: Any) -> Any:
        with self._lock:
            self._in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self._in_flight)
        try:
            response = self._sqs.receive_message(**request)
            with self._lock:
                self.received += [message["Body"] for message in response.get("Messages", [])]
            return response
        finally:
            with self._lock:
                self._in_flight -= 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)


def test_a_backlog_fills_each_batch_from_receives_in_flight_at_once_and_never_beyond_the_batch_size(moto):
    reset_moto(moto)
    sqs = sqs_client(moto.endpoint_url)
    # A record received but left out of a batch would stay invisible for the rest of the test.
    url = sqs.create_queue(QueueName="backlog", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sent = [f"record-{n}" for n in range(300)]
    for start in range(0, len(sent), 10):
        entries: list[Any] = [{"Id": str(n), "MessageBody": body} for n, body in enumerate(sent[start : start + 10])]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    batches: list[list[str]] = []

    def invoke(event: dict[str, Any]) -> Invocation:
        batches.append([record["body"] for record in event["Records"]])
        return Invocation(
            "request", succeeded=True, payload=None, duration_ms=1.0, max_memory_used_mb=1, init_duration_ms=None
        )

    counting = CountingSqs(sqs)
    stopping = threading.Event()
    # A window far longer than filling a batch takes: each batch closes because it is full.
    source = SqsEventSource(
        "BacklogQueue", batch_size=100, maximum_batching_window_seconds=10, function_response_types=()
    )
    poller = QueuePoller(
        "BacklogFunction",
        source,
        LocalQueue("backlog", url, arn),
        cast(Any, counting),  # in place of the SQS client
        invoke,
        DeliveryLog(io.StringIO()),
        POLL_WAIT_SECONDS,
        stopping,
    )
    poller.start()
    try:
        wait_for(lambda: {body for batch in batches for body in batch} >= set(sent), what="every record delivered")
    finally:
        stopping.set()
        poller.join()

    assert counting.most_in_flight > 1
    delivered = [body for batch in batches for body in batch]
    assert set(delivered) == set(sent)
    # Each record received is delivered once. moto's concurrent receives now and then hand one message to two
    # calls (SQS is at-least-once too); such a copy is delivered as received and may spill into a fourth batch.
    assert sorted(delivered) == sorted(counting.received)
    assert all(len(batch) == 100 for batch in batches[:-1])
    assert 0 < len(batches[-1]) <= 100
    counts = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert counts == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}


@pytest.mark.parametrize("room", [1, 9, 10, 11, 23, 49, 50, 51, 990])
def test_the_receives_in_flight_ask_for_the_room_left_at_most(room):
    wanted = split_room(room)

    assert sum(wanted) == min(room, PARALLEL_RECEIVES * SQS_BATCH_LIMIT)
    assert len(wanted) <= PARALLEL_RECEIVES
    assert all(0 < each <= SQS_BATCH_LIMIT for each in wanted)
