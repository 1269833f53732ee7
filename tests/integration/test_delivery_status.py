"""The status route (``GET /deliveries/<vendor>``) over the real moto server and the sandbox: every state a key
can be in, read from the ledger the functions wrote while they delivered, behind the same callers as the webhooks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.idempotency import IDEMPOTENCY_KEY_ATTRIBUTE, Idempotency, new_batch
from devkit.aws import dynamodb_client
from devkit.local_secrets import LOCAL_BEARER_TOKEN
from tests.integration.conftest import api_event, reply
from tests.integration.test_hardening import ERP_TOKEN, OPS_KEY, callers, signed
from tests.integration.test_procore_failure_classes import (
    COMPANY,
    CONTRACT,
    PROJECT,
    QUERY,
    bearer,
    message,
    stored_pcos,
    sync_event,
)
from tests.integration.test_receipts import receipts, send_keyed

pytestmark = pytest.mark.integration
__all__ = ["callers"]  # test_hardening's fixture, used here

STATUS = "/deliveries/procore"


@pytest.fixture
def procore(deploy):
    return deploy("ProcorePcoSyncFunction")


def status(function, key: str, headers: dict[str, str] | None = None, **query: str) -> tuple[int, Any]:
    """The status route's answer for ``key``, asked with ``headers`` (default: the local bearer token)."""
    headers = headers or {"Authorization": f"Bearer {LOCAL_BEARER_TOKEN}"}
    return reply(function.invoke(api_event("GET", STATUS, None, headers, {"key": key, **query})))


# The callers of test_hardening: erp-prod may reach Procore's default connection only, with a bearer token; ops
# everything, with signatures.
ERP = {"Authorization": f"Bearer {ERP_TOKEN}"}


def ops() -> dict[str, str]:
    return signed("", secret=OPS_KEY)


def test_a_delivered_record_is_delivered_with_the_vendors_ids(procore, control, sqs):
    send_keyed(procore, sqs, message("s-1", "s-2"), key="erp-7")
    [unkeyed] = procore.send(message("s-3"))
    assert procore.deliver()[1] == []

    code, answer = status(procore, "erp-7")
    stored = {p["origin_id"]: p["id"] for p in stored_pcos(control)}
    assert code == 200 and answer["state"] == "delivered" and answer["trigger"] == "sqs"
    assert answer["key"] == "erp-7" and answer["connection"] == "default" and answer["attempts"] == 1
    assert sorted(answer["vendor_ids"], key=lambda ids: ids["origin_id"]) == [
        {"id": stored["s-1"], "origin_id": "s-1"},
        {"id": stored["s-2"], "origin_id": "s-2"},
    ]
    assert "error" not in answer or answer["error"] is None
    # A record queued without a key is asked about by its message id.
    code, answer = status(procore, unkeyed)
    assert code == 200 and answer["vendor_ids"] == [{"id": stored["s-3"], "origin_id": "s-3"}]


def test_a_record_being_sent_is_in_progress(procore, stack):
    # Claimed as an invocation claims it, with the key the adapter uses (connection, then the producer's key).
    client = dynamodb_client(stack.endpoint_url)
    ledger = Idempotency("ProcorePcoSyncFunction", procore.environment()["IDEMPOTENCY_TABLE"], 3600, client).records
    ledger.claim([("default#key:erp-busy", json.dumps(message("busy")))], remaining_ms=60_000, batch=new_batch())

    code, answer = status(procore, "erp-busy")
    assert code == 200 and answer["state"] == "in_progress" and answer["vendor_ids"] == []


def test_a_failed_record_waits_to_retry_with_its_last_error_and_when(procore, control, sqs):
    control.post("/_sandbox/faults", json={"route": "procore.sync", "kind": "status", "status": 502, "count": 100})
    send_keyed(procore, sqs, message("w-1"), key="erp-wait")
    before = datetime.now(UTC)
    procore.deliver()

    code, answer = status(procore, "erp-wait")
    assert code == 200 and answer["state"] == "waiting_to_retry"
    assert answer["error"]["failure"] == "transient" and answer["error"]["vendor_status"] == 502
    assert datetime.fromisoformat(answer["retry_at"]) > before
    assert answer["attempts"] == 1


