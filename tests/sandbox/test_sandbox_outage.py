"""Outage faults: every request to a route fails for a while from when the rule is set, then the vendor is back."""

import time
from typing import Any

import httpx
import pytest

PRIME_TOKEN_PATH = "/primediscovery/apitoken/request"
OUTAGE_MS = 400


def wait_out(added: dict[str, Any]) -> None:
    """Sleep until the outage ``added`` is over."""
    time.sleep(added["duration_ms"] / 1000 + 0.05)


def test_every_request_gets_503_until_the_outage_ends_then_the_vendor_is_back(procore) -> None:
    token = procore.token()
    added = procore.add_fault(route="procore.sync", kind="outage", duration_ms=OUTAGE_MS)

    during = [procore.sync([{"origin_id": "a"}], token=token) for _ in range(3)]
    token_during = procore.token()  # another route of the same vendor is up
    wait_out(added)
    after = procore.sync([{"origin_id": "a"}], token=token_during)

    assert [(response.status_code, response.json()) for response in during] == [
        (503, {"errors": "Service Unavailable"})
    ] * 3
    assert all("Retry-After" not in response.headers for response in during)
    assert after.status_code == 200
    assert [pco["origin_id"] for pco in procore.pcos()] == ["a"]  # applied once: after the outage only
    assert [entry["fault"] for entry in procore.requests() if entry["route"] == "procore.sync"] == [
        "outage",
        "outage",
        "outage",
        None,
    ]


def test_the_rule_shows_its_remaining_time_and_disappears_when_over(procore) -> None:
    added = procore.add_fault(route="procore.sync", kind="outage", duration_ms=OUTAGE_MS, retry_after=2)

    [listed] = procore.http.get("/_sandbox/faults").json()["faults"]
    wait_out(added)

    assert added == {
        "id": 1,
        "route": "procore.sync",
        "kind": "outage",
        "remaining_ms": OUTAGE_MS,
        "duration_ms": OUTAGE_MS,
        "retry_after": 2,
        "drop": False,
    }
    assert 0 < listed["remaining_ms"] <= OUTAGE_MS
    assert procore.http.get("/_sandbox/faults").json() == {"faults": []}


def test_a_short_retry_after_is_sent_when_asked(procore) -> None:
    procore.add_fault(route="procore.sync", kind="outage", duration_ms=OUTAGE_MS, retry_after=1)

    response = procore.sync([])

    assert (response.status_code, response.headers["Retry-After"]) == (503, "1")


def test_an_outage_may_drop_every_connection_instead(procore) -> None:
    token = procore.token()
    added = procore.add_fault(route="procore.sync", kind="outage", duration_ms=OUTAGE_MS, drop=True)

    with pytest.raises(httpx.TransportError):
        procore.sync([{"origin_id": "dropped"}], token=token)
    wait_out(added)

    assert procore.pcos() == []
    assert (procore.requests()[-1]["status"], procore.requests()[-1]["fault"]) == (None, "outage")
    assert procore.sync([], token=token).status_code == 200


def test_an_outage_wins_over_earlier_rules_without_consuming_them(procore) -> None:
    token = procore.token()
    procore.add_fault(route="procore.sync", kind="timeout", delay_ms=100, applied=True, count=1)
    added = procore.add_fault(route="procore.sync", kind="outage", duration_ms=OUTAGE_MS)

    during = procore.sync([{"origin_id": "not-applied"}], token=token)
    faults_during = procore.http.get("/_sandbox/faults").json()["faults"]
    wait_out(added)

    assert during.status_code == 503
    assert procore.pcos() == []
    assert [(rule["kind"], rule.get("count")) for rule in faults_during] == [("timeout", 1), ("outage", None)]


def test_a_wildcard_outage_takes_every_vendor_down_but_not_the_control_api(http: httpx.Client) -> None:
    added = http.post("/_sandbox/faults", json={"route": "*", "kind": "outage", "duration_ms": OUTAGE_MS}).json()

    procore_token = http.post("/oauth/token").status_code
    prime_token = http.post(PRIME_TOKEN_PATH)
    control = http.get("/_sandbox/config").status_code
    wait_out(added)

    assert (procore_token, prime_token.status_code, control) == (503, 503, 200)
    assert prime_token.json() == {"status": 503, "message": "Service Unavailable"}
    assert http.post("/oauth/token").status_code == 400  # back: no grant type given


def test_reset_ends_an_outage(procore) -> None:
    procore.add_fault(route="procore.token", kind="outage", duration_ms=60_000)

    procore.http.post("/_sandbox/reset").raise_for_status()

    assert procore.token()


@pytest.mark.parametrize(
    "rule",
    [
        {"route": "procore.sync", "kind": "outage"},
        {"route": "procore.sync", "kind": "outage", "duration_ms": 0},
        {"route": "procore.sync", "kind": "outage", "duration_ms": "1000"},
        {"route": "procore.sync", "kind": "outage", "duration_ms": 1000, "count": 1},
        {"route": "procore.sync", "kind": "outage", "duration_ms": 1000, "probability": 0.5},
        {"route": "procore.sync", "kind": "outage", "duration_ms": 1000, "drop": True, "retry_after": 1},
        {"route": "procore.sync", "kind": "outage", "duration_ms": 1000, "drop": 1},
        {"route": "procore.sync", "kind": "outage", "duration_ms": 1000, "status": 500},
        {"route": "procore.nope", "kind": "outage", "duration_ms": 1000},
    ],
)
def test_invalid_outage_rules_are_refused(http: httpx.Client, rule: dict[str, Any]) -> None:
    response = http.post("/_sandbox/faults", json=rule)

    assert response.status_code == 400
    assert response.json()["error"]
    assert http.get("/_sandbox/faults").json() == {"faults": []}
