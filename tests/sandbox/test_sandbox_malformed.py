"""Malformed-2xx faults: the vendor answers success with a body that breaks its contract, applied or not."""

import base64
import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest

PRIME_TOKEN_PATH = "/primediscovery/apitoken/request"
PRIME_BATCH_PATH = "/primeapi/restapi/changeOrderSOV/batch"
PRIME_READ_PATH = (
    "/primeapi/restapi/changeOrderSOV/workspace/W/project/P/changeOrder/C"
    "/associatedAgreement/A/type/CONTRACT/lineItem/L"
)
PRIME_USER = ("sandbox-user", "sandbox-password")
PRIME_ITEM = {"changeOrderLineItemId": 1, "name": "A", "sovType": "LUMP_SUM", "changeOrderSovCost": {"total": 5}}
CO_SEEDED = 1234567
CO_HEADERS = {
    "Authorization": "Basic " + base64.b64encode(b"sandbox@example.com:sandbox-password").decode(),
    "APIKey": "sandbox-api-key",
}


def is_json(content: bytes) -> bool:
    try:
        json.loads(content)
    except ValueError:
        return False
    return True


def prime_token(http: httpx.Client) -> httpx.Response:
    return http.post(PRIME_TOKEN_PATH, params={"scope": f"http://{http.base_url.host}/api"}, auth=PRIME_USER)


def prime_headers(http: httpx.Client) -> dict[str, str]:
    answer = prime_token(http).json()
    return {
        "Authorization": f"Bearer {answer['access_token']}",
        "x-prime-tenant-code": answer["primeTenantCode"],
        **answer["requestHeaders"],
    }


def prime_batch(http: httpx.Client, items: list[dict[str, Any]]) -> httpx.Response:
    return http.post(PRIME_BATCH_PATH, json=items, headers=prime_headers(http))


def co_update(http: httpx.Client, notes: str) -> httpx.Response:
    query = "coInfo=" + quote(json.dumps({"NOTES": notes}), safe="")
    return http.put(f"/api/ChangeOrders/{CO_SEEDED}?{query}", headers=CO_HEADERS)


def co_notes(http: httpx.Client) -> object:
    records = http.get("/_sandbox/constructiononline/change-orders").json()["change_orders"]
    return next(record["NOTES"] for record in records if record["ID"] == CO_SEEDED)


def test_malformed_rule_defaults_to_an_applied_html_page(procore) -> None:
    added = procore.add_fault(route="procore.sync", kind="malformed", count=1)

    assert added == {
        "id": 1,
        "route": "procore.sync",
        "kind": "malformed",
        "count": 1,
        "shape": "html",
        "applied": True,
    }


@pytest.mark.parametrize(
    ("shape", "content_type", "body"),
    [
        ("html", "text/html; charset=utf-8", None),
        ("truncated", "application/json", None),
        ("empty", "application/json", b""),
        ("empty_object", "application/json", b"{}"),
        ("wrong_shape", "application/json", b'{"entities": "x"}'),
    ],
)
def test_applied_malformed_answer_stores_the_pcos_and_answers_200_off_contract(
    procore, shape: str, content_type: str, body: bytes | None
) -> None:
    token = procore.token()
    procore.add_fault(route="procore.sync", kind="malformed", shape=shape, count=1)

    response = procore.sync([{"origin_id": "kept"}], token=token)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    if body is not None:
        assert response.content == body
    if shape in ("html", "truncated"):
        assert not is_json(response.content)
    assert "X-Rate-Limit-Limit" in response.headers  # the vendor's own answer, with its body replaced
    assert [pco["origin_id"] for pco in procore.pcos()] == ["kept"]
    assert (procore.requests()[-1]["status"], procore.requests()[-1]["fault"]) == (200, "malformed")


def test_truncated_applied_answer_is_the_first_half_of_the_real_one(procore) -> None:
    token = procore.token()
    procore.add_fault(route="procore.sync", kind="malformed", shape="truncated", count=1)

    response = procore.sync([{"origin_id": "kept"}], token=token)

    assert response.content.startswith(b'{"entities": [{')
    assert not is_json(response.content)


