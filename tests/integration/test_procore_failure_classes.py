"""Each row of docs/architecture.md's failure-class table for Procore, over real HTTP and a real moto server."""

from __future__ import annotations

import json
import time

import pytest

from devkit.local_secrets import LOCAL_BEARER_TOKEN, LOCAL_SIGNING_SECRET
from devkit.webhook_signing import signed_headers
from tests.integration.conftest import api_event, attributes_of, reply, vendor_requests

pytestmark = pytest.mark.integration

COMPANY, PROJECT, CONTRACT = 4264807, 298401, 2**53 + 7
QUERY = {"project_id": str(PROJECT), "contract_id": str(CONTRACT)}


def bearer(**extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {LOCAL_BEARER_TOKEN}", "Procore-Company-Id": str(COMPANY), **extra}


def message(*origin_ids: str, **fields) -> dict:
    body: dict[str, object] = {"company_id": COMPANY, "project_id": PROJECT, "contract_id": CONTRACT}
    body["updates"] = [{"origin_id": o, "title": f"PCO {o}", "status": "pending"} for o in origin_ids]
    body.update(fields)
    return body


ROUTE = "/procore/rest/v1.0/potential_change_orders/sync"


@pytest.fixture
def procore(deploy):
    return deploy("ProcorePcoSyncFunction")


def sync_event(body, headers, query):
    return api_event("PATCH", ROUTE, body, headers, query)


def syncs(control):
    return vendor_requests(control, "procore", "procore.sync")


def tokens(control):
    return vendor_requests(control, "procore", "procore.token")


def stored_pcos(control):
    return control.get("/_sandbox/procore/pcos").json()["pcos"]


# ---------------------------------------------------------------------------------------------- success


def test_api_success_stores_the_pcos_and_answers_procores_shape(procore, control):
    body = {"updates": [{"origin_id": "a-1", "title": "Rock", "status": "pending", "due_date": "2026-12-15"}]}
    status, answer = reply(procore.invoke(sync_event(body, bearer(), QUERY)))
    assert status == 200
    assert answer["errors"] == []
    [entity] = answer["entities"]
    assert entity["origin_id"] == "a-1" and entity["id"] > 2**53  # exact 64-bit id, no float round trip
    [stored] = stored_pcos(control)
    assert stored["id"] == entity["id"] and stored["due_date"] == "2026-12-15T00:00:00Z"
    assert stored["contract_id"] == CONTRACT


def test_a_signed_webhook_is_accepted(procore, control):
    body = json.dumps({"updates": [{"origin_id": "signed-1", "title": "Signed"}]})
    headers = {**signed_headers(LOCAL_SIGNING_SECRET, body), "Procore-Company-Id": str(COMPANY)}
    status, _ = reply(procore.invoke(sync_event(body, headers, QUERY)))
    assert status == 200
    assert [p["origin_id"] for p in stored_pcos(control)] == ["signed-1"]


def test_sqs_records_for_one_contract_go_out_in_one_call(procore, control):
    procore.send(message("q-1", "q-2"), message("q-3"))
    event, failed = procore.deliver()
    assert len(event["Records"]) == 2 and failed == []
    assert len(syncs(control)) == 1
    assert sorted(p["origin_id"] for p in stored_pcos(control)) == ["q-1", "q-2", "q-3"]
    assert procore.visible() == [] and procore.dead_letters() == []


# ---------------------------------------------------------------------------------------------- invalid input


def test_api_unknown_field_is_400_naming_it_and_procore_is_not_called(procore, control):
    body = {"updates": [{"origin_id": "x", "colour": "red"}]}
    status, answer = reply(procore.invoke(sync_event(body, bearer(), QUERY)))
    assert status == 400
    assert answer["error"]["problems"] == [
        {"field": "body.updates[0].colour", "message": "unknown field: not part of the vendor's schema"}
    ]
    assert syncs(control) == []


def test_api_missing_company_header_is_400_naming_it(procore):
    headers = {"Authorization": f"Bearer {LOCAL_BEARER_TOKEN}"}
    status, answer = reply(procore.invoke(sync_event({"updates": [{"origin_id": "x"}]}, headers, QUERY)))
    assert status == 400
    assert answer["error"]["problems"][0]["field"] == "header.procore-company-id"


def test_sqs_invalid_body_goes_to_the_dlq_now_with_its_reason(procore, control):
    [bad_id] = procore.send(message("ok-1", project_id=1.5))
    procore.send(message("ok-2"))
    _, failed = procore.deliver()
    assert failed == []
    [dead] = procore.dead_letters()
    assert json.loads(dead["Body"])["project_id"] == 1.5  # original body intact
    attributes = attributes_of(dead)
    assert attributes["error_class"] == "invalid_input"
    assert attributes["source_message_id"] == bad_id
    assert "project_id" in attributes["error_message"]
    assert [p["origin_id"] for p in stored_pcos(control)] == ["ok-2"]


# ---------------------------------------------------------------------------------------------- unauthenticated


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer wrong-token"},
        {},
        {"webhook-id": "msg_1", "webhook-timestamp": str(int(time.time())), "webhook-signature": "v1,AAAA"},
    ],
    ids=["wrong-bearer", "no-credentials", "bad-signature"],
)
def test_a_bad_caller_gets_401_and_procore_is_never_called(procore, control, headers):
    event = sync_event({"updates": [{"origin_id": "x"}]}, {**headers, "Procore-Company-Id": str(COMPANY)}, QUERY)
    status, answer = reply(procore.invoke(event))
    assert status == 401 and answer["error"]["failure"] == "unauthenticated"
    assert syncs(control) == [] and tokens(control) == []


