"""Callers, replays, hostile input and AWS dependencies down, over the real moto server and the sandbox over HTTP.

Every test here is a way an attacker or a careless producer would try the running functions: each must end in a
reply of the shared error model (never a crash), and nothing may reach the vendor that should not.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from devkit.aws import put_secret, secretsmanager_client
from devkit.local_secrets import LOCAL_BEARER_TOKEN, LOCAL_SIGNING_SECRET, secret_prefix
from devkit.webhook_signing import signed_headers
from tests.integration.conftest import api_event, attributes_of, reply, vendor_requests

pytestmark = pytest.mark.integration

COMPANY, PROJECT, CONTRACT = 4264807, 298401, 2**53 + 7
PROCORE_QUERY = {"project_id": str(PROJECT), "contract_id": str(CONTRACT)}
ERP_TOKEN = "erp-prod-token-0123456789"
OPS_KEY = "whsec_" + base64.b64encode(b"ops-signing-key-of-32-bytes-long").decode()


def pco(origin_id: str) -> dict[str, Any]:
    return {"updates": [{"origin_id": origin_id, "title": f"PCO {origin_id}", "status": "pending"}]}


def sov(name: str) -> dict[str, Any]:
    return {"changeOrderLineItemId": 40021, "name": name, "sovType": "LUMP_SUM", "changeOrderSovCost": {"total": 10}}


class Route:
    """One function's API route: how to build its request and read what the vendor received."""

    def __init__(self, function: str, method: str, path: str, vendor: str, write: str, body: Any, query: dict) -> None:
        self.function, self.method, self.path = function, method, path
        self.vendor, self.write, self.body, self.query = vendor, write, body, query

    def event(self, headers: dict[str, str], body: Any = None, query: dict | None = None) -> dict[str, Any]:
        text = body if isinstance(body, str) else json.dumps(self.body if body is None else body)
        extra = {"Procore-Company-Id": str(COMPANY)} if self.vendor == "procore" else {}
        return api_event(self.method, self.path, text, {**extra, **headers}, {**self.query, **(query or {})})

    def calls(self, control) -> list[dict[str, Any]]:
        return vendor_requests(control, self.vendor, self.write)


ROUTES = [
    Route(
        "ProcorePcoSyncFunction",
        "PATCH",
        "/procore/rest/v1.0/potential_change_orders/sync",
        "procore",
        "procore.sync",
        pco("hard-1"),
        PROCORE_QUERY,
    ),
    Route(
        "PrimeChangeOrderSovBatchFunction",
        "POST",
        "/prime/primeapi/restapi/changeOrderSOV/batch",
        "prime",
        "prime.batch",
        [sov("Hardened steel")],
        {},
    ),
    Route(
        "ConstructionOnlineChangeOrderUpdateFunction",
        "PUT",
        "/constructiononline/api/ChangeOrders/1234567",
        "constructiononline",
        "constructiononline.update",
        {"NOTES": "hardened"},
        {},
    ),
]
IDS = ["procore", "prime", "constructiononline"]
BEARER = {"Authorization": f"Bearer {LOCAL_BEARER_TOKEN}", "Content-Type": "application/json"}


def signed(body: str, message_id: str | None = None, secret: str = LOCAL_SIGNING_SECRET) -> dict[str, str]:
    return {**signed_headers(secret, body, message_id), "Content-Type": "application/json"}


def emitted_metrics(capsys) -> list[str]:
    """Names of the metrics the handler flushed (Powertools prints EMF lines to stdout)."""
    names: list[str] = []
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            for directive in json.loads(line)["_aws"]["CloudWatchMetrics"]:
                names.extend(metric["Name"] for metric in directive["Metrics"])
    return names


# ---------------------------------------------------------------------------------------------- authentication


@pytest.mark.parametrize("signature", ["v1", "v1,abc", "v1,@@@@", "v1," + "A" * 5000])
def test_a_malformed_signature_header_is_a_counted_401_and_never_reaches_the_vendor(deploy, control, capsys, signature):
    function = deploy(ROUTES[1].function)
    headers = {"webhook-id": "msg_1", "webhook-timestamp": "1800000000", "webhook-signature": signature}

    status, answer = reply(function.invoke(ROUTES[1].event(headers)))

    assert status == 401 and answer["error"]["failure"] == "unauthenticated"
    assert "UnauthenticatedCalls" in emitted_metrics(capsys)
    assert ROUTES[1].calls(control) == []


