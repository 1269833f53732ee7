"""Primavera Cloud "View a Change Order SOV by Parent": what it finds, and the batch route's checks and faults."""

import json
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
import pytest

TOKEN_PATH = "/primediscovery/apitoken/request"
PREFIXES = ["/primeapi/restapi", "/api/restapi"]
PARENT = {
    "workspaceCode": "Main WS/2",  # a space and a slash: each code is one percent-encoded path segment
    "projectCode": "PRJ",
    "changeOrderCode": "CO-7",
    "associatedAgreementCode": "AG-1",
    "changeOrderType": "COMMITMENT",
    "changeOrderLineItemCode": "LI-3",
}


def item(name: str, **fields: Any) -> dict[str, Any]:
    return {
        "changeOrderLineItemId": 40021,
        "changeOrderSovCost": {"total": 1000},
        "name": name,
        "sovType": "LUMP_SUM",
        **PARENT,
        **fields,
    }


def read_path(prefix: str = PREFIXES[0], **codes: str) -> str:
    values = {**PARENT, **codes}
    segments = [
        ("workspace", values["workspaceCode"]),
        ("project", values["projectCode"]),
        ("changeOrder", values["changeOrderCode"]),
        ("associatedAgreement", values["associatedAgreementCode"]),
        ("type", values["changeOrderType"]),
        ("lineItem", values["changeOrderLineItemCode"]),
    ]
    return prefix + "/changeOrderSOV" + "".join(f"/{name}/{quote(value, safe='')}" for name, value in segments)


def tenant_headers(http: httpx.Client) -> dict[str, str]:
    answer = http.post(
        TOKEN_PATH, params={"scope": f"http://{http.base_url.host}/api"}, auth=("sandbox-user", "sandbox-password")
    ).json()
    return {
        "Authorization": f"Bearer {answer['access_token']}",
        "x-prime-tenant-code": answer["primeTenantCode"],
        **answer["requestHeaders"],
    }


def create(http: httpx.Client, headers: dict[str, str], *items: dict[str, Any]) -> list[dict[str, Any]]:
    response = http.post(PREFIXES[0] + "/changeOrderSOV/batch", json=list(items), headers=headers)
    assert response.status_code == 201, response.text
    created: list[dict[str, Any]] = response.json()
    return created


def read(http: httpx.Client, path: str, headers: dict[str, str]) -> httpx.Response:
    return http.get(path, headers=headers)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_the_sovs_of_one_parent_come_back_as_created_in_creation_order(http: httpx.Client, prefix: str) -> None:
    headers = tenant_headers(http)
    first = create(http, headers, item("a"), item("elsewhere", changeOrderLineItemCode="LI-4"))[0]
    second = create(http, headers, item("b"), {k: v for k, v in item("no codes").items() if k not in PARENT})[0]

    response = read(http, read_path(prefix), headers)

    assert response.status_code == 200
    assert response.json() == [first, second]


def test_money_comes_back_with_its_exact_digits(http: httpx.Client) -> None:
    headers = tenant_headers(http)
    body = json.dumps([item("n")]).replace('"total": 1000', '"total": 12345678901234.57, "retainage": 1.50')
    sent = {**headers, "Content-Type": "application/json"}
    assert http.post(PREFIXES[1] + "/changeOrderSOV/batch", content=body, headers=sent).status_code == 201

    response = read(http, read_path(), headers)

    assert '"total":12345678901234.57' in response.text and '"retainage":1.50' in response.text
    assert json.loads(response.text, parse_float=Decimal)[0]["changeOrderSovCost"]["retainage"] == Decimal("1.50")


@pytest.mark.parametrize(
    "codes",
    [{}, {"changeOrderType": "CONTRACT"}, {"workspaceCode": "Main WS"}, {"changeOrderLineItemCode": "li-3"}],
    ids=["nothing-created", "other-agreement-type", "other-workspace", "codes-are-case-sensitive"],
)
def test_a_parent_without_sovs_is_204_with_no_content(http: httpx.Client, codes: dict[str, str]) -> None:
    headers = tenant_headers(http)
    if codes:
        create(http, headers, item("a"))

    response = read(http, read_path(**codes), headers)

    assert (response.status_code, response.content) == (204, b"")


def test_an_agreement_type_outside_the_enum_is_400(http: httpx.Client) -> None:
    response = read(http, read_path(changeOrderType="OWNER"), tenant_headers(http))

    assert response.status_code == 400
    assert response.json()["status"] == 400 and "agreementType" in response.json()["message"]


@pytest.mark.parametrize("drop", ["Authorization", "x-prime-tenant-code", "x-prime-region"])
def test_the_token_and_every_tenant_header_are_required(http: httpx.Client, drop: str) -> None:
    headers = {name: value for name, value in tenant_headers(http).items() if name != drop}

    response = read(http, read_path(), headers)

    assert response.status_code == 401 and response.json()["status"] == 401


def test_reads_and_creates_share_the_per_second_limit(http: httpx.Client) -> None:
    http.post("/_sandbox/config", json={"prime": {"requests_per_second": 1}}).raise_for_status()
    headers = tenant_headers(http)
    create(http, headers, item("a"))

    response = read(http, read_path(), headers)

    assert (response.status_code, response.text) == (429, "429- Too Many Requests")


def test_faults_and_the_request_log_name_the_read_route(http: httpx.Client) -> None:
    rule = {"route": "prime.sovs_by_parent", "kind": "status", "status": 503, "count": 1}
    assert http.post("/_sandbox/faults", json=rule).status_code == 201
    headers = tenant_headers(http)

    failed = read(http, read_path(), headers)
    answered = read(http, read_path(), headers)

    assert (failed.status_code, failed.json()) == (503, {"status": 503, "message": "Service Unavailable"})
    assert answered.status_code == 204
    log = http.get("/_sandbox/requests", params={"vendor": "prime"}).json()["requests"]
    reads = [entry for entry in log if entry["route"] == "prime.sovs_by_parent"]
    assert [(entry["method"], entry["status"], entry["fault"]) for entry in reads] == [
        ("GET", 503, "status"),
        ("GET", 204, None),
    ]