def test_a_replayed_signature_with_an_old_timestamp_is_refused(procore, control):
    body = json.dumps({"updates": [{"origin_id": "replay"}]})
    headers = signed_headers(LOCAL_SIGNING_SECRET, body)
    old = str(int(headers["webhook-timestamp"]) - 600)
    headers["webhook-timestamp"] = old
    status, _ = reply(procore.invoke(sync_event(body, {**headers, "Procore-Company-Id": str(COMPANY)}, QUERY)))
    assert status == 401 and syncs(control) == []


# ---------------------------------------------------------------------------------------------- vendor rejected


def test_sqs_item_rejected_by_procore_goes_to_the_dlq_with_procores_message(procore, control):
    unknown = {"company_id": COMPANY, "project_id": PROJECT, "contract_id": CONTRACT, "updates": [{"id": 12345}]}
    [rejected_id] = procore.send(unknown)
    procore.send(message("fine-1"))
    _, failed = procore.deliver()
    assert failed == []
    assert len(syncs(control)) == 1  # coalesced; the refusal is per item
    [dead] = procore.dead_letters()
    attributes = attributes_of(dead)
    assert attributes["error_class"] == "vendor_rejected"
    assert attributes["source_message_id"] == rejected_id
    assert "id=12345: id: Entity with this ID not found" in attributes["error_message"]
    assert [p["origin_id"] for p in stored_pcos(control)] == ["fine-1"]


def test_api_item_rejection_is_per_item_detail_in_a_200(procore):
    body = {"updates": [{"id": 12345, "title": "ghost"}, {"origin_id": "real", "title": "real"}]}
    status, answer = reply(procore.invoke(sync_event(body, bearer(), QUERY)))
    assert status == 200
    assert [e["origin_id"] for e in answer["entities"]] == ["real"]
    assert answer["errors"][0]["errors"] == {"id": ["Entity with this ID not found"]}


# ---------------------------------------------------------------------------------------------- rate limited


def test_a_pause_one_container_learned_is_honoured_by_the_next(procore, control):
    control.post("/_sandbox/config", json={"procore": {"spike_limit": 1, "spike_window_seconds": 2}})
    first = {"updates": [{"origin_id": "r-1"}]}
    assert reply(procore.invoke(sync_event(first, bearer(), QUERY)))[0] == 200
    # A second container waits out the pause the first learned from Remaining=0 (shared in the rate-limit
    # table), so it never meets the 429.
    procore.new_container()
    second = {"updates": [{"origin_id": "r-2"}]}
    assert reply(procore.invoke(sync_event(second, bearer(), QUERY)))[0] == 200
    assert [r["status"] for r in syncs(control)] == [200, 200]
    assert sorted(p["origin_id"] for p in stored_pcos(control)) == ["r-1", "r-2"]


def test_an_hourly_limit_answers_429_with_retry_after_on_the_api(procore, control):
    control.post("/_sandbox/config", json={"procore": {"hourly_limit": 1}})
    procore.invoke(sync_event({"updates": [{"origin_id": "h-1"}]}, bearer(), QUERY))
    procore.new_container()
    response = procore.invoke(sync_event({"updates": [{"origin_id": "h-2"}]}, bearer(), QUERY))
    status, answer = reply(response)
    assert status == 429 and answer["error"]["failure"] == "rate_limited"
    assert 3000 < int(response["multiValueHeaders"]["Retry-After"][0]) <= 3601