def test_a_dead_lettered_record_says_why(procore, control):
    unknown = {"company_id": COMPANY, "project_id": PROJECT, "contract_id": CONTRACT, "updates": [{"id": 12345}]}
    [rejected] = procore.send(unknown)
    procore.deliver()
    assert len(procore.dead_letters()) == 1

    code, answer = status(procore, rejected)
    assert code == 200 and answer["state"] == "dead_lettered" and answer["retry_at"] is None
    assert answer["error"]["failure"] == "vendor_rejected"
    assert "Entity with this ID not found" in answer["error"]["message"]


def test_a_redriven_record_is_claimed_again_and_then_delivered(procore, control, sqs):
    # A released record keeps its error only until the next attempt takes it: the release is no obstacle.
    control.post("/_sandbox/faults", json={"route": "procore.sync", "kind": "status", "status": 502, "count": 100})
    send_keyed(procore, sqs, message("again-1"), key="erp-again")
    event, _ = procore.deliver()
    assert status(procore, "erp-again")[1]["state"] == "waiting_to_retry"
    control.delete("/_sandbox/faults")
    receipt = event["Records"][0]["receiptHandle"]
    sqs.change_message_visibility(QueueUrl=procore.queue.url, ReceiptHandle=receipt, VisibilityTimeout=0)
    assert procore.deliver()[1] == []

    code, answer = status(procore, "erp-again")
    assert code == 200 and answer["state"] == "delivered" and answer["attempts"] == 2
    assert [ids["origin_id"] for ids in answer["vendor_ids"]] == ["again-1"]


def test_an_api_request_is_found_by_its_key_for_the_caller_that_sent_it(procore, control):
    code, _ = reply(
        procore.invoke(sync_event({"updates": [{"origin_id": "api-1"}]}, bearer(**{"Idempotency-Key": "k-9"}), QUERY))
    )
    assert code == 200

    code, answer = status(procore, "k-9")
    [pco] = stored_pcos(control)
    assert code == 200 and answer["state"] == "delivered" and answer["trigger"] == "api"
    assert answer["vendor_ids"] == [{"id": pco["id"], "origin_id": "api-1"}] and answer["connection"] is None


def test_an_api_request_procore_took_in_part_names_the_refused_updates_in_its_receipt_and_status(procore, stack):
    # Procore answers 200 with per-item errors; the caller gets that 200, and the receipt and the status must not
    # say every update was stored.
    body = {"updates": [{"id": 12345, "title": "ghost"}, {"origin_id": "real", "title": "real"}]}
    code, answer = reply(procore.invoke(sync_event(body, bearer(**{"Idempotency-Key": "k-part"}), QUERY)))
    assert code == 200 and [e["origin_id"] for e in answer["entities"]] == ["real"]
    stored = [{"id": answer["entities"][0]["id"], "origin_id": "real"}]

    [receipt] = receipts(stack)
    assert receipt["detail-type"] == "Change order delivered" and receipt["detail"]["vendor_ids"] == stored
    error = receipt["detail"]["error"]
    assert error["failure"] == "vendor_rejected"
    assert error["message"] == "procore rejected 1 update(s): id=12345: id: Entity with this ID not found"

    code, status_answer = status(procore, "k-part")
    assert code == 200 and status_answer["state"] == "delivered" and status_answer["vendor_ids"] == stored
    assert status_answer["error"] == {**error, "problems": [], "vendor_status": None, "retry_after": None}


def test_a_refused_api_request_is_refused_with_the_reason(procore):
    unknown_field = {"updates": [{"origin_id": "r-1", "colour": "red"}]}
    code, _ = reply(procore.invoke(sync_event(unknown_field, bearer(**{"Idempotency-Key": "k-bad"}), QUERY)))
    assert code == 400

    code, answer = status(procore, "k-bad")
    assert code == 200 and answer["state"] == "refused" and answer["error"]["failure"] == "invalid_input"


