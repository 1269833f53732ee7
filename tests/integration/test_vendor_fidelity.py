"""What the real vendors answer and the first sandbox never did (vendor-contracts, "Added after a second read")."""

from __future__ import annotations

import json

import pytest

from devkit.aws import put_secret
from devkit.local_secrets import LOCAL_BEARER_TOKEN, secret_prefix, seed_prime_connection
from tests.integration.conftest import api_event, reply, vendor_requests

pytestmark = pytest.mark.integration

PRIME_ROUTE = "/prime/primeapi/restapi/changeOrderSOV/batch"
BEARER = {"Authorization": f"Bearer {LOCAL_BEARER_TOKEN}", "Content-Type": "application/json"}


@pytest.fixture
def prime(deploy):
    return deploy("PrimeChangeOrderSovBatchFunction")


def sov(name: str) -> dict:
    return {"changeOrderLineItemId": 40021, "name": name, "sovType": "LUMP_SUM", "changeOrderSovCost": {"total": 10}}


def prime_connection(stack, sandbox, control, name: str, token_shape: str, prefix: str = "/primeapi/restapi") -> None:
    seed_prime_connection(stack, control, name, token_shape)
    if prefix != "/primeapi/restapi":
        secret = {
            "username": f"{name}@sandbox.example",
            "password": f"{name}-password",
            "base_url": sandbox.url,
            "api_path_prefix": prefix,
        }
        put_secret(stack.endpoint_url, f"{secret_prefix(stack)}/prime/{name}", secret)


@pytest.mark.parametrize("token_shape", ["current", "older"])
def test_prime_delivers_through_either_token_reply_shape(prime, stack, sandbox, control, token_shape):
    prime_connection(stack, sandbox, control, token_shape, token_shape)
    event = api_event("POST", PRIME_ROUTE, json.dumps([sov("Steel")]), BEARER, {"connection": token_shape})

    status, created = reply(prime.invoke(event))

    assert status == 201 and [s["name"] for s in created] == ["Steel"]
    [call] = vendor_requests(control, "prime", "prime.batch")
    expected = {"x-prime-tenant", "x-prime-identity-app"}
    if token_shape == "current":
        expected |= {"x-prime-tenant-code", "x-prime-region"}
    assert expected <= {name.lower() for name in call["headers"]}


def test_a_queued_record_on_an_older_shape_connection_is_delivered(prime, stack, sandbox, control):
    prime_connection(stack, sandbox, control, "legacy", "older")
    prime.send({"connection": "legacy", "items": [sov("Bolts")]})

    _, failed = prime.deliver()

    assert failed == [] and prime.dead_letters() == []
    assert [s["name"] for s in control.get("/_sandbox/prime/sovs").json()["sovs"]] == ["Bolts"]


def test_a_404_on_the_api_path_prefix_is_one_misconfiguration_not_a_rejection_per_item(prime, stack, sandbox, control):
    prime_connection(stack, sandbox, control, "misprefixed", "current", prefix="/primeapi/wrong")
    items = [sov(name) for name in ("Steel", "Bolts", "Nuts", "Paint")]
    event = api_event("POST", PRIME_ROUTE, json.dumps(items), BEARER, {"connection": "misprefixed"})

    status, answer = reply(prime.invoke(event))

    assert status == 500 and answer["error"]["failure"] == "misconfiguration"
    assert "api_path_prefix" in answer["error"]["message"]
    # Sent once, not split item by item as a rejected batch would be.
    assert len(misprefixed_calls(control)) == 1
    assert control.get("/_sandbox/prime/sovs").json()["sovs"] == []


def test_a_queued_record_on_a_misprefixed_connection_is_retried_as_a_misconfiguration(prime, stack, sandbox, control):
    prime_connection(stack, sandbox, control, "misprefixed", "current", prefix="/primeapi/wrong")
    prime.send({"connection": "misprefixed", "items": [sov("Steel"), sov("Bolts")]})

    _, failed = prime.deliver()

    assert len(failed) == 1 and prime.dead_letters() == []  # retried: an operator fixes the secret
    assert len(misprefixed_calls(control)) == 1