def test_sqs_rate_limited_record_waits_out_the_window_instead_of_the_dlq(procore, control):
    control.post("/_sandbox/config", json={"procore": {"hourly_limit": 1}})
    procore.send(message("w-1"))
    procore.deliver()
    procore.new_container()
    [waiting] = procore.send(message("w-2"))
    _, failed = procore.deliver()
    assert failed == [waiting]
    assert procore.dead_letters() == []
    # Made invisible until the hourly window resets: not visible again right away.
    assert procore.visible() == []


# ---------------------------------------------------------------------------------------------- transient


def test_503_with_retry_after_is_waited_out(procore, control):
    control.post(
        "/_sandbox/faults", json={"route": "procore.sync", "kind": "unavailable", "count": 1, "retry_after": 1}
    )
    status, _ = reply(procore.invoke(sync_event({"updates": [{"origin_id": "u-1"}]}, bearer(), QUERY)))
    assert status == 200
    assert [r["status"] for r in syncs(control)] == [503, 200]


def test_persistent_5xx_is_502_on_the_api(procore, control):
    control.post("/_sandbox/faults", json={"route": "procore.sync", "kind": "status", "status": 500, "count": 10})
    status, answer = reply(procore.invoke(sync_event({"updates": [{"origin_id": "f-1"}]}, bearer(), QUERY)))
    assert status == 502 and answer["error"]["failure"] == "transient" and answer["error"]["vendor_status"] == 500
    assert len(syncs(control)) == 4


def test_sqs_transient_failure_is_retried_then_dead_lettered_with_its_reason(procore, control, sqs, monkeypatch):
    # The retry budget (two hours by default) outlasts this test: the receive count is what ends the retries here.
    max_receives = 3
    monkeypatch.setenv("MAX_RECEIVE_COUNT", str(max_receives))
    procore.new_container()
    control.post("/_sandbox/faults", json={"route": "procore.sync", "kind": "status", "status": 502, "count": 100})
    [message_id] = procore.send(message("t-1"))
    for _ in range(max_receives - 1):
        event, failed = procore.deliver()
        assert failed == [message_id] and procore.dead_letters() == []
        assert procore.visible() == []  # backing off: invisible for a while
        # Let the backoff pass at once instead of waiting for it.
        receipt = event["Records"][0]["receiptHandle"]
        sqs.change_message_visibility(QueueUrl=procore.queue.url, ReceiptHandle=receipt, VisibilityTimeout=0)
    # The last allowed receive: the function dead-letters the record itself, with the reason attached.
    _, failed = procore.deliver()
    assert failed == []
    [dead] = procore.dead_letters()
    assert dead["MessageId"] != message_id and json.loads(dead["Body"])["updates"][0]["origin_id"] == "t-1"
    attributes = attributes_of(dead)
    assert attributes["error_class"] == "transient" and attributes["vendor_status"] == "502"
    assert attributes["receive_count"] == str(max_receives) and attributes["source_message_id"] == message_id
    assert procore.visible() == []


# ---------------------------------------------------------------------------------------------- token expiry


def test_an_expired_token_is_renewed_once(procore, control):
    assert reply(procore.invoke(sync_event({"updates": [{"origin_id": "e-1"}]}, bearer(), QUERY)))[0] == 200
    control.post("/_sandbox/procore/expire-tokens")
    assert reply(procore.invoke(sync_event({"updates": [{"origin_id": "e-2"}]}, bearer(), QUERY)))[0] == 200
    assert [r["status"] for r in syncs(control)] == [200, 401, 200]
    assert len(tokens(control)) == 2


def test_the_token_is_cached_across_invocations_of_a_warm_container(procore, control):
    for origin_id in ("c-1", "c-2", "c-3"):
        procore.invoke(sync_event({"updates": [{"origin_id": origin_id}]}, bearer(), QUERY))
    assert len(tokens(control)) == 1


# ---------------------------------------------------------------------------------------------- timeouts


def test_a_timeout_after_procore_stored_the_update_is_resent_without_a_duplicate(procore, control):
    control.post("/_sandbox/faults", json={"route": "procore.sync", "kind": "timeout", "count": 1, "delay_ms": 2500})
    status, _ = reply(procore.invoke(sync_event({"updates": [{"origin_id": "to-1"}]}, bearer(), QUERY)))
    assert status == 200
    assert len(syncs(control)) == 2
    assert [p["origin_id"] for p in stored_pcos(control)] == ["to-1"]  # upsert by origin_id: one PCO


