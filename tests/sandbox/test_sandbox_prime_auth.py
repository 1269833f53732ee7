"""Primavera Cloud: the token service, bearer and tenant-header checks, token expiry and the per-second limit."""

import base64
import time
from typing import Any

import httpx
import pytest

TOKEN_PATH = "/primediscovery/apitoken/request"
BATCH_PATH = "/primeapi/restapi/changeOrderSOV/batch"
USER = ("sandbox-user", "sandbox-password")
REQUEST_HEADERS = {
    "x-prime-tenant": "sandbox-tenant",
    "x-prime-identity-app": "sandbox-identity-app",
    "x-prime-region": "us-phoenix-1",
}
TENANT_HEADERS = {"x-prime-tenant-code": "SBX01", **REQUEST_HEADERS}
UNAUTHORIZED = {"status": 401, "message": "Unauthorized"}
ITEM = {"changeOrderLineItemId": 1, "name": "A", "sovType": "LUMP_SUM", "changeOrderSovCost": {"total": 5}}


def scope(http: httpx.Client, with_port: bool = False) -> str:
    url = http.base_url
    return f"http://{url.host}:{url.port}/api" if with_port else f"http://{url.host}/api"


def request_token(http: httpx.Client, auth: tuple[str, str] = USER, **kwargs: Any) -> httpx.Response:
    return http.post(TOKEN_PATH, params={"scope": scope(http)}, auth=auth, **kwargs)


def token(http: httpx.Client) -> str:
    return str(request_token(http).json()["access_token"])


def batch(http: httpx.Client, access_token: str | None, **headers: str) -> httpx.Response:
    sent = {"Content-Type": "application/json", **TENANT_HEADERS, **headers}
    if access_token is not None:
        sent["Authorization"] = f"Bearer {access_token}"
    return http.post(BATCH_PATH, json=[ITEM], headers={name: value for name, value in sent.items() if value})


def sovs(http: httpx.Client) -> list[object]:
    found: list[object] = http.get("/_sandbox/prime/sovs").json()["sovs"]
    return found


def configure(http: httpx.Client, **prime: object) -> None:
    http.post("/_sandbox/config", json={"prime": prime}).raise_for_status()


# --- token -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [{}, {"data": {"grant_type": "client_credentials"}}],
    ids=["no-body", "form-body"],
)
def test_token_with_and_without_the_form_body(http: httpx.Client, body: dict[str, Any]) -> None:
    response = request_token(http, **body)

    assert response.status_code == 200
    answer = response.json()
    assert answer == {
        "accessToken": answer["access_token"],
        "access_token": answer["access_token"],
        "token_type": "Bearer",
        "expiresIn": 3600,
        "primeTenantCode": "SBX01",
        "requestHeaders": REQUEST_HEADERS,
    }


def test_a_user_registered_with_the_older_token_shape_gets_it_and_must_send_its_headers(http: httpx.Client) -> None:
    registered = http.post(
        "/_sandbox/prime/users", json={"username": "old@example.com", "password": "pw", "token_shape": "older"}
    )
    assert registered.status_code == 201

    answer = request_token(http, auth=("old@example.com", "pw")).json()

    assert answer == {
        "accessToken": answer["accessToken"],
        "expiresIn": 3600,
        "primeTenant": "sandbox-tenant",
        "primeIdentityApp": "sandbox-identity-app",
        "userName": "old@example.com",
    }
    read = (
        "/primeapi/restapi/changeOrderSOV/workspace/w/project/p/changeOrder/c/associatedAgreement/a/type/CONTRACT"
        "/lineItem/l"
    )
    bearer = {"Authorization": f"Bearer {answer['accessToken']}"}
    older_headers = {"x-prime-tenant": "sandbox-tenant", "x-prime-identity-app": "sandbox-identity-app"}
    assert http.get(read, headers={**bearer, **older_headers}).status_code == 204
    refused = http.get(read, headers={**bearer, "x-prime-tenant": "sandbox-tenant"})
    assert refused.status_code == 401 and "x-prime-identity-app" in refused.json()["message"]


def test_a_token_shape_the_sandbox_does_not_know_is_refused(http: httpx.Client) -> None:
    response = http.post("/_sandbox/prime/users", json={"username": "u", "password": "p", "token_shape": "newest"})
    assert response.status_code == 400


def test_scope_may_name_the_port(http: httpx.Client) -> None:
    response = http.post(TOKEN_PATH, params={"scope": scope(http, with_port=True)}, auth=USER)

    assert response.status_code == 200


