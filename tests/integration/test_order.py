"""Order: an older edit never overwrites a newer one (moto for the queues and marks, the sandbox over HTTP)."""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal
from typing import Any

import pytest

from connectors.deadline import Deadline
from connectors.failures import ConnectorError, FailureClass, transient
from connectors.models.constructiononline import ChangeOrderUpdateCommand
from connectors.order import VERSION_ATTRIBUTE, ObjectMarks, Superseded, deliver_in_order
from constructiononline_change_order_update.ordering import ChangeOrderEdits
from devkit.aws import dynamodb_client
from devkit.client import redrive
from tests.integration.conftest import attributes_of, reply, vendor_requests
from tests.integration.test_procore_failure_classes import bearer, message, stored_pcos, sync_event, syncs

pytestmark = pytest.mark.integration

SEEDED = 1234567


@pytest.fixture
def co(deploy):
    return deploy("ConstructionOnlineChangeOrderUpdateFunction")


@pytest.fixture
def procore(deploy):
    return deploy("ProcorePcoSyncFunction")


def send(function, sqs, body: dict[str, Any], version: str | None = None) -> str:
    attributes = {VERSION_ATTRIBUTE: {"DataType": "String", "StringValue": version}} if version else {}
    answer = sqs.send_message(QueueUrl=function.queue.url, MessageBody=json.dumps(body), MessageAttributes=attributes)
    return str(answer["MessageId"])


def co_edit(**properties: str) -> dict[str, Any]:
    return {"id": SEEDED, "coInfo": properties}


def change_order(control) -> dict[str, Any]:
    records = control.get("/_sandbox/constructiononline/change-orders").json()["change_orders"]
    return next(r for r in records if r["ID"] == SEEDED)


def co_updates(control) -> list[dict[str, Any]]:
    return vendor_requests(control, "constructiononline", "constructiononline.update")


def sent_properties(control) -> list[dict[str, str]]:
    return [json.loads(call["query"]["coInfo"]) for call in co_updates(control)]


def test_a_late_retry_of_an_older_edit_is_superseded_and_the_newer_stays(co, control, sqs):
    send(co, sqs, co_edit(NOTES="newer"), version="2")
    assert co.deliver()[1] == []
    send(co, sqs, co_edit(NOTES="older"), version="1")

    _, failed = co.deliver()

    assert failed == [] and co.visible() == [] and co.dead_letters() == []
    assert change_order(control)["NOTES"] == "newer"
    assert sent_properties(control) == [{"NOTES": "newer"}]


def test_an_older_edit_still_lands_the_properties_no_newer_edit_set(co, control, sqs):
    send(co, sqs, co_edit(NOTES="newer"), version="2026-12-05T10:00:00Z")
    co.deliver()
    send(co, sqs, co_edit(NOTES="older", PRICE="12.50"), version="2026-12-05T09:00:00Z")

    co.deliver()

    stored = change_order(control)
    assert (stored["NOTES"], stored["PRICE"]) == ("newer", "12.50")
    assert sent_properties(control) == [{"NOTES": "newer"}, {"PRICE": "12.50"}]


def test_two_versions_in_one_batch_send_only_what_the_newest_does_not_set(co, control, sqs):
    # No producer version: the time SQS accepted each message orders them.
    send(co, sqs, co_edit(NOTES="first", PRICE="1.00"))
    time.sleep(0.01)
    send(co, sqs, co_edit(NOTES="second"))

    event, failed = co.deliver()

    assert len(event["Records"]) == 2 and failed == []
    stored = change_order(control)
    assert (stored["NOTES"], stored["PRICE"]) == ("second", "1.00")
    assert sorted(map(json.dumps, sent_properties(control))) == [json.dumps({"NOTES": "second"}), '{"PRICE": "1.00"}']


def test_the_producers_version_wins_over_arrival_order(co, control, sqs):
    send(co, sqs, co_edit(NOTES="version 10"), version="10")
    co.deliver()
    send(co, sqs, co_edit(NOTES="version 3, sent later"), version="3")
    co.deliver()
    assert change_order(control)["NOTES"] == "version 10"