def test_a_dropped_connection_is_retried(procore, control):
    control.post("/_sandbox/faults", json={"route": "procore.sync", "kind": "drop", "count": 1, "applied": True})
    status, _ = reply(procore.invoke(sync_event({"updates": [{"origin_id": "d-1"}]}, bearer(), QUERY)))
    assert status == 200
    assert [p["origin_id"] for p in stored_pcos(control)] == ["d-1"]


def test_timeouts_on_every_attempt_answer_504(procore, control):
    control.post("/_sandbox/faults", json={"route": "procore.sync", "kind": "timeout", "count": 10, "delay_ms": 2000})
    status, answer = reply(procore.invoke(sync_event({"updates": [{"origin_id": "slow"}]}, bearer(), QUERY)))
    assert status == 504 and answer["error"]["failure"] == "transient"


# ---------------------------------------------------------------------------------------------- misconfiguration


def test_a_connection_that_is_not_configured_is_400_naming_it_and_its_secret(procore, control):
    # The request chose the connection, so it is the caller's mistake (or an onboarding not finished yet).
    query = {**QUERY, "connection": "nobody"}
    status, answer = reply(procore.invoke(sync_event({"updates": [{"origin_id": "m"}]}, bearer(), query)))
    assert status == 400 and answer["error"]["failure"] == "invalid_input"
    assert answer["error"]["problems"] == [{"field": "connection", "message": "no such connection is configured"}]
    assert "change-order-connectors/procore/nobody" in answer["error"]["message"]
    assert tokens(control) == [] and syncs(control) == []


def test_credentials_procore_refuses_are_500_without_leaking_them(procore, stack, sandbox, logs):
    from devkit.aws import put_secret

    secret = {
        "client_id": "sandbox-client",
        "client_secret": "wrong-secret-value",
        "auth_base_url": sandbox.url,
        "api_base_url": sandbox.url,
    }
    put_secret(stack.endpoint_url, "change-order-connectors/procore/broken", secret)
    query = {**QUERY, "connection": "broken"}
    response = procore.invoke(sync_event({"updates": [{"origin_id": "m"}]}, bearer(), query))
    status, answer = reply(response)
    assert status == 500 and answer["error"]["vendor_status"] == 401
    assert "wrong-secret-value" not in json.dumps(response)
    assert '"failure":"misconfiguration"' in logs.getvalue()  # the failure was logged ...
    assert "wrong-secret-value" not in logs.getvalue()  # ... without the secret


def test_without_a_webhook_secret_every_call_is_refused_as_misconfiguration(procore, control, stack):
    from devkit.aws import secretsmanager_client

    secretsmanager_client(stack.endpoint_url).delete_secret(
        SecretId="change-order-connectors/webhook", ForceDeleteWithoutRecovery=True
    )
    status, answer = reply(procore.invoke(sync_event({"updates": [{"origin_id": "x"}]}, bearer(), QUERY)))
    # The caller is not yet known: it learns only to come back later, not which secret is missing.
    assert status == 503 and answer["error"]["failure"] == "misconfiguration"
    assert "change-order-connectors/webhook" not in answer["error"]["message"]
    assert syncs(control) == []


def test_more_than_1000_updates_in_one_request_go_out_as_several_calls(procore, control):
    updates = [{"origin_id": f"bulk-{n}", "title": f"PCO {n}"} for n in range(1500)]
    # 1500 PCOs are 3000 order-mark writes (hold, release): about a second in DynamoDB, but moto validates each
    # update expression at some 45 a second, and slower on a loaded CI machine, where 120 s ran out while holding.
    # The invocation gets what Lambda allows at most, so that this checks the chunking and not the emulator's pace.
    status, answer = reply(procore.invoke(sync_event({"updates": updates}, bearer(), QUERY), timeout=900))
    assert status == 200
    assert len(answer["entities"]) == 1500 and answer["errors"] == []
    assert [len(call["body"]["updates"]) for call in syncs(control)] == [1000, 500]
    assert len(stored_pcos(control)) == 1500


def test_an_oversized_body_is_413_before_anything_reads_it(procore, control, monkeypatch):
    monkeypatch.setenv("MAX_REQUEST_BYTES", "200")
    procore.new_container()
    updates = [{"origin_id": f"big-{n}", "title": "x" * 50} for n in range(5)]
    status, answer = reply(procore.invoke(sync_event({"updates": updates}, bearer(), QUERY)))
    assert status == 413 and answer["error"]["failure"] == "invalid_input"
    assert "at most 200" in answer["error"]["message"]
    assert syncs(control) == []
