"""Primavera Cloud change-order SOV batch create: strict validation, whole-batch rejection, exact money."""

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

TOKEN_PATH = "/primediscovery/apitoken/request"
BATCH_PATHS = ["/primeapi/restapi/changeOrderSOV/batch", "/api/restapi/changeOrderSOV/batch"]
INVALID_INPUT = {
    "status": 400,
    "errorCode": "PRM-004000021",
    "message": (
        "Invalid input for the Change Order SOV service. "
        "Verify the request contains valid data, then resubmit the request."
    ),
}
FIRST_SOV_ID = 2**53 + 1
INT64_MAX = 2**63 - 1
COST_FIELDS = [
    stem + suffix
    for stem in ("balanceRemaining", "retainage", "total", "unitPrice")
    for suffix in (
        "",
        "AssociatedAgreement",
        "Commitment",
        "Contract",
        "LineItem",
        "Project",
        "Workspace1",
        "Workspace2",
        "Workspace3",
    )
]


def item(name: str = "Steel", **fields: Any) -> dict[str, Any]:
    return {
        "changeOrderLineItemId": 40021,
        "changeOrderSovCost": {"total": 1000},
        "name": name,
        "sovType": "LUMP_SUM",
        **fields,
    }


def full_item() -> dict[str, Any]:
    """Every optional field of the seed, each with a value of its type."""
    return item(
        abbreviation="MAT",
        associatedAgreementCode="AG-1",
        changeOrderCode="CO-7",
        changeOrderId=INT64_MAX,
        changeOrderLineItemCode="LI-3",
        changeOrderType="COMMITMENT",
        costCategoryId=11,
        costCategoryName="Material",
        costSheetItemId=12,
        description="Extra steel",
        isSummarySOV=False,
        itemCode="IC-1",
        itemSuffix=0,
        parentChangeOrderSovCode="P-1",
        parentChangeOrderSovId=13,
        percentComplete=Decimal("12.5"),
        periodAppliedDate="2024-01-31T00:00:00Z",
        projectCode="PRJ",
        quantity=3,
        sovType="UNIT_PRICE",
        unitsOfMeasureCode="EA",
        unitsOfMeasureId=14,
        workspaceCode="WS",
        changeOrderSovCost={name: Decimal(f"{position}.25") for position, name in enumerate(COST_FIELDS)},
    )


def encode(value: Any) -> str:
    # Decimals go out as the number they spell (str() never rounds them).
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(key)}:{encode(inner)}" for key, inner in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(encode(inner) for inner in value) + "]"
    return json.dumps(value)


def tenant_headers(http: httpx.Client) -> dict[str, str]:
    answer = http.post(
        TOKEN_PATH, params={"scope": f"http://{http.base_url.host}/api"}, auth=("sandbox-user", "sandbox-password")
    ).json()
    return {
        "Authorization": f"Bearer {answer['access_token']}",
        "x-prime-tenant-code": answer["primeTenantCode"],
        **answer["requestHeaders"],
    }


def post_batch(
    http: httpx.Client, body: object, *, path: str = BATCH_PATHS[0], content_type: str = "application/json"
) -> httpx.Response:
    content = body if isinstance(body, bytes) else encode(body).encode()
    return http.post(path, content=content, headers={**tenant_headers(http), "Content-Type": content_type})


def exact(response: httpx.Response) -> Any:
    return json.loads(response.text, parse_float=Decimal)


def stored(http: httpx.Client) -> list[dict[str, Any]]:
    sovs: list[dict[str, Any]] = exact(http.get("/_sandbox/prime/sovs"))["sovs"]
    return sovs


def configure(http: httpx.Client, **prime: object) -> httpx.Response:
    return http.post("/_sandbox/config", json={"prime": prime})


