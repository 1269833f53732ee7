"""openapi.json: what the generator makes of the handlers' routes, and the routes template.yaml deploys."""

from __future__ import annotations

import json
import re

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from openapi_spec_validator import validate

from devkit.openapi import DOCUMENT_PATH, build_document, main, render, route_apps
from devkit.template import REPO_ROOT, functions


def placeholders_blank(path: str) -> str:
    """``/a/{id}`` and ``/a/{change_order_id}`` are the same route to API Gateway."""
    return re.sub(r"\{[^}]+\}", "{}", path)


@pytest.fixture(scope="module")
def document() -> dict:
    return json.loads(DOCUMENT_PATH.read_text())


def test_the_committed_description_is_what_the_generator_makes_of_the_routes():
    assert DOCUMENT_PATH.read_text() == render(build_document()), "openapi.json is out of date: run `make openapi`"


def test_its_operations_are_the_api_events_of_the_template(document, repo_template):
    described = {
        (method.upper(), placeholders_blank(path)) for path, item in document["paths"].items() for method in item
    }
    deployed = {
        (route.method, placeholders_blank(route.path))
        for spec in functions(repo_template, REPO_ROOT).values()
        for route in spec.api_routes
    }

    assert described == deployed


def test_it_is_a_valid_openapi_3_1_document(document):
    validate(document)
    assert document["openapi"].startswith("3.1")


def test_id_bounds_stay_exact_integers(document):
    # Powertools holds bounds as floats; 2^63 - 1 would come out as 9.223372036854776e18.
    sync = document["paths"]["/procore/rest/v1.0/potential_change_orders/sync"]["patch"]
    [project_id] = [parameter for parameter in sync["parameters"] if parameter["name"] == "project_id"]

    assert project_id["schema"]["minimum"] == 1
    assert project_id["schema"]["exclusiveMaximum"] == 2**63
    assert isinstance(project_id["schema"]["exclusiveMaximum"], int)


def test_a_route_the_generator_cannot_describe_fully_stops_it():
    extra = APIGatewayRestResolver(enable_validation=True)

    @extra.get("/extra/<item_id>")
    def _extra(item_id: str) -> dict:
        return {"item_id": item_id}

    with pytest.raises(ValueError, match=r"GET /extra/\{item_id\} has no RouteNotes"):
        build_document([*route_apps(), extra])


def test_check_says_whether_the_file_is_up_to_date(tmp_path):
    written = tmp_path / "openapi.json"
    written.write_text("{}\n")

    assert main(["--check", "--output", str(written)]) == 1
    assert main(["--output", str(written)]) == 0
    assert main(["--check", "--output", str(written)]) == 0