def test_a_redriven_old_dead_letter_arriving_after_a_newer_delivery_is_superseded(co, control, sqs, monkeypatch):
    monkeypatch.setenv("MAX_RECEIVE_COUNT", "1")  # dead-lettered on its first failure
    co.new_container()
    control.post(
        "/_sandbox/faults", json={"route": "constructiononline.update", "kind": "status", "status": 500, "count": 4}
    )
    send(co, sqs, co_edit(NOTES="old, dead-lettered"))
    co.deliver()
    [dead] = co.dead_letters()
    assert VERSION_ATTRIBUTE in attributes_of(dead)  # its place in time travels with it

    send(co, sqs, co_edit(NOTES="newer"))
    co.deliver()
    redrive("ConstructionOnlineChangeOrderUpdateFunction")
    _, failed = co.deliver()

    assert failed == [] and co.visible() == [] and co.dead_letters() == []
    assert change_order(control)["NOTES"] == "newer"


def test_procore_an_older_pco_update_retried_late_is_superseded(procore, control, sqs):
    newer = message("ordered-1")
    newer["updates"][0]["title"] = "newer title"
    older = message("ordered-1")
    older["updates"][0]["title"] = "older title"
    send(procore, sqs, newer, version="20")
    procore.deliver()
    send(procore, sqs, older, version="19")

    _, failed = procore.deliver()

    assert failed == [] and procore.dead_letters() == []
    assert [p["title"] for p in stored_pcos(control)] == ["newer title"]
    assert len(syncs(control)) == 1


def test_procore_an_api_request_carries_the_producers_version(procore, control):
    body = {"updates": [{"origin_id": "api-ordered", "title": "version 7"}]}
    assert reply(procore.invoke(sync_event(body, bearer(**{VERSION_ATTRIBUTE: "7"}), QUERY)))[0] == 200
    body = {"updates": [{"origin_id": "api-ordered", "title": "version 6"}]}
    status, answer = reply(procore.invoke(sync_event(body, bearer(**{VERSION_ATTRIBUTE: "6"}), QUERY)))

    assert status == 200 and answer["superseded"] == ["origin_id=api-ordered"]
    assert [p["title"] for p in stored_pcos(control)] == ["version 7"]


QUERY = {"project_id": "298401", "contract_id": str(2**53 + 7)}


def test_an_invalid_producer_version_is_invalid_input_naming_the_attribute(co, control, sqs):
    send(co, sqs, co_edit(NOTES="x"), version="yesterday")
    co.deliver()
    [dead] = co.dead_letters()
    attributes = attributes_of(dead)
    assert attributes["error_class"] == "invalid_input"
    assert f"messageAttributes.{VERSION_ATTRIBUTE}" in attributes["problems"]
    assert co_updates(control) == []


# ---------------------------------------------------------------------------------------------- two containers


def command(**properties: str) -> ChangeOrderUpdateCommand:
    return ChangeOrderUpdateCommand.model_validate(co_edit(**properties))


