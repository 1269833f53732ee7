"""Cached auth headers: reused until expiry, renewed once after a 401, the secret re-read after a refusal.

Also the token replies that break the contract, and what is remembered for redaction.
"""

import base64
import json

import boto3
import httpx
import pytest
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from botocore.stub import Stubber

from connectors.auth.cached import EXPIRY_MARGIN_SECONDS, CachedAuth, basic_authorization, token_lifetime
from connectors.auth.prime import prime_token_fetch
from connectors.auth.procore import procore_token_fetch
from connectors.failures import ConnectorError, FailureClass, misconfiguration
from connectors.models.errors import ErrorResponse
from connectors.models.prime import PrimeConnection
from connectors.models.procore import ProcoreConnection
from connectors.redact import MARKER, redact
from connectors.secrets import SecretStore


class Clock:
    now = 1000.0

    def __call__(self):
        return self.now


def test_headers_are_reused_until_shortly_before_they_expire():
    fetched = []
    clock = Clock()

    def fetch(fresh):
        fetched.append(fresh)
        return {"Authorization": f"Bearer t{len(fetched)}"}, 600.0

    auth = CachedAuth(fetch, clock)
    assert auth.current().headers["Authorization"] == "Bearer t1"
    clock.now += 600 - EXPIRY_MARGIN_SECONDS - 1
    assert auth.current().headers["Authorization"] == "Bearer t1"
    clock.now += 2
    assert auth.current().headers["Authorization"] == "Bearer t2"
    assert fetched == [False, False]


def test_a_401_renews_once_and_reads_the_secret_afresh():
    fetched = []

    def fetch(fresh):
        fetched.append(fresh)
        return {"Authorization": f"Bearer t{len(fetched)}"}, None

    statuses = iter([401, 200])
    seen = []

    def vendor(request):
        seen.append(request.headers["Authorization"])
        return httpx.Response(next(statuses))

    client = httpx.Client(transport=httpx.MockTransport(vendor), auth=CachedAuth(fetch))
    assert client.get("https://vendor.test/").status_code == 200
    assert seen == ["Bearer t1", "Bearer t2"] and fetched == [False, True]


def test_a_second_401_is_handed_back_not_retried_forever():
    client = httpx.Client(
        transport=httpx.MockTransport(lambda request: httpx.Response(401)),
        auth=CachedAuth(lambda fresh: ({"Authorization": "Bearer x"}, None)),
    )
    assert client.get("https://vendor.test/").status_code == 401


def test_credentials_refused_with_the_cached_secret_are_tried_once_with_a_fresh_read():
    reads = []

    def fetch(fresh):
        reads.append(fresh)
        if not fresh:
            raise misconfiguration("token endpoint refused the credentials", 401)
        return {"Authorization": "Bearer rotated"}, 60.0

    assert CachedAuth(fetch).current().headers["Authorization"] == "Bearer rotated"
    assert reads == [False, True]


def test_credentials_refused_twice_are_a_misconfiguration():
    def fetch(fresh):
        raise misconfiguration("refused", 401)

    with pytest.raises(ConnectorError, match="refused"):
        CachedAuth(fetch).current()


# ---------------------------------------------------------------------------------------------- token replies


def token_endpoint(status, body=None, text=None):
    """An httpx client whose every answer is ``status`` with JSON ``body`` (or raw ``text``)."""

    def answer(request):
        if text is not None:
            return httpx.Response(status, text=text, headers={"Content-Type": "text/html"})
        return httpx.Response(status, json=body)

    return httpx.Client(transport=httpx.MockTransport(answer))


PROCORE = ProcoreConnection(client_id="auth-client-id", client_secret="auth-client-secret-0f1e")
PRIME = PrimeConnection(username="auth-user", password="auth-password-2d3c", base_url="https://prime.test")


def procore_fetch(client):
    return procore_token_fetch(client, lambda fresh: PROCORE)(False)


