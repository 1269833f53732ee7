"""Primavera Cloud change-order SOVs over real HTTP to the sandbox and a real moto server."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from connectors.models.exact_json import dumps_exact
from devkit.aws import put_secret
from devkit.local_secrets import LOCAL_BEARER_TOKEN, SANDBOX_PRIME_USER, secret_prefix
from tests.integration.conftest import api_event, attributes_of, reply, vendor_requests

pytestmark = pytest.mark.integration

ROUTE = "/prime/primeapi/restapi/changeOrderSOV/batch"
BEARER = {"Authorization": f"Bearer {LOCAL_BEARER_TOKEN}", "Content-Type": "application/json"}
TENANT_HEADERS = {"x-prime-tenant-code", "x-prime-tenant", "x-prime-identity-app", "x-prime-region"}


@pytest.fixture
def prime(deploy):
    return deploy("PrimeChangeOrderSovBatchFunction")


def item(name, line_item=40021, total="1000.00", **extra):
    return {
        "changeOrderLineItemId": line_item,
        "name": name,
        "sovType": "LUMP_SUM",
        "changeOrderSovCost": {"total": Decimal(total)},
        **extra,
    }


def body(*items):
    # Decimal money must reach the wire as written: serialise it the way a careful caller would.
    return dumps_exact(list(items))


def batch_event(text, query=None):
    return api_event("POST", ROUTE, text, BEARER, query)


def batches(control):
    return vendor_requests(control, "prime", "prime.batch")


def created(control):
    return json.loads(control.get("/_sandbox/prime/sovs").text, parse_float=Decimal)["sovs"]


def test_a_batch_is_created_with_money_exact(prime, control):
    status, answer = reply(prime.invoke(batch_event(body(item("Steel", total="12345678901234.57"), item("Bolts")))))
    assert status == 201
    assert [a["name"] for a in answer] == ["Steel", "Bolts"] and all(a["sovId"] > 2**53 for a in answer)
    stored = created(control)
    assert [s["changeOrderSovCost"]["total"] for s in stored] == [Decimal("12345678901234.57"), Decimal("1000.00")]


def test_one_bad_item_among_good_ones_is_reported_by_name_and_the_good_ones_created(prime, control):
    control.post("/_sandbox/config", json={"prime": {"known_line_item_ids": [1, 2, 3, 4]}})
    items = [item("good-1", 1), item("good-2", 2), item("unknown line item", 999), item("good-3", 3)]
    status, answer = reply(prime.invoke(batch_event(body(*items))))
    assert status == 422 and answer["error"]["failure"] == "vendor_rejected"
    assert [r["name"] for r in answer["partial"]["rejected"]] == ["unknown line item"]
    assert "Invalid input for the Change Order SOV service" in answer["partial"]["rejected"][0]["message"]
    assert sorted(s["name"] for s in created(control)) == ["good-1", "good-2", "good-3"]
    assert len(batches(control)) > 1  # the rejected batch was split to find the bad item


def test_sqs_the_record_carrying_the_bad_item_goes_to_the_dlq_with_the_reason(prime, control):
    control.post("/_sandbox/config", json={"prime": {"known_line_item_ids": [1, 2]}})
    prime.send({"items": [item("fine", 1)]}, {"items": [item("ghost", 77)]}, {"items": [item("also fine", 2)]})
    _, failed = prime.deliver()
    assert failed == []
    [dead] = prime.dead_letters()
    attributes = attributes_of(dead)
    assert attributes["error_class"] == "vendor_rejected" and "items[0] ('ghost')" in attributes["error_message"]
    assert json.loads(dead["Body"])["items"][0]["name"] == "ghost"
    assert sorted(s["name"] for s in created(control)) == ["also fine", "fine"]


def test_read_only_fields_are_refused_before_any_call(prime, control):
    status, answer = reply(prime.invoke(batch_event(body(item("x", cbsCode="01.02", link="https://x")))))
    assert status == 400
    assert "cbsCode (read-only)" in answer["error"]["message"] and "link (read-only)" in answer["error"]["message"]
    assert answer["error"]["problems"][0]["field"] == "body[0]"
    assert batches(control) == [] and vendor_requests(control, "prime", "prime.token") == []


def test_an_expired_token_is_renewed_once(prime, control):
    assert reply(prime.invoke(batch_event(body(item("a")))))[0] == 201
    control.post("/_sandbox/prime/expire-tokens")
    assert reply(prime.invoke(batch_event(body(item("b")))))[0] == 201
    assert [r["status"] for r in batches(control)] == [201, 401, 201]
    assert len(vendor_requests(control, "prime", "prime.token")) == 2


def test_429_then_success(prime, control):
    control.post("/_sandbox/config", json={"prime": {"requests_per_second": 1}})
    assert reply(prime.invoke(batch_event(body(item("a")))))[0] == 201
    assert reply(prime.invoke(batch_event(body(item("b")))))[0] == 201
    assert [r["status"] for r in batches(control)] == [201, 429, 201]


def test_the_tenant_headers_are_on_every_call(prime, control):
    prime.invoke(batch_event(body(item("a"))))
    control.post("/_sandbox/prime/expire-tokens")
    prime.invoke(batch_event(body(item("b"))))
    calls = batches(control)
    assert len(calls) == 3
    assert all(set(call["headers"]) >= TENANT_HEADERS for call in calls)
    assert all(call["headers"]["x-prime-tenant-code"] == "SBX01" for call in calls)


def test_the_current_api_path_prefix_is_a_per_connection_setting(prime, control, stack, sandbox):
    secret = {**SANDBOX_PRIME_USER, "base_url": sandbox.url, "api_path_prefix": "/api/restapi"}
    put_secret(stack.endpoint_url, f"{secret_prefix(stack)}/prime/current", secret)
    status, _ = reply(prime.invoke(batch_event(body(item("a")), {"connection": "current"})))
    assert status == 201
    assert [c["path"] for c in batches(control)] == ["/api/restapi/changeOrderSOV/batch"]


def test_a_timeout_after_sending_a_create_is_an_unknown_outcome_not_a_blind_resend(prime, control):
    control.post("/_sandbox/faults", json={"route": "prime.batch", "kind": "timeout", "count": 1, "delay_ms": 2500})
    status, answer = reply(prime.invoke(batch_event(body(item("maybe")))))
    assert status == 504 and answer["error"]["failure"] == "unknown_outcome"
    assert len(batches(control)) == 1  # not resent: a second create could duplicate it
