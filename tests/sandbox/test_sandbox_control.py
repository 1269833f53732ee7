"""The control API: reset, config, request log with redaction, and unknown routes."""

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

DEFAULT_CONFIG: dict[str, Any] = {
    "latency_ms": 0,
    "procore": {
        "token_lifetime_seconds": 5400,
        "hourly_limit": 3600,
        "spike_limit": 100,
        "spike_window_seconds": 10,
        "retry_after_on_429": False,
        "shuffle_results": True,
    },
    "prime": {
        "token_lifetime_seconds": 3600,
        "requests_per_second": 55,
        "max_batch_size": 1000,
        "known_line_item_ids": None,
        "partial_batches": "refuse",
    },
    "constructiononline": {
        "hourly_limit": 500,
        "daily_limit": 10000,
        "weekly_limit": 50000,
        "monthly_limit": 200000,
        "hourly_window_seconds": 3600,
        "daily_window_seconds": 86400,
        "weekly_window_seconds": 604800,
        "monthly_window_seconds": 2592000,
        "limit_wordings": "documented",
    },
}


def test_config_defaults(http: httpx.Client) -> None:
    assert http.get("/_sandbox/config").json() == DEFAULT_CONFIG


def test_config_partial_update_keeps_other_keys(http: httpx.Client) -> None:
    response = http.post("/_sandbox/config", json={"latency_ms": 5, "procore": {"hourly_limit": 2}})

    assert response.status_code == 200
    expected = {**DEFAULT_CONFIG, "latency_ms": 5, "procore": {**DEFAULT_CONFIG["procore"], "hourly_limit": 2}}
    assert response.json() == expected
    assert http.get("/_sandbox/config").json() == expected


@pytest.mark.parametrize(
    "patch",
    [
        {"procore": {"hourly_limt": 2}},
        {"procore": {"hourly_limit": "2"}},
        {"procore": {"hourly_limit": True}},
        {"procore": {"shuffle_results": 1}},
        {"procore": {"spike_window_seconds": 0}},
        {"procore": {"token_lifetime_seconds": -1}},
        {"procore": 5},
        {"latency_ms": -1},
        {"oracle": {}},
    ],
)
def test_invalid_config_is_refused_and_nothing_changes(http: httpx.Client, patch: dict[str, Any]) -> None:
    response = http.post("/_sandbox/config", json={"latency_ms": 9, **patch})

    assert response.status_code == 400
    assert response.json()["error"]
    assert http.get("/_sandbox/config").json() == DEFAULT_CONFIG


def test_reset_restores_everything(procore) -> None:
    procore.http.post("/_sandbox/procore/clients", json={"client_id": "extra", "client_secret": "s"})
    old_token = procore.token()
    procore.sync([{"origin_id": "a"}], token=old_token)
    procore.configure(hourly_limit=1)
    procore.add_fault(route="procore.token", kind="latency", delay_ms=1, probability=0.1)

    assert procore.http.post("/_sandbox/reset").json() == {"reset": True}

    assert procore.pcos() == []
    assert procore.requests() == []
    assert procore.http.get("/_sandbox/faults").json() == {"faults": []}
    assert procore.http.get("/_sandbox/config").json() == DEFAULT_CONFIG
    assert procore.sync([], token=old_token).status_code == 401
    assert (
        procore.http.post(
            "/oauth/token", data={"grant_type": "client_credentials", "client_id": "extra", "client_secret": "s"}
        ).status_code
        == 401
    )
    created = procore.sync([{"origin_id": "b"}]).json()["entities"][0]
    assert created["id"] == 2**53 + 1  # ids start over too


def test_request_log_records_requests_in_order_without_secrets(procore) -> None:
    procore.http.post(
        "/oauth/token",
        params={"client_secret": "sandbox-secret"},
        data={"grant_type": "client_credentials", "client_id": "sandbox-client"},
    )
    token = procore.token()
    procore.sync([{"origin_id": "logged", "title": "T"}], token=token, company=4, project=5, contract=6)

    response = procore.http.get("/_sandbox/requests", params={"vendor": "procore"})

    assert "sandbox-secret" not in response.text
    assert token not in response.text
    first, second, sync = response.json()["requests"]
    assert first["route"] == second["route"] == "procore.token"
    assert first["query"] == {"client_secret": "***"}
    assert first["body"] is None
    assert second["body"] is None
    assert sync == {
        "vendor": "procore",
        "route": "procore.sync",
        "method": "PATCH",
        "path": "/rest/v1.0/potential_change_orders/sync",
        "query": {"project_id": "5", "contract_id": "6"},
        "headers": sync["headers"],
        "status": 200,
        "fault": None,
        "body": {"updates": [{"origin_id": "logged", "title": "T"}]},
        "received_at": sync["received_at"],
        "answered_at": sync["answered_at"],
    }
    assert sync["received_at"] <= sync["answered_at"]
    assert sync["headers"]["authorization"] == "Bearer ***"
    assert sync["headers"]["procore-company-id"] == "4"
    assert all(name == name.lower() for name in sync["headers"])


def test_request_log_keeps_big_ints_exact(procore) -> None:
    procore.sync([{"origin_id": "big", "prime_change_event_id": 2**63 - 1}])

    body = json.loads(procore.http.get("/_sandbox/requests").text)["requests"][-1]["body"]

    assert body["updates"][0]["prime_change_event_id"] == 2**63 - 1


def test_unknown_vendor_path_is_404_and_logged_without_vendor(http: httpx.Client) -> None:
    response = http.get("/rest/v1.0/projects")

    assert response.status_code == 404
    assert http.get("/_sandbox/requests", params={"vendor": "procore"}).json() == {"requests": []}
    [entry] = http.get("/_sandbox/requests").json()["requests"]
    assert (entry["vendor"], entry["route"], entry["status"]) == (None, None, 404)


def test_wrong_method_on_a_vendor_path_is_404(http: httpx.Client) -> None:
    assert http.post("/rest/v1.0/potential_change_orders/sync").status_code == 404


def test_unknown_control_endpoint_and_wrong_method(http: httpx.Client) -> None:
    assert http.get("/_sandbox/nothing").status_code == 404
    wrong = http.get("/_sandbox/reset")
    assert wrong.status_code == 405
    assert wrong.headers["Allow"] == "POST"


def test_control_bodies_must_be_json_objects(http: httpx.Client) -> None:
    assert http.post("/_sandbox/config", content=b"[1]").status_code == 400
    assert http.post("/_sandbox/faults", content=b"{oops").status_code == 400


def test_chunked_request_bodies_are_read(http: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"latency_ms":'
        yield b" 3}"

    response = http.post("/_sandbox/config", content=chunks())

    assert response.status_code == 200
    assert response.json()["latency_ms"] == 3
