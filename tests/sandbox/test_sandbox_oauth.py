"""Procore client-credentials token endpoint and token validity on the sync route."""

from typing import Any

import httpx
import pytest

BUILTIN_CREDENTIALS = {"client_id": "sandbox-client", "client_secret": "sandbox-secret"}
GRANT = {"grant_type": "client_credentials", **BUILTIN_CREDENTIALS}
INVALID_CLIENT = {
    "error": "invalid_client",
    "error_description": (
        "Client authentication failed due to unknown client, no client authentication included, "
        "or unsupported authentication method."
    ),
}


@pytest.mark.parametrize(
    "encoding",
    [
        {"data": GRANT},
        {"files": {name: (None, value) for name, value in GRANT.items()}},
        {"json": GRANT},
        {"params": GRANT},
    ],
    ids=["urlencoded", "multipart", "json", "query"],
)
def test_token_accepts_every_documented_encoding(http: httpx.Client, encoding: dict[str, Any]) -> None:
    response = http.post("/oauth/token", **encoding)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "created_at"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 5400
    assert isinstance(body["created_at"], int)


def test_tokens_are_distinct(http: httpx.Client) -> None:
    first = http.post("/oauth/token", data=GRANT).json()["access_token"]
    second = http.post("/oauth/token", data=GRANT).json()["access_token"]

    assert first != second


@pytest.mark.parametrize(
    "credentials",
    [
        {"client_id": "sandbox-client", "client_secret": "wrong"},
        {"client_id": "someone-else", "client_secret": "sandbox-secret"},
        {"client_id": "sandbox-client"},
        {},
    ],
)
def test_bad_client_is_invalid_client(http: httpx.Client, credentials: dict[str, Any]) -> None:
    response = http.post("/oauth/token", data={"grant_type": "client_credentials", **credentials})

    assert response.status_code == 401
    assert response.json() == INVALID_CLIENT


def test_other_grant_types_are_unsupported(http: httpx.Client) -> None:
    response = http.post("/oauth/token", data={**GRANT, "grant_type": "password"})

    assert response.status_code == 400
    assert response.json() == {"error": "unsupported_grant_type"}


def test_missing_grant_type_is_invalid_request(http: httpx.Client) -> None:
    response = http.post("/oauth/token", data=BUILTIN_CREDENTIALS)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_registered_client_gets_tokens(procore) -> None:
    response = procore.http.post("/_sandbox/procore/clients", json={"client_id": "app-2", "client_secret": "s2"})
    assert response.status_code == 201

    token = procore.token("app-2", "s2")

    assert procore.sync([], token=token).status_code == 200


def test_register_client_validates_input(http: httpx.Client) -> None:
    response = http.post("/_sandbox/procore/clients", json={"client_id": "app-2"})

    assert response.status_code == 400
    assert "client_secret" in response.json()["error"]


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic c2FuZGJveA==", "Bearer"])
def test_missing_or_unknown_token_is_rejected(procore, authorization: str | None) -> None:
    headers = {"Procore-Company-Id": "1"}
    if authorization:
        headers["Authorization"] = authorization
    response = procore.http.patch(
        "/rest/v1.0/potential_change_orders/sync",
        params={"project_id": 2, "contract_id": 3},
        headers=headers,
        json={"updates": []},
    )

    assert response.status_code == 401
    assert response.json() == {"errors": "The access token is invalid"}
    assert "x-rate-limit-limit" not in response.headers  # not attributable to a client


def test_token_with_zero_lifetime_is_already_expired(procore) -> None:
    procore.configure(token_lifetime_seconds=0)
    response = procore.http.post("/oauth/token", data=GRANT)
    assert response.json()["expires_in"] == 0

    sync = procore.sync([], token=response.json()["access_token"])

    assert sync.status_code == 401
    assert sync.json() == {"errors": "The access token is invalid"}


def test_expire_tokens_invalidates_issued_tokens_only(procore) -> None:
    old = procore.token()
    assert procore.sync([], token=old).status_code == 200

    response = procore.http.post("/_sandbox/procore/expire-tokens")

    assert response.json() == {"expired": 1}
    assert procore.sync([], token=old).status_code == 401
    assert procore.sync([], token=procore.token()).status_code == 200
