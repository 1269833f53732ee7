"""How chaos queues its records, read back from a real moto queue: an object's edits get SentTimestamps in the
order of their versions, the producer's version rides as ``Change-Order-Version``, and an edit that SentTimestamp
versions is never sent twice (a later copy would be a newer edit)."""

import argparse
import itertools
import random
from collections import defaultdict

from devkit.aws import provision, sqs_client
from devkit.chaos import __main__ as chaos


def received(endpoint_url, url):
    sqs = sqs_client(endpoint_url)
    messages = []
    while batch := sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        VisibilityTimeout=600,
        MessageSystemAttributeNames=["SentTimestamp"],
        MessageAttributeNames=["All"],
    ).get("Messages", []):
        messages += batch
    return messages


def test_each_objects_edits_are_queued_in_version_order_with_their_producer_versions(repo_template, endpoint_url):
    stack = provision(repo_template, endpoint_url)
    rng = random.Random(11)
    arguments = argparse.Namespace(records=120, versioned=0.4, invalid=0.0)
    records = {
        target.logical_id: chaos._records(target, f"{target.prefix}-t", arguments, rng) for target in chaos.TARGETS
    }

    starting: list[str] = []
    copies = chaos._send_everything(stack, records, duplicate_share=0.5, rng=rng, starting=starting.append)

    assert starting == [target.logical_id for target in chaos.TARGETS]  # each outage starts with its queueing

    for target in chaos.TARGETS:
        by_token = {record.token: record for record in records[target.logical_id]}
        first_sent: dict[str, int] = {}
        sent_copies: dict[str, int] = defaultdict(int)
        for message in received(endpoint_url, chaos._queue_url(stack, target.logical_id)):
            attributes = message["MessageAttributes"]
            record = by_token[attributes[chaos.IDEMPOTENCY_KEY]["StringValue"]]
            given = attributes.get(chaos.VERSION_ATTRIBUTE, {}).get("StringValue")
            assert given == (record.version.producer_version if record.version else None)
            assert message["Body"] == record.body
            sent = int(message["Attributes"]["SentTimestamp"])
            first_sent[record.token] = min(sent, first_sent.get(record.token, sent))
            sent_copies[record.token] += 1
        assert set(first_sent) == set(by_token)
        objects: dict[str, list[int]] = defaultdict(list)
        for record in records[target.logical_id]:
            if record.version is not None:
                objects[record.version.object_key].append(first_sent[record.token])
                if record.version.producer_version is None:
                    assert sent_copies[record.token] == 1
        assert (len(objects) > 0) == (target.versions is not None)
        for stamps in objects.values():
            assert all(older < newer for older, newer in itertools.pairwise(stamps))
    assert copies > 0