@pytest.mark.parametrize(
    "bad_scope",
    [None, "", "https://127.0.0.1/api", "http://127.0.0.1/", "http://127.0.0.1/api/v2", "http://example.com/api"],
)
def test_wrong_scope_is_invalid_scope(http: httpx.Client, bad_scope: str | None) -> None:
    params = {} if bad_scope is None else {"scope": bad_scope}

    response = http.post(TOKEN_PATH, params=params, auth=USER)

    assert response.status_code == 400
    assert response.json() == {"error": "invalid_scope"}


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic " + base64.b64encode(b"sandbox-user:wrong").decode(),
        "Basic " + base64.b64encode(b"someone:sandbox-password").decode(),
        "Basic " + base64.b64encode(b"sandbox-user").decode(),
        "Basic not-base64!",
        "Bearer abc",
        None,
    ],
    ids=["wrong-password", "unknown-user", "no-colon", "not-base64", "bearer", "none"],
)
def test_wrong_credentials_are_401(http: httpx.Client, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    response = http.post(TOKEN_PATH, params={"scope": scope(http)}, headers=headers)

    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


def test_other_grant_types_are_refused(http: httpx.Client) -> None:
    response = request_token(http, data={"grant_type": "password"})

    assert response.status_code == 400
    assert response.json() == {"error": "unsupported_grant_type"}


def test_registered_users_get_tokens_and_reset_forgets_them(http: httpx.Client) -> None:
    registered = http.post("/_sandbox/prime/users", json={"username": "pm@example.com", "password": "pw"})
    assert registered.status_code == 201
    assert registered.json() == {"username": "pm@example.com", "token_shape": "current"}

    assert request_token(http, auth=("pm@example.com", "pw")).status_code == 200
    http.post("/_sandbox/reset")
    assert request_token(http, auth=("pm@example.com", "pw")).status_code == 401


@pytest.mark.parametrize(
    "body", [{"username": "u"}, {"username": "", "password": "p"}, {"username": "a:b", "password": "p"}]
)
def test_registering_a_user_needs_a_username_and_password(http: httpx.Client, body: dict[str, str]) -> None:
    response = http.post("/_sandbox/prime/users", json=body)

    assert response.status_code == 400
    assert response.json()["error"]


def test_token_requests_are_logged_without_body_or_credentials(http: httpx.Client) -> None:
    access_token = request_token(http, data={"grant_type": "client_credentials"}).json()["access_token"]
    batch(http, access_token)

    log = http.get("/_sandbox/requests", params={"vendor": "prime"})

    assert "sandbox-password" not in log.text
    assert access_token not in log.text
    token_entry, batch_entry = log.json()["requests"]
    assert (token_entry["route"], token_entry["body"], token_entry["headers"]["authorization"]) == (
        "prime.token",
        None,
        "Basic ***",
    )
    assert (batch_entry["route"], batch_entry["status"], batch_entry["headers"]["authorization"]) == (
        "prime.batch",
        201,
        "Bearer ***",
    )


# --- bearer token and tenant headers on the batch route --------------------------------------------------------


@pytest.mark.parametrize("access_token", [None, "unknown-token"])
def test_missing_or_unknown_token_is_401(http: httpx.Client, access_token: str | None) -> None:
    response = batch(http, access_token)

    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert sovs(http) == []


@pytest.mark.parametrize("header", sorted(TENANT_HEADERS))
@pytest.mark.parametrize("value", ["", "wrong"], ids=["missing", "wrong"])
def test_missing_or_wrong_tenant_header_is_401_naming_it(http: httpx.Client, header: str, value: str) -> None:
    response = batch(http, token(http), **{header: value})

    assert response.status_code == 401
    assert response.json()["status"] == 401
    assert header in response.json()["message"]
    assert sovs(http) == []


def test_expire_tokens_invalidates_issued_tokens(http: httpx.Client) -> None:
    access_token = token(http)
    assert batch(http, access_token).status_code == 201

    assert http.post("/_sandbox/prime/expire-tokens").json() == {"expired": 1}

    expired = batch(http, access_token)
    assert expired.status_code == 401
    assert expired.json() == UNAUTHORIZED
    assert batch(http, token(http)).status_code == 201


def test_token_lifetime_is_configurable(http: httpx.Client) -> None:
    configure(http, token_lifetime_seconds=0)

    answer = request_token(http).json()

    assert answer["expiresIn"] == 0
    assert batch(http, answer["access_token"]).status_code == 401


# --- per-second rate limit -------------------------------------------------------------------------------------


def test_above_the_per_second_limit_is_429_text_without_headers(http: httpx.Client) -> None:
    configure(http, requests_per_second=2)
    access_token = token(http)

    responses = [batch(http, access_token) for _ in range(3)]

    assert [response.status_code for response in responses] == [201, 201, 429]
    limited = responses[2]
    assert limited.headers["content-type"].startswith("text/plain")
    assert limited.text == "429- Too Many Requests"
    assert not [name for name in limited.headers if "rate" in name or name == "retry-after"]
    assert len(sovs(http)) == 2


def test_the_window_resets_after_a_second(http: httpx.Client) -> None:
    configure(http, requests_per_second=1)
    access_token = token(http)
    assert batch(http, access_token).status_code == 201
    assert batch(http, access_token).status_code == 429

    time.sleep(1.05)

    assert batch(http, access_token).status_code == 201


def test_failed_requests_of_a_user_count_too(http: httpx.Client) -> None:
    configure(http, requests_per_second=3)
    expired_token = token(http)
    http.post("/_sandbox/prime/expire-tokens")
    access_token = token(http)
    assert batch(http, expired_token).status_code == 401
    assert batch(http, access_token, **{"x-prime-region": "wrong"}).status_code == 401
    invalid = http.post(
        BATCH_PATH,
        content=b"[]",
        headers={"Authorization": f"Bearer {access_token}", "Content-Type": "application/json", **TENANT_HEADERS},
    )
    assert invalid.status_code == 400

    assert batch(http, access_token).status_code == 429


def test_requests_without_a_known_token_do_not_count(http: httpx.Client) -> None:
    configure(http, requests_per_second=1)
    for _ in range(3):
        assert batch(http, "unknown-token").status_code == 401

    assert batch(http, token(http)).status_code == 201


def test_the_limit_is_per_user(http: httpx.Client) -> None:
    configure(http, requests_per_second=1)
    http.post("/_sandbox/prime/users", json={"username": "other", "password": "pw"})
    assert batch(http, token(http)).status_code == 201

    other_token = request_token(http, auth=("other", "pw")).json()["access_token"]

    assert batch(http, other_token).status_code == 201
