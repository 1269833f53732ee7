"""Requests the fuzzing found answered wrongly, kept as plain cases through the same runtime."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from devkit.local_secrets import LOCAL_BEARER_TOKEN

PROCORE = "/procore/rest/v1.0/potential_change_orders/sync?project_id=1&contract_id=1"
PRIME = "/prime/primeapi/restapi/changeOrderSOV/batch"
CONSTRUCTIONONLINE = "/constructiononline/api/ChangeOrders/1234567"
SOV = {"changeOrderLineItemId": 1, "changeOrderSovCost": {}, "name": "Rock", "sovType": "LUMP_SUM"}


@pytest.fixture
def api(fuzz_runtime) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {LOCAL_BEARER_TOKEN}", "procore-company-id": "1"}
    with httpx.Client(base_url=fuzz_runtime.url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture
def prime_batches(sandbox) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The batch calls the sandbox's Oracle received so far."""
    with httpx.Client(base_url=sandbox.url, timeout=10) as control:
        yield lambda: [
            request
            for request in control.get("/_sandbox/requests", params={"vendor": "prime"}).json()["requests"]
            if request["route"] == "prime.batch"
        ]


def problems(response: httpx.Response) -> dict[str, str]:
    return {problem["field"]: problem["message"] for problem in response.json()["error"]["problems"]}


@pytest.mark.parametrize("field", ["due_date", "paid_date"])
def test_a_number_is_not_taken_as_a_procore_date(api, field):
    # pydantic read 0 as seconds since 1970: Procore got 1970-01-01.
    response = api.patch(PROCORE, json={"updates": [{"origin_id": "fuzz-1", field: 0}]})

    assert response.status_code == 400
    assert "written as a string" in problems(response)[f"body.updates[0].{field}"]


def test_an_impossible_period_applied_date_is_refused_before_oracle_sees_it(api, prime_batches):
    before = len(prime_batches())

    response = api.post(PRIME, json=[{**SOV, "periodAppliedDate": "0000-00-00T00:00:00Z"}])

    assert response.status_code == 400
    assert "real date and time" in problems(response)["body[0].periodAppliedDate"]
    assert len(prime_batches()) == before


def test_a_coinfo_of_nulls_only_is_refused_rather_than_sent_empty(api):
    response = api.put(CONSTRUCTIONONLINE, json={"NOTES": None})

    assert response.status_code == 400
    assert "at least one property" in problems(response)["body"]


def test_a_connection_that_is_not_configured_is_a_400_naming_it(api):
    response = api.put(CONSTRUCTIONONLINE, params={"connection": "not-configured"}, json={"NOTES": "x"})

    assert response.status_code == 400
    assert any(field.endswith("connection") for field in problems(response))


def test_a_body_labelled_as_not_json_is_refused_with_the_shared_error_model(api):
    response = api.patch(
        PROCORE, content=b'{"updates": [{"origin_id": "fuzz-2"}]}', headers={"Content-Type": "text/plain"}
    )

    assert response.status_code == 415
    assert "header.Content-Type" in problems(response)


def test_a_path_parameter_no_route_pattern_takes_is_invalid_input_naming_the_path(api):
    # The fuzzer's id had a control character: the resolver found no route and answered its own 404.
    response = api.put("/constructiononline/api/ChangeOrders/Q%03x", json={"NOTES": "x"})

    assert response.status_code == 400
    assert "matches no route" in problems(response)["path"]
