"""Fixtures for the vendor sandbox tests: a fresh sandbox per test and a small Procore test client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devkit.sandbox import RunningSandbox, start_sandbox

SYNC_PATH = "/rest/v1.0/potential_change_orders/sync"
JsonObject = dict[str, Any]


class ProcoreTestClient:
    """Thin helpers over httpx for the Procore routes and the control API."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def token(self, client_id: str = "sandbox-client", client_secret: str = "sandbox-secret") -> str:
        response = self.http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def sync(
        self,
        updates: object,
        *,
        token: str | None = None,
        company: int | str | None = 1,
        project: int | str | None = 2,
        contract: int | str | None = 3,
        timeout: float | None = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token()}"}
        if company is not None:
            headers["Procore-Company-Id"] = str(company)
        params = {
            name: value for name, value in (("project_id", project), ("contract_id", contract)) if value is not None
        }
        return self.http.patch(
            SYNC_PATH,
            params=params,
            headers=headers,
            json={"updates": updates},
            timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
        )

    def configure(self, **procore: object) -> JsonObject:
        response = self.http.post("/_sandbox/config", json={"procore": procore})
        assert response.status_code == 200, response.text
        config: JsonObject = response.json()
        return config

    def add_fault(self, **rule: object) -> JsonObject:
        response = self.http.post("/_sandbox/faults", json=rule)
        assert response.status_code == 201, response.text
        added: JsonObject = response.json()
        return added

    def pcos(self, **filters: int) -> list[JsonObject]:
        pcos: list[JsonObject] = self.http.get("/_sandbox/procore/pcos", params=filters).json()["pcos"]
        return pcos

    def requests(self, vendor: str | None = "procore") -> list[JsonObject]:
        params = {"vendor": vendor} if vendor else {}
        entries: list[JsonObject] = self.http.get("/_sandbox/requests", params=params).json()["requests"]
        return entries


@pytest.fixture(scope="session")
def shared_sandbox() -> Iterator[RunningSandbox]:
    with start_sandbox() as running:
        yield running


@pytest.fixture(scope="session")
def shared_http(shared_sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    # One client for the session: building an httpx.Client costs tens of milliseconds (TLS context).
    with httpx.Client(base_url=shared_sandbox.url, timeout=5) as client:
        yield client


@pytest.fixture
def sandbox(shared_sandbox: RunningSandbox, shared_http: httpx.Client) -> RunningSandbox:
    """The session's sandbox, reset: as good as a fresh one, without a server start per test."""
    shared_http.post("/_sandbox/reset").raise_for_status()
    return shared_sandbox


@pytest.fixture
def http(sandbox: RunningSandbox, shared_http: httpx.Client) -> httpx.Client:
    return shared_http


@pytest.fixture
def procore(http: httpx.Client) -> ProcoreTestClient:
    return ProcoreTestClient(http)