@pytest.mark.parametrize(
    "secret",
    [
        {"signing_secrets": ["not base64 at all"]},
        {"signing_secrets": ["whsec_"], "bearer_tokens": [LOCAL_BEARER_TOKEN]},
        {"bearer_tokens": [""]},
        {"bearer_tokens": [LOCAL_BEARER_TOKEN], "unexpected": True},
    ],
    ids=["not-base64", "empty-key", "empty-token", "unknown-key"],
)
def test_a_bad_webhook_secret_is_a_generic_503_for_every_caller_and_an_alarmed_misconfiguration(
    deploy, stack, control, capsys, logs, secret
):
    function = deploy(ROUTES[0].function)
    put_secret(stack.endpoint_url, f"{secret_prefix(stack)}/webhook", secret)
    body = json.dumps(ROUTES[0].body)

    for headers in (BEARER, signed(body)):
        response = function.invoke(ROUTES[0].event(headers, body))
        status, answer = reply(response)
        assert status == 503 and response["headers"]["Retry-After"] == "30"
        assert answer["error"]["message"] == "the service is unavailable right now; retry later"
    assert "AuthenticationUnavailable" in emitted_metrics(capsys)
    assert "is not a valid webhook secret" in logs.getvalue()
    assert ROUTES[0].calls(control) == []


def test_a_missing_webhook_secret_tells_an_unauthenticated_caller_nothing(deploy, stack, control, logs):
    function = deploy(ROUTES[2].function)
    name = f"{secret_prefix(stack)}/webhook"
    secretsmanager_client(stack.endpoint_url).delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)

    response = function.invoke(ROUTES[2].event({"Authorization": "Bearer guess"}))

    assert response["statusCode"] == 503
    for hidden in (name, "ResourceNotFound", "secret", "webhook"):
        assert hidden not in response["body"]
    assert name in logs.getvalue()  # the operator learns which secret
    assert ROUTES[2].calls(control) == []


# ---------------------------------------------------------------------------------------------- callers


@pytest.fixture
def callers(stack) -> None:
    put_secret(
        stack.endpoint_url,
        f"{secret_prefix(stack)}/webhook",
        {
            "callers": [
                {
                    "name": "erp-prod",
                    "bearer_tokens": [ERP_TOKEN],
                    "functions": ["ProcorePcoSyncFunction"],
                    "connections": ["default"],
                },
                {"name": "ops", "signing_secrets": [OPS_KEY], "functions": ["*"], "connections": ["*"]},
            ]
        },
    )


def test_a_caller_reaches_what_its_entry_allows(deploy, control, callers):
    procore, prime = deploy(ROUTES[0].function), deploy(ROUTES[1].function)
    erp = {"Authorization": f"Bearer {ERP_TOKEN}", "Content-Type": "application/json"}
    body = json.dumps(ROUTES[1].body)

    assert reply(procore.invoke(ROUTES[0].event(erp)))[0] == 200
    assert reply(prime.invoke(ROUTES[1].event(signed(body, secret=OPS_KEY), body)))[0] == 201


@pytest.mark.parametrize(
    ("route", "query"),
    [(ROUTES[1], {}), (ROUTES[0], {"connection": "other"})],
    ids=["another-function", "another-connection"],
)
def test_a_caller_out_of_its_reach_is_403_and_the_vendor_is_not_called(deploy, control, callers, capsys, route, query):
    function = deploy(route.function)
    erp = {"Authorization": f"Bearer {ERP_TOKEN}", "Content-Type": "application/json"}

    status, answer = reply(function.invoke(route.event(erp, query=query)))

    assert status == 403 and answer["error"]["failure"] == "forbidden"
    assert "ForbiddenCalls" in emitted_metrics(capsys)
    assert route.calls(control) == []


# ---------------------------------------------------------------------------------------------- replays


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_a_signed_webhook_sent_three_times_reaches_the_vendor_once(deploy, control, route):
    function = deploy(route.function)
    body = json.dumps(route.body)
    # A re-sent webhook keeps its id and body and is signed again with a fresh timestamp.
    replies = [reply(function.invoke(route.event(signed(body, "msg_replayed"), body))) for _ in range(3)]

    assert replies[0][0] in (200, 201)
    assert replies[1:] == [replies[0], replies[0]]
    assert len(route.calls(control)) == 1


