"""Fault injection on vendor routes: each kind, count and seeded probability rules, and validation."""

import time
from typing import Any

import httpx
import pytest

from devkit.sandbox import start_sandbox


def test_status_fault_answers_vendor_error_without_applying(procore) -> None:
    token = procore.token()
    procore.add_fault(route="procore.sync", kind="status", status=502, count=1)

    failed = procore.sync([{"origin_id": "a"}], token=token)
    retried = procore.sync([{"origin_id": "a"}], token=token)

    assert failed.status_code == 502
    assert failed.json() == {"errors": "Bad Gateway"}
    assert retried.status_code == 200
    assert len(procore.pcos()) == 1
    assert [(entry["status"], entry["fault"]) for entry in procore.requests()[1:]] == [(502, "status"), (200, None)]


def test_status_fault_with_an_unregistered_code_still_answers_in_the_vendors_shape(procore) -> None:
    procore.add_fault(route="procore.sync", kind="status", status=599, count=1)

    response = procore.sync([{"origin_id": "a"}])

    assert response.status_code == 599
    assert response.json() == {"errors": "Error"}


def test_count_rules_expire_after_their_count(procore) -> None:
    procore.add_fault(route="procore.token", kind="status", status=500, count=2)

    statuses = [procore.http.post("/oauth/token").status_code for _ in range(3)]

    assert statuses == [500, 500, 400]
    assert procore.http.get("/_sandbox/faults").json() == {"faults": []}


def test_unavailable_fault_carries_retry_after(procore) -> None:
    procore.add_fault(route="procore.sync", kind="unavailable", retry_after=7, count=1)

    response = procore.sync([{"origin_id": "a"}])

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "7"
    assert procore.pcos() == []


def test_latency_fault_delays_then_handles(procore) -> None:
    token = procore.token()
    procore.add_fault(route="procore.sync", kind="latency", delay_ms=150, count=1)

    started = time.monotonic()
    response = procore.sync([], token=token)

    assert time.monotonic() - started >= 0.15
    assert response.status_code == 200
    assert procore.requests()[-1]["fault"] == "latency"


def test_configured_latency_applies_to_vendor_requests_only(procore) -> None:
    procore.http.post("/_sandbox/config", json={"latency_ms": 100})

    started = time.monotonic()
    procore.http.get("/_sandbox/config")
    control_time = time.monotonic() - started
    procore.http.post("/oauth/token")
    vendor_time = time.monotonic() - started - control_time

    assert control_time < 0.1 <= vendor_time


def test_timeout_fault_applies_then_holds_the_response(procore) -> None:
    token = procore.token()
    procore.add_fault(route="procore.sync", kind="timeout", delay_ms=1000, count=1)

    with pytest.raises(httpx.ReadTimeout):
        procore.sync([{"origin_id": "stored-anyway"}], token=token, timeout=0.2)

    assert [pco["origin_id"] for pco in procore.pcos()] == ["stored-anyway"]
    assert (procore.requests()[-1]["status"], procore.requests()[-1]["fault"]) == (200, "timeout")


def test_timeout_fault_not_applied_gives_a_patient_client_504(procore) -> None:
    token = procore.token()
    procore.add_fault(route="procore.sync", kind="timeout", delay_ms=100, applied=False, count=2)

    with pytest.raises(httpx.ReadTimeout):
        procore.sync([{"origin_id": "lost"}], token=token, timeout=0.05)
    patient = procore.sync([{"origin_id": "lost"}], token=token, timeout=2)

    assert patient.status_code == 504
    assert procore.pcos() == []


@pytest.mark.parametrize(("applied", "stored"), [(False, 0), (True, 1)])
def test_drop_fault_closes_the_connection(procore, applied: bool, stored: int) -> None:
    token = procore.token()
    procore.add_fault(route="procore.sync", kind="drop", applied=applied, count=1)

    with pytest.raises(httpx.TransportError):
        procore.sync([{"origin_id": "dropped"}], token=token)

    assert len(procore.pcos()) == stored
    assert (procore.requests()[-1]["status"], procore.requests()[-1]["fault"]) == (None, "drop")
    assert procore.sync([], token=token).status_code == 200  # the next connection is served


def test_wildcard_route_matches_vendor_routes_but_never_control_routes(procore) -> None:
    procore.add_fault(route="*", kind="status", status=500, count=2)

    assert procore.http.get("/_sandbox/config").status_code == 200
    assert procore.http.post("/oauth/token").status_code == 500
    assert procore.http.get("/_sandbox/faults").json()["faults"][0]["count"] == 1


def test_faults_come_before_authentication(procore) -> None:
    procore.add_fault(route="procore.sync", kind="status", status=500, count=1)

    response = procore.http.patch("/rest/v1.0/potential_change_orders/sync")

    assert response.status_code == 500


def test_fault_rules_are_listed_and_cleared(procore) -> None:
    added = procore.add_fault(route="procore.sync", kind="timeout", probability=0.25)

    assert added == {
        "id": 1,
        "route": "procore.sync",
        "kind": "timeout",
        "probability": 0.25,
        "delay_ms": 30000,
        "applied": True,
    }
    assert procore.http.get("/_sandbox/faults").json() == {"faults": [added]}
    assert procore.http.delete("/_sandbox/faults").json() == {"faults": []}
    assert procore.http.get("/_sandbox/faults").json() == {"faults": []}


@pytest.mark.parametrize(
    "rule",
    [
        {"route": "procore.sync", "kind": "explode", "count": 1},
        {"route": "procore.nope", "kind": "drop", "count": 1},
        {"route": "procore.sync", "kind": "drop"},
        {"route": "procore.sync", "kind": "drop", "count": 1, "probability": 0.5},
        {"route": "procore.sync", "kind": "drop", "count": 0},
        {"route": "procore.sync", "kind": "drop", "probability": 1.5},
        {"route": "procore.sync", "kind": "drop", "count": 1, "delay_ms": 5},
        {"route": "procore.sync", "kind": "status", "count": 1},
        {"route": "procore.sync", "kind": "status", "status": 200, "count": 1},
        {"route": "procore.sync", "kind": "latency", "count": 1},
        {"route": "procore.sync", "kind": "timeout", "count": 1, "applied": "yes"},
    ],
)
def test_invalid_fault_rules_are_refused(http: httpx.Client, rule: dict[str, Any]) -> None:
    response = http.post("/_sandbox/faults", json=rule)

    assert response.status_code == 400
    assert response.json()["error"]
    assert http.get("/_sandbox/faults").json() == {"faults": []}


def fault_pattern(seed: int, requests: int = 30) -> list[int]:
    with start_sandbox(seed=seed) as sandbox, httpx.Client(base_url=sandbox.url) as client:
        client.post(
            "/_sandbox/faults", json={"route": "procore.token", "kind": "status", "status": 500, "probability": 0.5}
        )
        return [client.post("/oauth/token").status_code for _ in range(requests)]


def test_probability_faults_repeat_with_the_same_seed() -> None:
    first, second, other = fault_pattern(seed=7), fault_pattern(seed=7), fault_pattern(seed=8)

    assert first == second
    assert set(first) == {400, 500}
    assert other != first


def test_reset_reseeds_the_fault_rng(procore) -> None:
    def pattern() -> list[int]:
        procore.http.post("/_sandbox/reset")
        procore.add_fault(route="procore.token", kind="status", status=500, probability=0.5)
        return [procore.http.post("/oauth/token").status_code for _ in range(20)]

    assert pattern() == pattern()