def prime_fetch(client):
    return prime_token_fetch(client, lambda fresh: PRIME)(False)


@pytest.mark.parametrize("fetch", [procore_fetch, prime_fetch], ids=["procore", "prime"])
@pytest.mark.parametrize(
    "client",
    [
        pytest.param(lambda: token_endpoint(200, text="<html>maintenance</html>"), id="html"),
        pytest.param(lambda: token_endpoint(200, body=["access_token", "x"]), id="json-list"),
    ],
)
def test_a_200_whose_body_is_not_a_json_object_is_transient(fetch, client):
    with pytest.raises(ConnectorError) as raised:
        fetch(client())
    failure = raised.value
    assert failure.failure is FailureClass.TRANSIENT and failure.vendor_status == 200
    assert "token endpoint answered 200 with a body that is not a JSON object" in failure.message
    assert "maintenance" not in failure.message


def test_a_procore_token_reply_without_access_token_is_a_misconfiguration_naming_the_field_not_the_body():
    client = token_endpoint(200, body={"token_type": "bearer", "refresh_token": "auth-refresh-4b5a"})
    with pytest.raises(ConnectorError) as raised:
        procore_fetch(client)
    assert raised.value.failure is FailureClass.MISCONFIGURATION
    assert raised.value.message == "procore token endpoint answered 200 without access_token"


@pytest.mark.parametrize("body", [{}, {"access_token": None, "accessToken": ""}, {"access_token": 12345}])
def test_a_prime_token_reply_without_a_usable_token_is_a_misconfiguration_naming_both_fields(body):
    with pytest.raises(ConnectorError) as raised:
        prime_fetch(token_endpoint(200, body=body))
    assert raised.value.failure is FailureClass.MISCONFIGURATION
    assert raised.value.message == "prime token endpoint answered 200 without access_token or accessToken"


def test_a_current_prime_reply_hands_out_its_request_headers_and_the_tenant_code():
    headers_given = {"x-prime-tenant": "t", "x-prime-identity-app": "app", "x-prime-region": "r"}
    body = {"access_token": "prime-token-1", "primeTenantCode": "SBX01", "requestHeaders": headers_given}
    headers, _ = prime_fetch(token_endpoint(200, body=body))
    assert headers == {**headers_given, "x-prime-tenant-code": "SBX01", "Authorization": "Bearer prime-token-1"}


def test_an_older_prime_reply_without_request_headers_sends_its_tenant_and_identity_app():
    body = {"accessToken": "prime-old-token-77", "expiresIn": 3600, "primeTenant": "t", "primeIdentityApp": "app"}
    headers, lifetime = prime_fetch(token_endpoint(200, body=body))
    assert headers == {
        "x-prime-tenant": "t",
        "x-prime-identity-app": "app",
        "Authorization": "Bearer prime-old-token-77",
    }
    assert lifetime == 3600


@pytest.mark.parametrize(
    "shape",
    [{"primeTenantCode": "SBX01"}, {"primeTenant": "t"}, {"primeTenant": "t", "primeIdentityApp": ""}],
    ids=["tenant-code-only", "no-identity-app", "empty-identity-app"],
)
def test_a_prime_reply_in_neither_shape_is_a_misconfiguration_saying_what_is_missing(shape):
    with pytest.raises(ConnectorError) as raised:
        prime_fetch(token_endpoint(200, body={"access_token": "prime-token-2", **shape}))
    assert raised.value.failure is FailureClass.MISCONFIGURATION
    assert "neither documented shape" in raised.value.message and "primeIdentityApp" in raised.value.message
    assert "prime-token-2" not in raised.value.message