def test_the_same_webhook_id_from_two_callers_is_two_requests(deploy, control, stack):
    # Keys are scoped to the caller: another caller's reply is never handed out.
    put_secret(
        stack.endpoint_url,
        f"{secret_prefix(stack)}/webhook",
        {
            "callers": [
                {"name": "a", "signing_secrets": [LOCAL_SIGNING_SECRET], "functions": ["*"], "connections": ["*"]},
                {"name": "b", "signing_secrets": [OPS_KEY], "functions": ["*"], "connections": ["*"]},
            ]
        },
    )
    function = deploy(ROUTES[0].function)
    body = json.dumps(pco("shared-id"))
    for secret in (LOCAL_SIGNING_SECRET, OPS_KEY):
        assert reply(function.invoke(ROUTES[0].event(signed(body, "msg_same", secret), body)))[0] == 200
    assert len(ROUTES[0].calls(control)) == 2


# ---------------------------------------------------------------------------------------------- AWS down


CLOSED_PORT = "http://127.0.0.1:9"


def test_dynamodb_unreachable_with_an_idempotency_key_is_503_with_retry_after_and_nothing_sent(
    deploy, control, monkeypatch
):
    function = deploy(ROUTES[1].function)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", CLOSED_PORT)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    function.new_container()

    response = function.invoke(ROUTES[1].event({**BEARER, "Idempotency-Key": "order-1"}))

    assert response["statusCode"] == 503 and int(response["headers"]["Retry-After"]) > 0
    assert ROUTES[1].calls(control) == []


def test_secrets_manager_unreachable_is_a_generic_503(deploy, control, monkeypatch):
    function = deploy(ROUTES[0].function)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", CLOSED_PORT)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    function.new_container()

    response = function.invoke(ROUTES[0].event(BEARER))

    assert response["statusCode"] == 503 and response["headers"]["Retry-After"] == "30"
    assert "secret" not in response["body"]
    assert ROUTES[0].calls(control) == []


# ---------------------------------------------------------------------------------------------- hostile input


HOSTILE_BODIES = {
    "deep": "[" * 200_000 + "]" * 200_000,
    "huge-exponent": '{"updates": [{"origin_id": "x", "title": 1e100000000}]}',
    "long-number": '{"updates": [{"origin_id": "x", "schedule_impact_amount": ' + "9" * 5000 + "}]}",
    "not-json": "{'updates': nope",
}


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
@pytest.mark.parametrize("hostile", HOSTILE_BODIES, ids=list(HOSTILE_BODIES))
def test_a_hostile_api_body_is_a_400_naming_the_body_and_nothing_is_sent(deploy, control, route, hostile):
    function = deploy(route.function)

    status, answer = reply(function.invoke(route.event(BEARER, HOSTILE_BODIES[hostile])))

    assert status == 400 and answer["error"]["failure"] == "invalid_input"
    assert answer["error"]["problems"][0]["field"].startswith("body")
    assert route.calls(control) == []


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_a_body_that_is_not_utf8_is_invalid_input(deploy, control, route):
    function = deploy(route.function)
    event = route.event(BEARER)
    event.update(body=base64.b64encode(b'{"x": "\xff\xfe"}').decode(), isBase64Encoded=True)

    status, answer = reply(function.invoke(event))

    assert status == 400 and answer["error"]["problems"] == [{"field": "body", "message": "must be UTF-8 text"}]
    assert route.calls(control) == []


QUEUED = {
    "ProcorePcoSyncFunction": {"company_id": COMPANY, "project_id": PROJECT, "contract_id": CONTRACT, **pco("q-ok")},
    "PrimeChangeOrderSovBatchFunction": {"items": [sov("Queued steel")]},
    "ConstructionOnlineChangeOrderUpdateFunction": {"id": 1234567, "coInfo": {"NOTES": "queued"}},
}


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_each_poison_message_is_dead_lettered_alone_with_its_reason_and_its_neighbours_delivered(
    deploy, control, route
):
    function = deploy(route.function)
    poison = [
        "[" * 200_000 + "]" * 200_000,
        '{"id": 1e100000000, "items": [], "coInfo": {"PRICE": 1e100000000}}',
        "not json at all",
    ]
    function.send(QUEUED[route.function], *poison)

    _, failed = function.deliver()

    assert failed == []
    assert len(route.calls(control)) == 1
    dead = function.dead_letters()
    assert len(dead) == len(poison)
    assert {attributes_of(message)["error_class"] for message in dead} == {"invalid_input"}