def test_two_containers_racing_on_one_change_order_end_with_the_newer_edit(co, stack):
    table = stack.function_environment(co.spec.logical_id)["IDEMPOTENCY_TABLE"]
    # Two containers: two mark clients, one table.
    first, second = (ObjectMarks(co.spec.logical_id, table, dynamodb_client(stack.endpoint_url)) for _ in range(2))
    vendor: dict[str, str] = {}
    older_sending, newer_tried = threading.Event(), threading.Event()

    def slow_older(commands):
        older_sending.set()
        newer_tried.wait(timeout=10)  # the newer edit is tried while this one is still at the vendor
        vendor.update(commands[0].coInfo.wire())
        return [None]

    def newer(commands):
        vendor.update(commands[0].coInfo.wire())
        return [None]

    results: dict[str, Any] = {}
    racer = threading.Thread(
        target=lambda: results.update(
            older=deliver_in_order(
                [command(NOTES="older")], [Decimal(1)], ChangeOrderEdits(), first, Deadline.in_seconds(30), slow_older
            )
        )
    )
    racer.start()
    older_sending.wait(timeout=10)
    [busy] = deliver_in_order(
        [command(NOTES="newer")], [Decimal(2)], ChangeOrderEdits(), second, Deadline.in_seconds(30), newer
    )
    newer_tried.set()
    racer.join()

    assert results["older"] == [None]
    assert isinstance(busy, ConnectorError) and busy.failure is FailureClass.TRANSIENT
    assert deliver_in_order(
        [command(NOTES="newer")], [Decimal(2)], ChangeOrderEdits(), second, Deadline.in_seconds(30), newer
    ) == [None]
    assert vendor == {"NOTES": "newer"}
    # The older edit coming back now (a retry) is superseded: the mark holds the newer version.
    [late] = deliver_in_order(
        [command(NOTES="older")], [Decimal(1)], ChangeOrderEdits(), first, Deadline.in_seconds(30), slow_older
    )
    assert isinstance(late, Superseded) and vendor == {"NOTES": "newer"}


def test_a_failed_vendor_call_moves_no_mark(co, stack):
    table = stack.function_environment(co.spec.logical_id)["IDEMPOTENCY_TABLE"]
    marks = ObjectMarks(co.spec.logical_id, table, dynamodb_client(stack.endpoint_url))
    failed = deliver_in_order(
        [command(NOTES="newer")],
        [Decimal(2)],
        ChangeOrderEdits(),
        marks,
        Deadline.in_seconds(30),
        lambda c: [transient("down")],
    )
    assert failed[0] is not None and not isinstance(failed[0], Superseded)

    sent: list[dict[str, str]] = []

    def vendor(commands):
        sent.extend(command.coInfo.wire() for command in commands)
        return [None]

    outcome = deliver_in_order(
        [command(NOTES="older")], [Decimal(1)], ChangeOrderEdits(), marks, Deadline.in_seconds(30), vendor
    )
    # The vendor never got the newer edit, so the older one is not stale: it is sent.
    assert outcome == [None] and sent == [{"NOTES": "older"}]


def test_a_lease_that_ran_out_with_nothing_delivered_is_not_written_again(co, stack):
    table = stack.function_environment(co.spec.logical_id)["IDEMPOTENCY_TABLE"]
    dynamodb = dynamodb_client(stack.endpoint_url)
    marks = ObjectMarks(co.spec.logical_id, table, dynamodb)
    key = {"id": {"S": f"{co.spec.logical_id}#mark#lapsed"}}
    short = marks.hold("lapsed", 0.05)
    assert short is not None
    time.sleep(0.1)

    marks.release(short, {})  # nothing delivered, lease over: no write

    assert dynamodb.get_item(TableName=table, Key=key)["Item"]["lease_token"]["S"] == short.token
    # The next invocation holds it all the same, and its release (it delivered) moves the mark.
    held = marks.hold("lapsed", 30)
    assert held is not None
    marks.release(held, {"NOTES": Decimal(3)})
    item = dynamodb.get_item(TableName=table, Key=key)["Item"]
    assert "lease_token" not in item and item["versions"]["M"]["NOTES"]["N"] == "3"


def test_procore_an_api_request_whose_marks_cannot_be_held_is_answered_with_that_failure(procore, control, monkeypatch):
    # The marks live beside the idempotency records; a table that is not there cannot hold them.
    monkeypatch.setenv("IDEMPOTENCY_TABLE", "NoSuchTable")
    procore.new_container()
    body = {"updates": [{"origin_id": "unheld", "title": "not sent"}]}
    status, answer = reply(procore.invoke(sync_event(body, bearer(), QUERY)))

    assert status == 502 and answer["error"]["failure"] == "transient"
    assert answer["error"]["message"] == "the order marks could not be reached; retrying"  # not an IndexError
    assert syncs(control) == []