def test_malformed_answer_not_applied_stores_nothing(procore) -> None:
    token = procore.token()
    procore.add_fault(route="procore.sync", kind="malformed", shape="wrong_shape", applied=False, count=1)

    response = procore.sync([{"origin_id": "lost"}], token=token)

    assert (response.status_code, response.json()) == (200, {"entities": "x"})
    assert procore.pcos() == []


def test_a_refusal_is_not_dressed_up_as_a_success(procore) -> None:
    procore.add_fault(route="procore.sync", kind="malformed", shape="empty_object", count=1)

    response = procore.sync([{"origin_id": "a"}], token="not-a-token")

    assert (response.status_code, response.json()) == (401, {"errors": "The access token is invalid"})
    assert procore.requests()[-1]["fault"] == "malformed"


@pytest.mark.parametrize(("applied", "stored"), [(True, 1), (False, 0)])
def test_prime_batch_answers_201_with_an_object_instead_of_the_array(
    http: httpx.Client, applied: bool, stored: int
) -> None:
    http.post(
        "/_sandbox/faults",
        json={"route": "prime.batch", "kind": "malformed", "shape": "wrong_shape", "applied": applied, "count": 1},
    ).raise_for_status()

    response = prime_batch(http, [PRIME_ITEM])

    assert (response.status_code, response.json()) == (201, {"ok": True})
    assert len(http.get("/_sandbox/prime/sovs").json()["sovs"]) == stored


@pytest.mark.parametrize(("applied", "status", "content"), [(True, 204, b""), (False, 200, b'{"ok": true}')])
def test_a_bodiless_204_stays_as_it_is(http: httpx.Client, applied: bool, status: int, content: bytes) -> None:
    headers = prime_headers(http)
    http.post(
        "/_sandbox/faults",
        json={
            "route": "prime.sovs_by_parent",
            "kind": "malformed",
            "shape": "wrong_shape",
            "applied": applied,
            "count": 1,
        },
    ).raise_for_status()

    response = http.get(PRIME_READ_PATH, headers=headers)

    assert (response.status_code, response.content) == (status, content)


@pytest.mark.parametrize("applied", [True, False])
def test_constructiononline_update_answers_an_empty_array(http: httpx.Client, applied: bool) -> None:
    before = co_notes(http)
    http.post(
        "/_sandbox/faults",
        json={
            "route": "constructiononline.update",
            "kind": "malformed",
            "shape": "wrong_shape",
            "applied": applied,
            "count": 1,
        },
    ).raise_for_status()

    response = co_update(http, "garbled")

    assert (response.status_code, response.json()) == (200, [])
    assert co_notes(http) == ("garbled" if applied else before)


def test_procore_token_answer_without_the_token(procore) -> None:
    procore.add_fault(route="procore.token", kind="malformed", shape="wrong_shape", count=1)

    response = procore.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "sandbox-client", "client_secret": "sandbox-secret"},
    )

    assert response.status_code == 200
    assert response.json() == {"token_type": "bearer", "expires_in": 5400}
    assert procore.token()  # the next request gets a real one


def test_prime_token_answer_without_either_token_name(http: httpx.Client) -> None:
    http.post(
        "/_sandbox/faults", json={"route": "prime.token", "kind": "malformed", "shape": "wrong_shape", "count": 1}
    ).raise_for_status()

    response = prime_token(http)

    assert response.status_code == 200
    assert {"accessToken", "access_token"}.isdisjoint(response.json())
    assert response.json()["token_type"] == "Bearer"


@pytest.mark.parametrize(
    "rule",
    [
        {"route": "procore.sync", "kind": "malformed", "count": 1, "shape": "xml"},
        {"route": "procore.sync", "kind": "malformed", "count": 1, "shape": 3},
        {"route": "procore.sync", "kind": "malformed", "count": 1, "applied": "no"},
        {"route": "procore.sync", "kind": "malformed", "count": 1, "status": 200},
        {"route": "procore.sync", "kind": "malformed", "shape": "html"},
    ],
)
def test_invalid_malformed_rules_are_refused(http: httpx.Client, rule: dict[str, Any]) -> None:
    response = http.post("/_sandbox/faults", json=rule)

    assert response.status_code == 400
    assert response.json()["error"]
    assert http.get("/_sandbox/faults").json() == {"faults": []}
