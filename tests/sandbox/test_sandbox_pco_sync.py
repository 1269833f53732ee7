"""Procore PCO sync: create/update semantics, item validation, dates, ids and request-level checks."""

import json
from typing import Any

import httpx
import pytest

FIRST_ID = 2**53 + 1
INT64_MAX = 2**63 - 1


def only_entity(response: httpx.Response) -> dict[str, Any]:
    """The single entity of a fully successful one-item sync."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["errors"] == []
    assert len(body["entities"]) == 1
    entity: dict[str, Any] = body["entities"][0]
    return entity


def test_create_without_keys_returns_show_shaped_entity(procore) -> None:
    entity = only_entity(procore.sync([{"title": "Extra footing", "number": "PCO-1"}], project=22, contract=33))

    assert entity["id"] == FIRST_ID
    assert entity["project_id"] == 22
    assert entity["contract_id"] == 33
    assert entity["title"] == "Extra footing"
    assert entity["number"] == "PCO-1"
    assert entity["status"] == "draft"
    assert entity["grand_total"] == "0.00"
    assert entity["origin_id"] is None
    assert entity["created_at"].endswith("Z")
    assert entity["updated_at"] == entity["created_at"]


def test_created_ids_are_exact_beyond_float_precision(procore) -> None:
    response = procore.sync([{"title": "a"}, {"title": "b"}])

    ids = sorted(entity["id"] for entity in json.loads(response.text)["entities"])
    assert ids == [FIRST_ID, FIRST_ID + 2]
    assert all(int(float(pco_id)) != pco_id for pco_id in ids)  # a float round trip corrupts every one


def test_big_integer_attributes_round_trip_exactly(procore) -> None:
    entity = only_entity(procore.sync([{"origin_id": "big", "prime_change_event_id": INT64_MAX}]))

    assert entity["prime_change_event_id"] == INT64_MAX
    assert procore.pcos()[0]["prime_change_event_id"] == INT64_MAX


def test_known_origin_id_updates_only_given_attributes(procore) -> None:
    created = only_entity(procore.sync([{"origin_id": "co-1", "title": "Old", "description": "kept"}]))

    updated = only_entity(procore.sync([{"origin_id": "co-1", "title": "New", "status": "pending"}]))

    assert updated["id"] == created["id"]
    assert updated["title"] == "New"
    assert updated["status"] == "pending"
    assert updated["description"] == "kept"
    assert len(procore.pcos()) == 1


def test_unknown_origin_id_creates(procore) -> None:
    procore.sync([{"origin_id": "co-1"}])

    procore.sync([{"origin_id": "co-2"}])

    assert [pco["origin_id"] for pco in procore.pcos()] == ["co-1", "co-2"]


def test_origin_ids_are_scoped_by_company(procore) -> None:
    procore.sync([{"origin_id": "co-1"}], company=1)

    procore.sync([{"origin_id": "co-1"}], company=2)

    assert len(procore.pcos(company_id=1)) == 1
    assert len(procore.pcos(company_id=2)) == 1


def test_an_origin_id_used_under_another_project_of_the_company_is_an_item_error(procore) -> None:
    first = only_entity(procore.sync([{"origin_id": "shared", "title": "A"}], project=10))

    response = procore.sync([{"origin_id": "shared", "title": "B"}, {"origin_id": "own"}], project=11)

    assert response.json()["errors"] == [
        {"origin_id": "shared", "title": "B", "errors": {"origin_id": ["has already been taken"]}}
    ]
    assert [entity["origin_id"] for entity in response.json()["entities"]] == ["own"]
    [kept] = [pco for pco in procore.pcos() if pco["id"] == first["id"]]
    assert kept["title"] == "A" and kept["project_id"] == 10


def test_update_by_id_sets_origin_id(procore) -> None:
    created = only_entity(procore.sync([{"title": "No key yet"}]))

    updated = only_entity(procore.sync([{"id": created["id"], "origin_id": "co-9", "title": "Keyed"}]))
    again = only_entity(procore.sync([{"origin_id": "co-9", "description": "found by origin"}]))

    assert updated["id"] == again["id"] == created["id"]
    assert again["title"] == "Keyed"
    assert again["description"] == "found by origin"


def test_changing_origin_id_frees_the_old_one(procore) -> None:
    created = only_entity(procore.sync([{"origin_id": "old"}]))
    procore.sync([{"id": created["id"], "origin_id": "new"}])

    reused = only_entity(procore.sync([{"origin_id": "old"}]))

    assert reused["id"] != created["id"]


def test_unknown_id_is_an_item_error(procore) -> None:
    response = procore.sync([{"id": 42, "title": "Ghost"}])

    assert response.status_code == 200
    assert response.json() == {
        "entities": [],
        "errors": [{"id": 42, "title": "Ghost", "errors": {"id": ["Entity with this ID not found"]}}],
    }


def test_id_from_another_company_is_not_found(procore) -> None:
    created = only_entity(procore.sync([{"title": "Company 1"}], company=1))

    response = procore.sync([{"id": created["id"]}], company=2)

    assert response.json()["errors"][0]["errors"] == {"id": ["Entity with this ID not found"]}


def test_origin_id_taken_by_another_pco_is_an_item_error(procore) -> None:
    procore.sync([{"origin_id": "taken"}])
    other = only_entity(procore.sync([{"origin_id": "mine"}]))

    response = procore.sync([{"id": other["id"], "origin_id": "taken"}])

    assert response.json()["errors"] == [
        {"id": other["id"], "origin_id": "taken", "errors": {"origin_id": ["has already been taken"]}}
    ]
    assert procore.pcos()[1]["origin_id"] == "mine"


def test_invalid_items_fail_alone_next_to_accepted_ones(procore) -> None:
    items = [
        {"origin_id": "ok-1", "title": "Fine", "schedule_impact_amount": -3},
        {"origin_id": "bad-attr", "colour": "blue"},
        {"origin_id": "bad-int", "prime_change_event_id": "12"},
        {"origin_id": "bad-bool", "schedule_impact_amount": True},
        {"origin_id": "bad-float", "change_order_request_id": 1.0},
        {"origin_id": "bad-status", "status": "approved_ish"},
        {"origin_id": "bad-string", "title": 7},
        {"origin_id": "bad-nested", "change_order_request": {"change_order_package_id": "x", "extra": 1}},
        {"origin_id": "too-big", "commitment_change_event_id": 2**63},
        "not an object",
        {"origin_id": "ok-2", "change_order_request": {"change_order_package_id": 5}},
    ]

    response = procore.sync(items)

    assert response.status_code == 200
    body = response.json()
    assert sorted(entity["origin_id"] for entity in body["entities"]) == ["ok-1", "ok-2"]
    errors = {error.get("origin_id"): error["errors"] for error in body["errors"]}
    assert errors == {
        "bad-attr": {"colour": ["is not a recognized attribute"]},
        "bad-int": {"prime_change_event_id": ["must be an integer"]},
        "bad-bool": {"schedule_impact_amount": ["must be an integer"]},
        "bad-float": {"change_order_request_id": ["must be an integer"]},
        "bad-status": {"status": ["is not included in the list"]},
        "bad-string": {"title": ["must be a string"]},
        "bad-nested": {
            "change_order_request.change_order_package_id": ["must be an integer"],
            "change_order_request.extra": ["is not a recognized attribute"],
        },
        "too-big": {"commitment_change_event_id": ["must fit in a 64-bit integer"]},
        None: {"base": ["must be a JSON object"]},
    }
    bad_attr = next(error for error in body["errors"] if error.get("origin_id") == "bad-attr")
    assert bad_attr == {"origin_id": "bad-attr", "colour": "blue", "errors": bad_attr["errors"]}
    assert sorted(pco["origin_id"] for pco in procore.pcos()) == ["ok-1", "ok-2"]
    assert procore.pcos()[1]["change_order_request"] == {"change_order_package_id": 5}


@pytest.mark.parametrize("status", ["draft", "not_pricing", "no_charge", "approved", "void"])
def test_documented_statuses_are_accepted(procore, status: str) -> None:
    assert only_entity(procore.sync([{"status": status}]))["status"] == status


def test_malformed_dates_are_stored_as_null_without_error(procore) -> None:
    entity = only_entity(
        procore.sync([{"origin_id": "d", "paid_date": "31/12/2024", "invoiced_date": 20240101, "due_date": "soon"}])
    )

    assert (entity["paid_date"], entity["invoiced_date"], entity["due_date"]) == (None, None, None)


def test_dates_are_normalised(procore) -> None:
    entity = only_entity(
        procore.sync(
            [
                {
                    "origin_id": "d",
                    "paid_date": "2024-05-01",
                    "invoiced_date": "2024-05-01T23:30:00-05:00",
                    "due_date": "2024-05-01T10:15:00+02:00",
                }
            ]
        )
    )

    assert entity["paid_date"] == "2024-05-01"
    assert entity["invoiced_date"] == "2024-05-01"  # the date as written, not shifted to UTC
    assert entity["due_date"] == "2024-05-01T08:15:00Z"


def test_null_clears_an_attribute(procore) -> None:
    procore.sync([{"origin_id": "n", "description": "text", "due_date": "2024-01-01"}])

    entity = only_entity(procore.sync([{"origin_id": "n", "description": None, "due_date": None}]))

    assert (entity["description"], entity["due_date"]) == (None, None)


def test_a_batch_of_1000_is_accepted_and_1001_is_refused(procore) -> None:
    token = procore.token()
    accepted = procore.sync([{"origin_id": str(n)} for n in range(1000)], token=token)
    refused = procore.sync([{"origin_id": str(n)} for n in range(1001)], token=token)

    assert accepted.status_code == 200
    assert len(accepted.json()["entities"]) == 1000
    assert refused.status_code == 422
    assert "1000" in refused.json()["errors"]
    assert len(procore.pcos()) == 1000


def test_results_are_shuffled_with_the_seeded_rng(procore) -> None:
    items = [{"origin_id": f"{n:02}"} for n in range(20)]

    shuffled = [entity["origin_id"] for entity in procore.sync(items).json()["entities"]]
    procore.configure(shuffle_results=False)
    in_order = [entity["origin_id"] for entity in procore.sync(items).json()["entities"]]

    assert sorted(shuffled) == in_order
    assert shuffled != in_order


@pytest.mark.parametrize("company", ["", "abc", "1.5", "-1", "0"])
def test_an_invalid_company_header_is_not_found(procore, company: str) -> None:
    response = procore.sync([{"title": "x"}], company=company)

    assert response.status_code == 404
    assert response.json() == {"errors": "Company not found"}
    assert procore.pcos() == []


def test_a_missing_company_header_is_refused_in_procore_s_words(procore) -> None:
    response = procore.sync([{"title": "x"}], company=None)

    assert response.status_code == 400
    assert response.json() == {"errors": "Missing Procore-Company-Id header!"}
    assert procore.pcos() == []


@pytest.mark.parametrize(
    ("project", "contract", "named"),
    [(None, 3, "project_id"), (2, None, "contract_id"), ("two", 3, "project_id"), (2, "3.0", "contract_id")],
)
def test_missing_or_invalid_query_parameter_is_a_bad_request(procore, project, contract, named: str) -> None:
    response = procore.sync([{"title": "x"}], project=project, contract=contract)

    assert response.status_code == 400
    assert named in response.json()["errors"]


def test_company_is_checked_before_query(procore) -> None:
    assert procore.sync([], company=None, project=None).status_code == 400
    assert procore.sync([], company="abc", project=None).status_code == 404


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{not json", "application/json"),
        (b'{"items": []}', "application/json"),
        (b'{"updates": {"title": "x"}}', "application/json"),
        (b'[{"title": "x"}]', "application/json"),
        (b'{"updates": []}', "text/plain"),
        (b'{"updates": [], "x": NaN}', "application/json"),
    ],
)
def test_malformed_bodies_are_bad_requests(procore, content: bytes, content_type: str) -> None:
    response = procore.http.patch(
        "/rest/v1.0/potential_change_orders/sync",
        params={"project_id": 2, "contract_id": 3},
        headers={"Authorization": f"Bearer {procore.token()}", "Procore-Company-Id": "1", "Content-Type": content_type},
        content=content,
    )

    assert response.status_code == 400
    assert isinstance(response.json()["errors"], str)


def test_pco_listing_filters(procore) -> None:
    procore.sync([{"origin_id": "a"}], company=1, project=10, contract=100)
    procore.sync([{"origin_id": "b"}], company=1, project=10, contract=101)
    procore.sync([{"origin_id": "c"}], company=2, project=20, contract=200)

    assert [pco["origin_id"] for pco in procore.pcos()] == ["a", "b", "c"]
    assert [pco["origin_id"] for pco in procore.pcos(company_id=1, project_id=10)] == ["a", "b"]
    assert [pco["origin_id"] for pco in procore.pcos(contract_id=101)] == ["b"]
    assert procore.pcos()[2]["company_id"] == 2
    assert procore.http.get("/_sandbox/procore/pcos", params={"company_id": "x"}).status_code == 400