def test_prime_tenant_headers_that_are_not_an_object_are_a_misconfiguration():
    body = {"access_token": "prime-token-88", "requestHeaders": ["x-prime-tenant"]}
    with pytest.raises(ConnectorError) as raised:
        prime_fetch(token_endpoint(200, body=body))
    assert raised.value.failure is FailureClass.MISCONFIGURATION and "requestHeaders" in raised.value.message


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [
        (5400, 5400.0),
        ("3600", 3600.0),
        (12.5, 12.5),
        ("soon", 0.0),
        (None, 0.0),
        (True, 0.0),
        (-5, 0.0),
        ("nan", 0.0),
        ("inf", 0.0),
        (10**400, 0.0),
        ({"seconds": 60}, 0.0),
    ],
)
def test_an_unusable_expires_in_means_the_token_is_not_reused_and_nothing_crashes(expires_in, lifetime):
    assert token_lifetime({"expires_in": expires_in}, "expires_in") == lifetime
    headers, got = procore_fetch(token_endpoint(200, body={"access_token": "t-1", "expires_in": expires_in}))
    assert headers == {"Authorization": "Bearer t-1"} and got == lifetime


def test_the_first_usable_lifetime_name_wins():
    assert token_lifetime({"expiresIn": "later", "expires_in": 60}, "expiresIn", "expires_in") == 60.0


# ---------------------------------------------------------------------------------------------- redaction


def test_every_header_value_issued_is_remembered_for_redaction():
    issued = {"Authorization": "Bearer issued-token-5c6d", "APIKey": "issued-api-key-7e8f"}
    CachedAuth(lambda fresh: (issued, None)).current()
    assert redact("echo issued-token-5c6d / Bearer issued-token-5c6d / issued-api-key-7e8f") == (
        f"echo {MARKER} / {MARKER} / {MARKER}"
    )


def test_a_basic_header_is_remembered_as_sent():
    value = basic_authorization("auth-basic-user", "auth-basic-pässword")
    assert value == "Basic " + base64.b64encode("auth-basic-user:auth-basic-pässword".encode()).decode()
    assert redact(f"you sent {value.removeprefix('Basic ')}") == f"you sent {MARKER}"


def test_a_token_endpoint_echoing_the_basic_credentials_leaves_no_trace_in_the_reply():
    # The sandbox never echoes what it was sent; a vendor can, so this case is at the httpx seam.
    def echo(request):
        message = f"Unauthorized: {request.headers['Authorization']} for {request.url.query.decode()}"
        return httpx.Response(401, json={"status": 401, "message": message})

    with pytest.raises(ConnectorError) as raised:
        prime_fetch(httpx.Client(transport=httpx.MockTransport(echo)))
    reply = ErrorResponse.of(raised.value).model_dump_json()
    sent = base64.b64encode(b"auth-user:auth-password-2d3c").decode()
    assert sent in raised.value.message and sent not in reply
    assert raised.value.failure is FailureClass.MISCONFIGURATION and f"Unauthorized: {MARKER} for scope" in reply


def test_a_token_endpoint_echoing_a_secret_read_from_the_store_leaves_no_trace_in_the_reply():
    secret = {"client_id": "echo-client", "client_secret": "echo-client-secret-1a2b", "auth_base_url": "https://p.test"}
    client = boto3.client(
        "secretsmanager", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    stubber = Stubber(client)
    stubber.add_response("get_secret_value", {"Name": "p", "SecretString": json.dumps(secret)}, {"SecretId": "p"})
    stubber.activate()
    store = SecretStore(SecretsProvider(boto3_client=client))

    def echo(request):
        form = dict(item.split("=", 1) for item in request.content.decode().split("&"))
        text = f"client {form['client_id']} with secret {form['client_secret']} is unknown"
        return httpx.Response(401, json={"error": "invalid_client", "error_description": text})

    fetch = procore_token_fetch(
        httpx.Client(transport=httpx.MockTransport(echo)), lambda fresh: store.get_model("p", ProcoreConnection)
    )
    with pytest.raises(ConnectorError) as raised:
        fetch(False)
    reply = ErrorResponse.of(raised.value).model_dump_json()
    assert "echo-client-secret-1a2b" in raised.value.message
    assert "echo-client-secret-1a2b" not in reply and "echo-client" not in reply
