"""The moto server process and the template's resources provisioned in it."""

import json
from pathlib import Path

import pytest

from connectors.receipts import RECEIPT_SOURCE
from devkit.aws import events_client, provision, put_secret, secretsmanager_client, sqs_client, start_moto
from devkit.local_aws import is_local_endpoint
from devkit.receipts import receipt_line


def _moto_processes(port: int) -> list[int]:
    # Every live process started as the dev kit's moto server (start_moto runs devkit.bench.fast_moto) on this port.
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except (FileNotFoundError, NotADirectoryError, PermissionError, ProcessLookupError):
            continue
        if b"devkit.bench.fast_moto" in arguments and str(port).encode() in arguments:
            pids.append(int(entry.name))
    return pids


def test_moto_starts_answers_and_stops_without_leftovers():
    with start_moto() as server:
        port = int(server.endpoint_url.rsplit(":", 1)[1])
        assert _moto_processes(port) == [server.process.pid]
        assert sqs_client(server.endpoint_url).list_queues().get("QueueUrls", []) == []

    assert server.process.returncode is not None
    assert _moto_processes(port) == []
    server.stop()  # a second stop is harmless


def test_provision_creates_the_queues_of_the_template(repo_template, endpoint_url):
    stack = provision(repo_template, endpoint_url)

    queue, dead_letter = stack.queues["ProcorePcoSyncQueue"], stack.queues["ProcorePcoSyncDeadLetterQueue"]
    assert (queue.name, dead_letter.name) == ("ProcorePcoSyncQueue", "ProcorePcoSyncDeadLetterQueue")
    assert dead_letter.arn == "arn:aws:sqs:us-east-1:123456789012:ProcorePcoSyncDeadLetterQueue"
    attributes = sqs_client(endpoint_url).get_queue_attributes(QueueUrl=queue.url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "180"
    assert attributes["MessageRetentionPeriod"] == "1209600"
    assert json.loads(attributes["RedrivePolicy"]) == {"deadLetterTargetArn": dead_letter.arn, "maxReceiveCount": 50}


def test_redrive_moves_a_message_to_the_dead_letter_queue(repo_template, endpoint_url):
    stack = provision(repo_template, endpoint_url, {"MaxReceiveCount": "2"})
    sqs = sqs_client(endpoint_url)
    queue, dead_letter = stack.queues["ProcorePcoSyncQueue"], stack.queues["ProcorePcoSyncDeadLetterQueue"]
    sqs.send_message(QueueUrl=queue.url, MessageBody="poison")

    for _ in range(2):  # received and never deleted; visibility 0 puts it straight back
        assert len(sqs.receive_message(QueueUrl=queue.url, VisibilityTimeout=0).get("Messages", [])) == 1

    assert sqs.receive_message(QueueUrl=queue.url, VisibilityTimeout=0).get("Messages", []) == []
    moved = sqs.receive_message(QueueUrl=dead_letter.url).get("Messages", [])
    assert [message["Body"] for message in moved] == ["poison"]


def test_provision_twice_reuses_the_queues_and_applies_new_parameters(repo_template, endpoint_url):
    first = provision(repo_template, endpoint_url)
    second = provision(repo_template, endpoint_url, {"MaxReceiveCount": "7"})

    assert second.queues == first.queues
    url = second.queues["ProcorePcoSyncQueue"].url
    attributes = sqs_client(endpoint_url).get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
    assert json.loads(attributes["Attributes"]["RedrivePolicy"])["maxReceiveCount"] == 7
    # Nothing created twice: the template's queues and the one receipts queue.
    assert second.receipts_queue_url is not None
    assert second.receipts_queue_url == first.receipts_queue_url
    queue_urls = sqs_client(endpoint_url).list_queues()["QueueUrls"]
    assert sorted(queue_urls) == sorted([q.url for q in second.queues.values()] + [second.receipts_queue_url])


def test_function_environment_resolves_to_plain_strings(repo_template, endpoint_url):
    stack = provision(repo_template, endpoint_url, {"Stage": "prod"})

    environment = stack.function_environment("ProcorePcoSyncFunction")

    assert environment["DEAD_LETTER_QUEUE_URL"] == stack.queues["ProcorePcoSyncDeadLetterQueue"].url
    assert environment["MAX_RECEIVE_COUNT"] == "50"
    assert environment["STAGE"] == "prod"
    assert environment["CONNECTION_SECRET_PREFIX"] == stack.parameters["ConnectionSecretPrefix"]
    assert all(isinstance(value, str) for value in environment.values())


def test_a_receipt_put_on_the_delivery_bus_reaches_the_receipts_queue_intact(repo_template, endpoint_url):
    stack = provision(repo_template, endpoint_url, {"DeliveryEventBusName": "deliveries-under-test"})
    bus = stack.function_environment("ConstructionOnlineChangeOrderUpdateFunction")["DELIVERY_EVENT_BUS"]
    detail = {
        "function": "ConstructionOnlineChangeOrderUpdateFunction",
        "vendor": "constructiononline",
        "connection": "default",
        "trigger": "sqs",
        "key": "co-4711",
        "vendor_ids": {"ID": 4711},
        "error": None,
        "attempts": 2,
        "at": "2026-01-05T10:00:00+00:00",
    }
    events = events_client(endpoint_url)

    answer = events.put_events(
        Entries=[
            {
                "EventBusName": bus,
                "Source": RECEIPT_SOURCE,
                "DetailType": "Change order delivered",
                "Detail": json.dumps(detail),
            },
            # Another source on the same bus is not a receipt.
            {"EventBusName": bus, "Source": "someone-else", "DetailType": "Change order delivered", "Detail": "{}"},
        ]
    )

    assert bus == "deliveries-under-test"
    assert answer["FailedEntryCount"] == 0
    assert stack.receipts_queue_url is not None
    received = sqs_client(endpoint_url).receive_message(QueueUrl=stack.receipts_queue_url, MaxNumberOfMessages=10)
    [message] = received["Messages"]
    event = json.loads(message["Body"])
    assert (event["source"], event["detail-type"], event["detail"]) == (
        RECEIPT_SOURCE,
        "Change order delivered",
        detail,
    )
    assert receipt_line(message["Body"]) == (
        'Change order delivered  ConstructionOnlineChangeOrderUpdateFunction  key=co-4711  vendor_ids={"ID":4711}'
    )


def test_a_template_without_an_event_bus_gets_no_receipts_queue(fixture_template, endpoint_url):
    stack = provision(fixture_template, endpoint_url)

    assert stack.receipts_queue_url is None
    assert sorted(sqs_client(endpoint_url).list_queues().get("QueueUrls", [])) == sorted(
        q.url for q in stack.queues.values()
    )


def test_put_secret_creates_then_updates(endpoint_url):
    name = "change-order-connectors/procore/default"
    arn = put_secret(endpoint_url, name, {"client_id": "one"})
    assert put_secret(endpoint_url, name, {"client_id": "two"}) == arn

    stored = secretsmanager_client(endpoint_url).get_secret_value(SecretId=name)["SecretString"]
    assert json.loads(stored) == {"client_id": "two"}


@pytest.mark.parametrize(
    ("endpoint_url", "local"),
    [
        ("http://127.0.0.1:5000", True),
        ("http://localhost:4566", True),
        ("http://[::1]:5000", True),
        ("https://sqs.us-east-1.amazonaws.com", False),
        ("http://10.0.0.5:5000", False),
    ],
)
def test_only_loopback_endpoints_are_the_local_emulator(endpoint_url, local):
    assert is_local_endpoint(endpoint_url) is local
