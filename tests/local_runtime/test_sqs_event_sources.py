"""Queues polled with Lambda's semantics, against a real moto server: batches, partial failures, redrive.

The fixture queues have visibility timeouts of one and two seconds and a maxReceiveCount of 2, so a record that
keeps failing comes back twice within a test, then SQS itself moves it to the dead-letter queue.
"""

from devkit.aws import sqs_client
from tests.local_runtime.conftest import wait_for


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
