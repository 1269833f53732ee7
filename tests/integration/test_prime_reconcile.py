"""Primavera Cloud: a create whose answer never came is looked up before anything is sent again.

Real HTTP to the sandbox (its drop and timeout faults lose the answer after or before the create is applied)
and a real moto server; the sandbox's stored SOVs show whether anything was created twice.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from decimal import Decimal

import pytest

from connectors.deadline import Deadline
from connectors.models.exact_json import dumps_exact
from connectors.models.prime import SovBatchCommand
from devkit.local_secrets import LOCAL_BEARER_TOKEN
from prime_change_order_sov_batch.operation import create_sovs
from tests.integration.conftest import api_event, reply, vendor_requests

pytestmark = pytest.mark.integration

ROUTE = "/prime/primeapi/restapi/changeOrderSOV/batch"
BEARER = {"Authorization": f"Bearer {LOCAL_BEARER_TOKEN}", "Content-Type": "application/json"}
# The codes the read by parent needs; a space and a slash show each travels as one path segment.
PARENT = {
    "workspaceCode": "North WS/2",
    "projectCode": "PRJ-1",
    "changeOrderCode": "CO-7",
    "associatedAgreementCode": "AG-1",
    "changeOrderType": "CONTRACT",
    "changeOrderLineItemCode": "LI-3",
}


@pytest.fixture
def prime(deploy):
    return deploy("PrimeChangeOrderSovBatchFunction")


def item(name, total="1000.00"):
    return {
        "changeOrderLineItemId": 40021,
        "name": name,
        "sovType": "LUMP_SUM",
        "changeOrderSovCost": {"total": Decimal(total)},
        **PARENT,
    }


def batch_event(*items):
    return api_event("POST", ROUTE, dumps_exact(list(items)), BEARER)


def stored_names(control):
    """How many SOVs of each name the sandbox holds."""
    sovs = json.loads(control.get("/_sandbox/prime/sovs").text, parse_float=Decimal)["sovs"]
    return Counter(sov["name"] for sov in sovs)


def batches(control):
    return vendor_requests(control, "prime", "prime.batch")


def reads(control):
    return vendor_requests(control, "prime", "prime.sovs_by_parent")


def fault(control, **rule):
    control.post("/_sandbox/faults", json=rule).raise_for_status()


def test_a_create_dropped_after_it_was_applied_is_found_and_not_created_again(prime, control):
    fault(control, route="prime.batch", kind="drop", applied=True, count=1)

    status, answer = reply(prime.invoke(batch_event(item("Steel", "12345678901234.57"), item("Bolts"))))

    assert status == 201
    assert [a["name"] for a in answer] == ["Steel", "Bolts"] and all(a["sovId"] > 2**53 for a in answer)
    assert stored_names(control) == {"Steel": 1, "Bolts": 1}
    assert [b["status"] for b in batches(control)] == [None]  # the one create, dropped; nothing sent again
    [read] = reads(control)
    assert read["status"] == 200 and "/workspace/North%20WS%2F2/" in read["path"]


def test_a_create_dropped_before_it_was_applied_is_sent_again_and_created_once(prime, control):
    fault(control, route="prime.batch", kind="drop", applied=False, count=1)

    status, answer = reply(prime.invoke(batch_event(item("Steel"), item("Bolts"))))

    assert status == 201 and [a["name"] for a in answer] == ["Steel", "Bolts"]
    assert stored_names(control) == {"Steel": 1, "Bolts": 1}
    assert [b["status"] for b in batches(control)] == [None, 201]
    assert [r["status"] for r in reads(control)] == [204]


def test_sqs_a_create_that_timed_out_after_being_applied_is_settled_without_a_duplicate(prime, control):
    # Held longer than the function's 1.5 s vendor timeout: the client gives up on an applied create.
    fault(control, route="prime.batch", kind="timeout", delay_ms=2500, count=1)
    prime.send({"items": [item("Steel"), item("Bolts")]})

    _, failed = prime.deliver()

    assert failed == [] and prime.dead_letters() == [] and prime.visible() == []
    assert stored_names(control) == {"Steel": 1, "Bolts": 1}
    assert len(batches(control)) == 1


def test_sqs_when_the_look_up_fails_the_record_is_retried_and_its_retry_finds_the_sov(prime, control, monkeypatch):
    # The create was applied but its answer lost, and the look-up after it failed: nothing is resent now, and the
    # record is retried, not dead-lettered, because its next delivery looks its items up before sending them.
    monkeypatch.setenv("RETRY_BACKOFF_BASE_SECONDS", "0.1")
    prime.new_container()
    fault(control, route="prime.batch", kind="drop", applied=True, count=1)
    fault(control, route="prime.sovs_by_parent", kind="status", status=404, count=1)
    prime.send({"items": [item("Steel")]})

    _, failed = prime.deliver()
    assert len(failed) == 1 and prime.dead_letters() == []
    assert stored_names(control) == {"Steel": 1} and len(batches(control)) == 1
    for _ in range(10):
        time.sleep(0.5)
        _, failed = prime.deliver()
        if len(reads(control)) == 2:
            break

    assert failed == [] and prime.visible() == [] and prime.dead_letters() == []
    assert stored_names(control) == {"Steel": 1}
    assert len(batches(control)) == 1  # found by the second look-up, not created again
    assert len(reads(control)) == 2


def test_a_redelivered_record_looked_up_first_finds_its_sovs_and_does_not_create_them_again(prime, control):
    # The first delivery created Steel and Bolts, then its outcome was lost to the queue (e.g. the invocation
    # timed out): the record comes again, now with one more item.
    assert reply(prime.invoke(batch_event(item("Steel"), item("Bolts"))))[0] == 201
    command = SovBatchCommand.model_validate({"items": [item("Steel"), item("Bolts"), item("Nuts")]})
    container = prime.runtime()

    [result] = create_sovs(
        [command], container.client, Deadline.in_seconds(20), container.settings.vendor_batch_size, look_first=[True]
    )

    assert result.failure() is None
    assert [o["name"] for o in result.body()["created"]] == ["Steel", "Bolts", "Nuts"]
    assert stored_names(control) == {"Steel": 1, "Bolts": 1, "Nuts": 1}
    assert [[i["name"] for i in b["body"]] for b in batches(control)] == [["Steel", "Bolts"], ["Nuts"]]


def test_a_record_received_before_but_never_claimed_is_sent_without_a_look_up(prime, sqs, control):
    # An invocation that ran out of time before claiming it (a slow table, a backlog) handed it back untouched:
    # the ledger holds nothing for it, and nothing is sent unclaimed, so no earlier attempt reached Oracle. A look-up
    # per such record would spend the vendor's rate limit on nothing (one request per parent, against one per
    # hundreds of items created), and under a backlog starve the creates.
    prime.send({"items": [item("Steel")]})
    first = sqs.receive_message(QueueUrl=prime.queue.url, MaxNumberOfMessages=1, VisibilityTimeout=0)
    assert len(first["Messages"]) == 1  # received once, and back at once

    _, failed = prime.deliver()

    assert failed == [] and prime.visible() == []
    assert stored_names(control) == {"Steel": 1}
    assert reads(control) == []


def test_a_record_whose_earlier_attempt_was_claimed_is_looked_up_before_it_is_sent_again(prime, control, monkeypatch):
    # Claimed, sent, and released after a failure: that attempt may have reached Oracle, so the next one looks first.
    monkeypatch.setenv("RETRY_BACKOFF_BASE_SECONDS", "0.1")
    prime.new_container()
    fault(control, route="prime.batch", kind="status", status=503, count=20)  # more than one invocation retries
    prime.send({"items": [item("Steel")]})
    _, failed = prime.deliver()
    assert len(failed) == 1 and reads(control) == []
    control.delete("/_sandbox/faults").raise_for_status()

    for _ in range(10):
        time.sleep(0.5)
        _, failed = prime.deliver()
        if stored_names(control):
            break

    assert failed == [] and stored_names(control) == {"Steel": 1}
    assert len(reads(control)) == 1