def misprefixed_calls(control) -> list[dict]:
    requests = control.get("/_sandbox/requests").json()["requests"]
    return [r for r in requests if r["path"].startswith("/primeapi/wrong/")]


PROCORE_ROUTE = "/procore/rest/v1.0/potential_change_orders/sync"


def test_procore_refuses_an_origin_id_of_another_project_per_item_and_the_function_reports_it(deploy, control):
    procore = deploy("ProcorePcoSyncFunction")
    headers = {**BEARER, "Procore-Company-Id": "7"}

    def sync(project: int, *updates: dict) -> tuple[int, dict]:
        query = {"project_id": str(project), "contract_id": "3"}
        return reply(procore.invoke(api_event("PATCH", PROCORE_ROUTE, {"updates": list(updates)}, headers, query)))

    assert sync(1, {"origin_id": "erp-1", "title": "North"})[0] == 200
    status, answer = sync(2, {"origin_id": "erp-1", "title": "South"}, {"origin_id": "erp-2", "title": "East"})

    # Procore's per-item detail inside its 200, as the vendor answers it: the other item was stored.
    assert status == 200
    assert answer["errors"] == [
        {"origin_id": "erp-1", "title": "South", "errors": {"origin_id": ["has already been taken"]}}
    ]
    assert [entity["origin_id"] for entity in answer["entities"]] == ["erp-2"]


PARENT = {
    "workspaceCode": "WS",
    "projectCode": "PRJ",
    "changeOrderCode": "CO-1",
    "associatedAgreementCode": "AG",
    "changeOrderType": "CONTRACT",
    "changeOrderLineItemCode": "LI-1",
}

# Valid for the function, refused by Oracle: a line item it does not hold.
UNKNOWN_LINE_ITEM = 99_999


def partial_batches(control, answer: str) -> None:
    config = {"prime": {"partial_batches": answer, "known_line_item_ids": [40021]}}
    control.post("/_sandbox/config", json=config).raise_for_status()


def test_a_207_s_created_items_are_created_and_its_refused_item_rejected_alone(prime, control):
    partial_batches(control, "multi_status")
    items = [sov("Steel"), {**sov("Bad"), "changeOrderLineItemId": UNKNOWN_LINE_ITEM}, sov("Bolts")]
    event = api_event("POST", PRIME_ROUTE, json.dumps(items), BEARER)

    status, answer = reply(prime.invoke(event))

    assert status == 422
    assert [created["name"] for created in answer["partial"]["created"]] == ["Steel", "Bolts"]
    assert [(r["index"], r["name"]) for r in answer["partial"]["rejected"]] == [(1, "Bad")]
    assert len(vendor_requests(control, "prime", "prime.batch")) == 1  # nothing resent
    assert [s["name"] for s in control.get("/_sandbox/prime/sovs").json()["sovs"]] == ["Steel", "Bolts"]


def test_a_207_that_does_not_say_which_item_is_which_is_looked_up_and_the_created_never_resent(prime, control):
    partial_batches(control, "multi_status_unattributed")
    items = [{**sov("Steel"), **PARENT}, {**sov("Bad"), **PARENT, "changeOrderLineItemId": UNKNOWN_LINE_ITEM}]
    event = api_event("POST", PRIME_ROUTE, json.dumps(items), BEARER)

    status, answer = reply(prime.invoke(event))

    # Steel was found by the look-up; Bad, not found, was sent once more alone and refused by its own 400.
    assert status == 422
    assert [created["name"] for created in answer["partial"]["created"]] == ["Steel"]
    assert [(r["index"], r["name"]) for r in answer["partial"]["rejected"]] == [(1, "Bad")]
    assert [[i["name"] for i in call["body"]] for call in vendor_requests(control, "prime", "prime.batch")] == [
        ["Steel", "Bad"],
        ["Bad"],
    ]
    assert [s["name"] for s in control.get("/_sandbox/prime/sovs").json()["sovs"]] == ["Steel"]