# --- created ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", BATCH_PATHS)
def test_a_valid_batch_is_created_in_order_with_new_ids(http: httpx.Client, path: str) -> None:
    items = [item("first"), full_item(), item("third", changeOrderSovCost={})]

    response = post_batch(http, items, path=path)

    assert response.status_code == 201
    created = exact(response)
    ids = [FIRST_SOV_ID, FIRST_SOV_ID + 2, FIRST_SOV_ID + 4]
    assert [sov["sovId"] for sov in created] == ids
    assert [sov["changeOrderSovCost"]["changeOrderSovId"] for sov in created] == ids
    assert [sov["cbsCode"] for sov in created] == ["CBS-1", "CBS-2", "CBS-3"]
    for sent, answered in zip(items, created, strict=True):
        assert answered == {
            **sent,
            "sovId": answered["sovId"],
            "cbsCode": answered["cbsCode"],
            "changeOrderSovCost": {**sent["changeOrderSovCost"], "changeOrderSovId": answered["sovId"]},
        }
    assert stored(http) == created


def test_ids_go_on_across_batches_and_the_list_keeps_creation_order(http: httpx.Client) -> None:
    post_batch(http, [item("a"), item("b")])
    post_batch(http, [item("c")], path=BATCH_PATHS[1])

    sovs = stored(http)

    assert [(sov["name"], sov["sovId"]) for sov in sovs] == [
        ("a", FIRST_SOV_ID),
        ("b", FIRST_SOV_ID + 2),
        ("c", FIRST_SOV_ID + 4),
    ]


def test_money_keeps_its_exact_digits(http: httpx.Client) -> None:
    body = (
        b'[{"changeOrderLineItemId": 1, "name": "n", "sovType": "LUMP_SUM", "quantity": 0.1, '
        b'"changeOrderSovCost": {"total": 12345678901234.57, "unitPrice": 0.1, "retainage": 1.50, "totalProject": 7}}]'
    )

    response = post_batch(http, body)

    assert response.status_code == 201
    for text in (response.text, http.get("/_sandbox/prime/sovs").text):
        assert '"total":12345678901234.57' in text
        assert '"unitPrice":0.1,' in text
        assert '"retainage":1.50,' in text
        assert '"totalProject":7,' in text
        assert '"quantity":0.1,' in text


@pytest.mark.parametrize(
    "fields",
    [
        {"description": None, "changeOrderId": None, "isSummarySOV": None, "periodAppliedDate": None},
        {"changeOrderSovCost": {"total": None}},
        {"changeOrderLineItemId": INT64_MAX, "itemSuffix": -(2**63)},
        {"periodAppliedDate": "2024-01-31T10:15:00.123+01:00"},
        {"periodAppliedDate": "2024-01-31T10:15:00-0500"},
        {"periodAppliedDate": "2024-05-01T00:00:00"},  # as Oracle's examples write it, without an offset
        {"percentComplete": 50, "quantity": Decimal("-2.5")},
        {"name": "Ünïcode ✓"},
    ],
    ids=["optional-nulls", "null-cost", "int64-bounds", "offset", "offset-no-colon", "no-offset", "numbers", "unicode"],
)
def test_accepted_variants(http: httpx.Client, fields: dict[str, Any]) -> None:
    assert post_batch(http, [item(**fields)]).status_code == 201


# --- whole-batch rejection -------------------------------------------------------------------------------------


def without(name: str) -> dict[str, Any]:
    bad = item()
    del bad[name]
    return bad


def cost(**fields: Any) -> dict[str, Any]:
    return item(changeOrderSovCost={"total": 1, **fields})