def test_an_unknown_key_is_404_naming_it(procore):
    code, answer = status(procore, "never-sent")
    assert code == 404 and answer["error"]["failure"] == "invalid_input"
    assert answer["error"]["problems"][0]["field"] == "query.key"


def test_a_status_read_is_not_replayed_and_sends_nothing(procore, control):
    headers = {"Authorization": f"Bearer {LOCAL_BEARER_TOKEN}", "Idempotency-Key": "read-1"}
    event = api_event("GET", STATUS, None, headers, {"key": "late"})
    assert reply(procore.invoke(event))[0] == 404
    send_keyed_api = sync_event({"updates": [{"origin_id": "late-1"}]}, bearer(**{"Idempotency-Key": "late"}), QUERY)
    assert reply(procore.invoke(send_keyed_api))[0] == 200
    # The same read again sees the change: a read is answered afresh, never from a stored reply.
    assert reply(procore.invoke(event))[0] == 200


def test_a_caller_sees_only_the_connections_it_may_reach(procore, sqs, callers):
    send_keyed(procore, sqs, message("c-1"), key="erp-conn")
    assert procore.deliver()[1] == []

    assert status(procore, "erp-conn", ERP)[0] == 200
    code, answer = status(procore, "erp-conn", ERP, connection="other")
    assert code == 403 and answer["error"]["failure"] == "forbidden"
    # A caller that may reach the other connection finds nothing there: records are kept per connection.
    assert status(procore, "erp-conn", ops(), connection="other")[0] == 404
    assert status(procore, "erp-conn", ops())[0] == 200


def test_an_api_request_is_not_found_by_another_caller(procore, callers):
    headers = {**ERP, "Procore-Company-Id": str(COMPANY), "Idempotency-Key": "mine"}
    assert reply(procore.invoke(sync_event({"updates": [{"origin_id": "own-1"}]}, headers, QUERY)))[0] == 200

    assert status(procore, "mine", ERP)[0] == 200
    assert status(procore, "mine", ops())[0] == 404  # ops did not send it


@pytest.mark.parametrize(
    ("logical_id", "package"),
    [
        ("ProcorePcoSyncFunction", "procore_pco_sync"),
        ("PrimeChangeOrderSovBatchFunction", "prime_change_order_sov_batch"),
        ("ConstructionOnlineChangeOrderUpdateFunction", "constructiononline_change_order_update"),
    ],
)
def test_each_functions_status_sample_event_asks_its_own_ledger(deploy, sqs, logical_id, package):
    function = deploy(logical_id)
    event = json.loads((Path("events") / package / "api-status.json").read_text())
    key = event["queryStringParameters"]["key"]
    assert reply(function.invoke(event))[0] == 404  # nothing sent yet under the sample's key
    queued = {"DataType": "String", "StringValue": key}
    sample = json.loads((Path("events") / package / "sqs.json").read_text())["Records"][0]["body"]
    sqs.send_message(
        QueueUrl=function.queue.url, MessageBody=sample, MessageAttributes={IDEMPOTENCY_KEY_ATTRIBUTE: queued}
    )
    assert function.deliver()[1] == []

    code, answer = reply(function.invoke(event))
    assert code == 200 and answer["state"] == "delivered" and answer["key"] == key and answer["vendor_ids"]


def test_a_ledger_that_cannot_be_read_is_503_with_retry_after(deploy, monkeypatch):
    function = deploy("ProcorePcoSyncFunction")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    function.new_container()

    response = function.invoke(
        api_event("GET", STATUS, None, {"Authorization": f"Bearer {LOCAL_BEARER_TOKEN}"}, {"key": "k"})
    )

    # A route's reply: Powertools' REST resolver gives its headers as multiValueHeaders.
    [retry_after] = response["multiValueHeaders"]["Retry-After"]
    assert response["statusCode"] == 503 and int(retry_after) > 0
    assert json.loads(response["body"])["error"]["failure"] == "transient"
