"""API Gateway's and Lambda's rules the runtime follows, checked without processes: route choice, proxy results,
and which records of an SQS batch stay on the queue."""

import base64

import pytest

from devkit.aws import template_values
from devkit.local_runtime.proxy_event import proxy_response
from devkit.local_runtime.routes import RestRoute, RouteTable, Stage, rest_routes
from devkit.queue_delivery import failed_message_ids
from devkit.template import TemplateError, functions, resolve_parameters
from tests.local_runtime.conftest import FIXTURES

STAGE = Stage(api="Api", name="dev", variables=None)


def table(*routes: tuple[str, str, str]) -> RouteTable:
    return RouteTable(RestRoute(function, method, path, STAGE) for function, method, path in routes)


def test_the_most_specific_resource_wins():
    routes = table(
        ("Literal", "GET", "/items/special"),
        ("Item", "GET", "/items/{id}"),
        ("Greedy", "GET", "/items/{proxy+}"),
    )

    matches = [routes.match("GET", path) for path in ("/items/special", "/items/42", "/items/a/b%2Fc")]

    assert [(m.route.function, m.path_parameters) if m else None for m in matches] == [
        ("Literal", None),
        ("Item", {"id": "42"}),
        ("Greedy", {"proxy": "a/b/c"}),
    ]


def test_path_parameters_are_percent_decoded_and_any_takes_every_method():
    routes = table(("Item", "ANY", "/items/{id}"))

    match = routes.match("DELETE", "/items/a%20b")

    assert match is not None
    assert match.path_parameters == {"id": "a b"}


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nothing"), ("POST", "/items/1"), ("GET", "/items"), ("GET", "/items/"), ("GET", "/items/1/more")],
)
def test_no_route_means_no_match(method, path):
    assert table(("Item", "GET", "/items/{id}")).match(method, path) is None


def test_routes_of_the_template_carry_the_resolved_stage(fixture_template):
    specs = functions(fixture_template, FIXTURES).values()
    values = template_values(fixture_template, resolve_parameters(fixture_template, {"Stage": "qa"}))
    routes = rest_routes(fixture_template, specs, values)

    assert {(r.method, r.path, r.function) for r in routes} == {
        ("ANY", "/items/{id}", "EchoFunction"),
        ("GET", "/items/special", "EchoFunction"),
        ("GET", "/files/{proxy+}", "EchoFunction"),
    }
    assert all(r.stage == Stage(api="ProbeApi", name="qa", variables={"flavour": "vanilla"}) for r in routes)


def test_routes_of_an_http_api_are_refused(fixture_template):
    template = {**fixture_template, "Resources": dict(fixture_template["Resources"])}
    template["Resources"]["ProbeApi"] = {**template["Resources"]["ProbeApi"], "Type": "AWS::ApiGatewayV2::Api"}
    values = template_values(template, resolve_parameters(template))

    with pytest.raises(TemplateError, match="HTTP API"):
        rest_routes(template, functions(template, FIXTURES).values(), values)


def test_proxy_result_headers_merge_with_multi_value_ones_winning():
    response = proxy_response(
        {
            "statusCode": 201,
            "headers": {"X-One": "1", "Set-Cookie": "ignored=1", "Content-Length": "999"},
            "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]},
            "body": "created",
        }
    )

    assert response is not None
    assert response.status == 201
    assert response.body == b"created"
    assert response.headers == [
        ("set-cookie", "a=1"),
        ("set-cookie", "b=2"),
        ("X-One", "1"),
        ("Content-Type", "application/json"),  # API Gateway's default; Content-Length is the server's own
    ]


def test_a_status_code_may_be_digits_in_a_string():
    response = proxy_response({"statusCode": "202"})

    assert response is not None
    assert (response.status, response.body) == (202, b"")


def test_a_base64_proxy_result_is_decoded():
    response = proxy_response(
        {"statusCode": 200, "body": base64.b64encode(b"\x00\xff").decode(), "isBase64Encoded": True}
    )

    assert response is not None
    assert response.body == b"\x00\xff"


@pytest.mark.parametrize(
    "result",
    [
        None,
        "just a string",
        {"body": "no status"},
        {"statusCode": "OK"},
        {"statusCode": 200, "statusDescription": "OK"},  # an ALB field: API Gateway calls the result malformed
        {"statusCode": 200, "cookies": ["a=1"]},  # an HTTP API (payload 2.0) field
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "multiValueHeaders": {"X": "not a list"}},
        {"statusCode": 200, "body": "not base64!", "isBase64Encoded": True},
    ],
)
def test_a_malformed_proxy_result_has_no_response(result):
    assert proxy_response(result) is None


BATCH = {"Records": [{"messageId": "m1"}, {"messageId": "m2"}, {"messageId": "m3"}]}
REPORTS = ["ReportBatchItemFailures"]


@pytest.mark.parametrize(
    ("succeeded", "response", "types", "failed"),
    [
        (False, None, REPORTS, ["m1", "m2", "m3"]),  # an error or timeout fails the whole batch
        (False, None, [], ["m1", "m2", "m3"]),
        (True, {"batchItemFailures": [{"itemIdentifier": "m2"}]}, [], []),  # not reporting: any return succeeds
        (True, {"batchItemFailures": [{"itemIdentifier": "m2"}]}, REPORTS, ["m2"]),
        (True, {"batchItemFailures": []}, REPORTS, []),
        (True, None, REPORTS, []),
        (True, {}, REPORTS, []),
        (True, {"batchItemFailures": [{"itemIdentifier": "unknown"}]}, REPORTS, ["m1", "m2", "m3"]),
        (True, {"batchItemFailures": [{"itemIdentifier": ""}]}, REPORTS, ["m1", "m2", "m3"]),
        (True, {"batchItemFailures": [{"id": "m2"}]}, REPORTS, ["m1", "m2", "m3"]),
        (True, "not a response", REPORTS, ["m1", "m2", "m3"]),
    ],
)
def test_which_records_stay_on_the_queue(succeeded, response, types, failed):
    assert failed_message_ids(BATCH, succeeded, response, types) == failed