INVALID_ITEMS: dict[str, object] = {
    "missing-line-item": without("changeOrderLineItemId"),
    "missing-cost": without("changeOrderSovCost"),
    "missing-name": without("name"),
    "missing-sov-type": without("sovType"),
    "null-name": {**item(), "name": None},
    "blank-name": item(name=" "),
    "name-not-string": {**item(), "name": 5},
    "sov-type-enum": item(sovType="LUMP"),
    "sov-type-lowercase": item(sovType="lump_sum"),
    "change-order-type-enum": item(changeOrderType="OWNER"),
    "string-field-number": item(description=5),
    "bool-field-string": item(isSummarySOV="true"),
    "bool-field-int": item(isSummarySOV=1),
    "id-as-string": item(changeOrderLineItemId="40021"),
    "id-as-float": item(changeOrderLineItemId=Decimal("40021.0")),
    "id-as-bool": item(changeOrderId=True),
    "id-above-int64": item(changeOrderId=2**63),
    "id-below-int64": item(unitsOfMeasureId=-(2**63) - 1),
    "quantity-string": item(quantity="3"),
    "percent-bool": item(percentComplete=True),
    "date-only": item(periodAppliedDate="2024-01-31"),
    "impossible-date": item(periodAppliedDate="2024-02-30T00:00:00Z"),
    "not-a-date": item(periodAppliedDate="yesterday"),
    "cost-not-object": item(changeOrderSovCost=[1]),
    "cost-null": item(changeOrderSovCost=None),
    "cost-string": cost(total="1000.00"),
    "cost-bool": cost(retainage=False),
    "cost-unknown-field": cost(grandTotal=1),
    "cost-read-only-link": cost(link="https://x"),
    "cost-read-only-update-date": cost(updateDate="2024-01-31T00:00:00Z"),
    "cost-sov-id-on-create": cost(changeOrderSovId=1),
    "read-only-cbs-code": item(cbsCode="01.02"),
    "read-only-link": item(link="https://x"),
    "read-only-update-date": item(updateDate="2024-01-31T00:00:00Z"),
    "sov-id-on-create": item(sovId=1),
    "unknown-field": item(colour="red"),
    "item-not-object": "Steel",
}


@pytest.mark.parametrize("bad", INVALID_ITEMS.values(), ids=INVALID_ITEMS.keys())
def test_one_invalid_item_rejects_the_whole_batch(http: httpx.Client, bad: object) -> None:
    response = post_batch(http, [item("good"), bad, item("also good")])

    assert response.status_code == 400
    assert response.json() == INVALID_INPUT
    assert stored(http) == []


@pytest.mark.parametrize(
    "body",
    [b"[]", b'{"name": "x"}', b"[{", b"", b'[{"changeOrderLineItemId": NaN}]'],
    ids=["empty-array", "object", "malformed", "no-body", "nan"],
)
def test_a_body_that_is_not_a_batch_is_invalid_input(http: httpx.Client, body: bytes) -> None:
    response = post_batch(http, body)

    assert response.status_code == 400
    assert response.json() == INVALID_INPUT


def test_a_body_that_is_not_json_is_415(http: httpx.Client) -> None:
    response = post_batch(http, [item()], content_type="text/plain")

    assert response.status_code == 415
    assert response.json() == {"status": 415, "message": "Unsupported Media Type"}
    assert stored(http) == []


def test_unknown_line_items_are_invalid_when_the_known_ones_are_configured(http: httpx.Client) -> None:
    assert configure(http, known_line_item_ids=[1, 2]).json()["prime"]["known_line_item_ids"] == [1, 2]

    rejected = post_batch(http, [item("a", changeOrderLineItemId=1), item("ghost", changeOrderLineItemId=3)])
    accepted = post_batch(http, [item("a", changeOrderLineItemId=1), item("b", changeOrderLineItemId=2)])

    assert (rejected.status_code, rejected.json()) == (400, INVALID_INPUT)
    assert accepted.status_code == 201
    assert [sov["name"] for sov in stored(http)] == ["a", "b"]


def test_more_items_than_the_batch_size_are_invalid(http: httpx.Client) -> None:
    configure(http, max_batch_size=2)

    too_many = post_batch(http, [item("a"), item("b"), item("c")])
    just_enough = post_batch(http, [item("a"), item("b")])

    assert (too_many.status_code, too_many.json()) == (400, INVALID_INPUT)
    assert just_enough.status_code == 201


# --- config, faults, reset -------------------------------------------------------------------------------------


def test_config_defaults(http: httpx.Client) -> None:
    assert http.get("/_sandbox/config").json()["prime"] == {
        "token_lifetime_seconds": 3600,
        "requests_per_second": 55,
        "max_batch_size": 1000,
        "known_line_item_ids": None,
        "partial_batches": "refuse",
    }