# ---------------------------------------------------------------------------------------------- vendor answers


PARENT = {
    "workspaceCode": "WS-1",
    "projectCode": "PRJ-1",
    "changeOrderCode": "CO-7",
    "associatedAgreementCode": "AG-1",
    "changeOrderType": "CONTRACT",
    "changeOrderLineItemCode": "LI-3",
}


def fault(control, **rule: Any) -> None:
    control.post("/_sandbox/faults", json={"count": 1, **rule}).raise_for_status()


def stored(control, path: str, key: str) -> list[dict[str, Any]]:
    return list(control.get(path).json()[key])


@pytest.mark.parametrize("shape", ["html", "truncated", "wrong_shape", "empty_object"])
def test_prime_a_created_batch_answered_outside_the_contract_is_looked_up_not_created_twice(deploy, control, shape):
    prime = deploy(ROUTES[1].function)
    fault(control, route="prime.batch", kind="malformed", shape=shape, applied=True)
    prime.send({"items": [{**sov("Malformed answer"), **PARENT}]})

    _, failed = prime.deliver()

    assert failed == [] and prime.dead_letters() == []
    assert [s["name"] for s in stored(control, "/_sandbox/prime/sovs", "sovs")] == ["Malformed answer"]
    assert len(ROUTES[1].calls(control)) == 1  # found by the look-up, not sent again


def redeliver_soon(monkeypatch, function) -> None:
    """A one-second backoff, so that a retried record comes back within the test."""
    monkeypatch.setenv("RETRY_BACKOFF_BASE_SECONDS", "0.1")
    function.new_container()


def deliver_until(function, predicate, attempts: int = 10) -> None:
    for _ in range(attempts):
        function.deliver()
        if predicate():
            return
        time.sleep(0.5)


@pytest.mark.parametrize("route", [ROUTES[0], ROUTES[2]], ids=["procore", "constructiononline"])
def test_an_upsert_answered_outside_the_contract_is_transient_and_its_retry_lands(deploy, control, monkeypatch, route):
    function = deploy(route.function)
    redeliver_soon(monkeypatch, function)
    fault(control, route=route.write, kind="malformed", shape="wrong_shape", applied=True)
    function.send(QUEUED[route.function])

    _, failed = function.deliver()
    assert len(failed) == 1  # retried, not dead-lettered: the resend is an upsert or the same PUT
    deliver_until(function, lambda: len(route.calls(control)) == 2)

    assert len(route.calls(control)) == 2
    assert function.visible() == [] and function.dead_letters() == []


# ConstructionOnline has no token endpoint: Basic credentials and the APIKey go on every call.
@pytest.mark.parametrize("route", ROUTES[:2], ids=IDS[:2])
def test_a_token_reply_without_a_token_is_a_misconfiguration_retried_not_a_crash(deploy, control, route):
    function = deploy(route.function)
    token_route = {"procore": "procore.token", "prime": "prime.token"}[route.vendor]
    fault(control, route=token_route, kind="malformed", shape="wrong_shape", applied=True)
    fault(control, route=token_route, kind="malformed", shape="wrong_shape", applied=True)
    function.send(QUEUED[route.function])

    _, failed = function.deliver()

    assert len(failed) == 1 and function.dead_letters() == []
    assert route.calls(control) == []


# ---------------------------------------------------------------------------------------------- retry budget


def test_a_record_failing_through_an_outage_is_retried_while_the_budget_lasts_then_dead_lettered_with_why(
    deploy, control, monkeypatch
):
    procore = deploy(ROUTES[0].function)
    # Each delivery spends a few seconds on the vendor's own retries inside the invocation.
    monkeypatch.setenv("RETRY_BUDGET_SECONDS", "10")
    redeliver_soon(monkeypatch, procore)
    control.post(
        "/_sandbox/faults", json={"route": "procore.sync", "kind": "outage", "duration_ms": 60_000}
    ).raise_for_status()
    procore.send(QUEUED[ROUTES[0].function])

    _, failed = procore.deliver()
    assert len(failed) == 1 and procore.dead_letters() == []  # young: retried
    time.sleep(6)
    deliver_until(procore, lambda: bool(procore.dead_letters()))

    [dead] = procore.dead_letters()
    reason = attributes_of(dead)
    assert reason["error_class"] == "transient"
    assert "the retry budget is 10 s" in reason["error_message"]
