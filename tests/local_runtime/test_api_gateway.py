"""The local API over real HTTP: requests become API Gateway proxy events, proxy results become responses."""

import base64
import json
import uuid

import httpx
import pytest

from devkit.aws import provision
from tests.local_runtime.conftest import FIXTURES, reset_moto, running_runtime


@pytest.fixture(scope="module")
def api(moto, fixture_template, tmp_path_factory):
    """One runtime of the fixture template for the module (Stage overridden), and an HTTP client for it."""
    reset_moto(moto)
    stack = provision(fixture_template, moto.endpoint_url, {"Stage": "qa"})
    with (
        running_runtime(stack, FIXTURES, tmp_path_factory.mktemp("logs")) as running,
        httpx.Client(base_url=running.url, timeout=10) as client,
    ):
        yield client


def test_a_request_becomes_the_rest_proxy_event(api):
    response = api.put(
        "/items/a%20b?x=1&x=2&y=hello+world&empty=",
        headers=[("X-Multi", "first"), ("X-Multi", "second"), ("User-Agent", "probe/1")],
        content=b"\xff\xfenot utf-8",
    )

    assert response.status_code == 200
    event = response.json()["event"]
    assert event["resource"] == "/items/{id}"
    assert event["path"] == "/items/a b"
    assert event["httpMethod"] == "PUT"
    assert event["pathParameters"] == {"id": "a b"}
    assert event["queryStringParameters"] == {"x": "2", "y": "hello world", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": ["hello world"], "empty": [""]}
    assert event["headers"]["X-Multi"] == "second"
    assert event["multiValueHeaders"]["X-Multi"] == ["first", "second"]
    assert event["stageVariables"] == {"flavour": "vanilla"}
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\xfenot utf-8"
    context = event["requestContext"]
    assert context["resourcePath"] == "/items/{id}"
    assert context["httpMethod"] == "PUT"
    assert context["stage"] == "qa"
    assert context["path"] == "/qa/items/a b"
    assert context["accountId"] == "123456789012"
    assert context["apiId"] == "ProbeApi"
    assert context["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "probe/1"}
    assert context["requestTimeEpoch"] > 0
    assert str(uuid.UUID(context["requestId"])) == context["requestId"] == response.headers["x-amzn-RequestId"]


def test_absent_parts_are_null_as_api_gateway_sends_them(api):
    event = api.get("/items/special").json()["event"]

    assert event["resource"] == "/items/special"
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["pathParameters"] is None
    assert event["body"] is None
    assert event["isBase64Encoded"] is False


def test_a_text_body_stays_text_and_a_greedy_path_takes_the_rest(api):
    text = json.dumps({"name": "Façade — revised"}, ensure_ascii=False)
    post = api.post("/items/7", content=text.encode()).json()["event"]
    files = api.get("/files/a/b/c.txt").json()["event"]

    assert (post["body"], post["isBase64Encoded"]) == (text, False)
    assert files["pathParameters"] == {"proxy": "a/b/c.txt"}


def test_the_function_runs_like_lambda(api):
    answer = api.get("/items/1").json()

    assert answer["layer"] == "probe layer"
    assert answer["cwd"] == str(FIXTURES / "function")


def test_the_proxy_result_becomes_the_response(api):
    created = api.get("/items/1", params={"status": "201"})
    binary = api.get("/items/1", params={"binary": "1"})

    assert created.status_code == 201
    assert created.headers["X-Single"] == "one"
    assert created.headers.get_list("Set-Cookie") == ["a=1", "b=2"]
    assert binary.headers["Content-Type"] == "application/octet-stream"
    assert binary.content == b"\x00\xffbinary"


@pytest.mark.parametrize(("method", "path"), [("GET", "/nowhere"), ("DELETE", "/files/x"), ("GET", "/items/1/2")])
def test_no_route_is_api_gateways_403(api, method, path):
    response = api.request(method, path)

    assert response.status_code == 403
    assert response.json() == {"message": "Missing Authentication Token"}
    assert response.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


@pytest.mark.parametrize("steer", ["fail", "malformed", "sleep=3"])
def test_a_failed_timed_out_or_malformed_invocation_is_a_502(api, steer):
    response = api.get(f"/items/1?{steer}")

    assert response.status_code == 502
    assert response.json() == {"message": "Internal server error"}