@pytest.mark.parametrize(
    "patch",
    [
        {"known_line_item_ids": [1, "2"]},
        {"known_line_item_ids": [True]},
        {"known_line_item_ids": [2**63]},
        {"known_line_item_ids": 1},
        {"max_batch_size": 0},
        {"requests_per_second": -1},
        {"token_lifetime_seconds": 1.5},
        {"batch_size": 5},
    ],
)
def test_invalid_config_is_refused_and_nothing_changes(http: httpx.Client, patch: dict[str, Any]) -> None:
    before = http.get("/_sandbox/config").json()

    response = http.post("/_sandbox/config", json={"prime": {"requests_per_second": 3, **patch}})

    assert response.status_code == 400
    assert http.get("/_sandbox/config").json() == before


def test_known_line_items_can_be_cleared_again(http: httpx.Client) -> None:
    configure(http, known_line_item_ids=[1])

    assert configure(http, known_line_item_ids=None).json()["prime"]["known_line_item_ids"] is None
    assert post_batch(http, [item()]).status_code == 201


def test_status_fault_on_the_batch_route_is_oracle_shaped_and_not_applied(http: httpx.Client) -> None:
    fault = http.post("/_sandbox/faults", json={"route": "prime.batch", "kind": "status", "status": 502, "count": 1})
    assert fault.status_code == 201

    failed = post_batch(http, [item("a")])
    retried = post_batch(http, [item("a")])

    assert (failed.status_code, failed.json()) == (502, {"status": 502, "message": "Bad Gateway"})
    assert retried.status_code == 201
    assert len(stored(http)) == 1
    batches = [entry for entry in http.get("/_sandbox/requests").json()["requests"] if entry["route"] == "prime.batch"]
    assert [(entry["status"], entry["fault"]) for entry in batches] == [(502, "status"), (201, None)]


def test_faults_with_unregistered_statuses_still_answer_oracle_style(http: httpx.Client) -> None:
    http.post("/_sandbox/faults", json={"route": "prime.token", "kind": "status", "status": 599, "count": 1})

    response = http.post(TOKEN_PATH)

    assert (response.status_code, response.json()) == (599, {"status": 599, "message": "Error"})


def test_reset_forgets_sovs_config_and_starts_ids_over(http: httpx.Client) -> None:
    configure(http, max_batch_size=5)
    post_batch(http, [item("before")])

    http.post("/_sandbox/reset").raise_for_status()

    assert stored(http) == []
    assert http.get("/_sandbox/config").json()["prime"]["max_batch_size"] == 1000
    assert exact(post_batch(http, [item("after")]))[0]["sovId"] == FIRST_SOV_ID


def test_a_partial_batch_answers_207_per_item_when_configured(http: httpx.Client) -> None:
    assert http.post("/_sandbox/config", json={"prime": {"partial_batches": "multi_status"}}).status_code == 200

    response = post_batch(http, [item(name="good"), item(sovType="BOGUS"), item(name="also good")])

    assert response.status_code == 207
    answer = response.json()
    assert [entry.get("name") for entry in answer] == ["good", None, "also good"]
    assert answer[1]["status"] == 400 and "sovId" not in answer[1]
    assert [sov["name"] for sov in http.get("/_sandbox/prime/sovs").json()["sovs"]] == ["good", "also good"]


def test_a_partial_batch_can_answer_207_without_saying_which_item_is_which(http: httpx.Client) -> None:
    patch = {"prime": {"partial_batches": "multi_status_unattributed"}}
    assert http.post("/_sandbox/config", json=patch).status_code == 200

    response = post_batch(http, [item(name="good"), item(sovType="BOGUS")])

    assert response.status_code == 207 and isinstance(response.json(), dict)
    assert [sov["name"] for sov in http.get("/_sandbox/prime/sovs").json()["sovs"]] == ["good"]


def test_a_batch_with_no_valid_item_is_refused_whole_even_when_207_is_configured(http: httpx.Client) -> None:
    assert http.post("/_sandbox/config", json={"prime": {"partial_batches": "multi_status"}}).status_code == 200

    assert post_batch(http, [item(sovType="BOGUS")]).status_code == 400
