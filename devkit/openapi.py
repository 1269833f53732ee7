"""The API's OpenAPI description: every handler's Powertools schema, merged, plus what the handlers cannot declare.

``python -m devkit.openapi`` writes openapi.json at the repository root; ``--check`` only compares and exits 1
when the file is out of date.

Powertools describes the parameters and the pydantic bodies it validates itself. What it cannot see is added here:
the bodies the Prime and ConstructionOnline routes parse themselves (money keeps its exact decimal text), each
route's success status and reply, the credentials ``handle_api_event`` checks before routing, and the error replies
(the shared error model, with the statuses of ``connectors.failures``) in place of Powertools' own 422.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, HTTPBearer
from pydantic import BaseModel, TypeAdapter

from connectors.deliveries import DeliveryStatus
from connectors.failures import POLICIES, FailureClass
from connectors.models.constructiononline import CoInfo
from connectors.models.errors import ErrorResponse
from connectors.models.prime import SovItems
from connectors.models.procore import SyncResponse
from connectors.order import VERSION_ATTRIBUTE
from constructiononline_change_order_update.routes import ROUTE as CONSTRUCTIONONLINE_ROUTE
from constructiononline_change_order_update.routes import STATUS_ROUTE as CONSTRUCTIONONLINE_STATUS_ROUTE
from devkit.template import REPO_ROOT
from prime_change_order_sov_batch.routes import ROUTE as PRIME_ROUTE
from prime_change_order_sov_batch.routes import STATUS_ROUTE as PRIME_STATUS_ROUTE
from procore_pco_sync.routes import ROUTE as PROCORE_ROUTE
from procore_pco_sync.routes import STATUS_ROUTE as PROCORE_STATUS_ROUTE

DOCUMENT_PATH = REPO_ROOT / "openapi.json"
FUNCTIONS_DIR = REPO_ROOT / "functions"
TITLE = "Change-order connectors API"
DESCRIPTION = (
    "Mirrors of three vendor endpoints (Procore PCO sync, Oracle Primavera Cloud change-order SOV batch, "
    "ConstructionOnline change-order update) that forward to the vendor connection named by `connection`. "
    "Every request needs either `Authorization: Bearer <token>` or a Standard Webhooks signature "
    "(`webhook-id`, `webhook-timestamp`, `webhook-signature` over the raw body). Every error reply is the shared "
    "error model: `error.failure` is the failure class, `error.problems[].field` names each invalid field."
)
SCHEMA_REF = "#/components/schemas/{model}"
_BOUNDS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"})

BEARER = "bearerToken"
WEBHOOK_SCHEMES = {
    "webhookId": "webhook-id",
    "webhookTimestamp": "webhook-timestamp",
    "webhookSignature": "webhook-signature",
}
# Either the bearer token or all three signature headers (handle_api_event checks them before routing).
SECURITY: list[dict[str, list[str]]] = [{BEARER: []}, {name: [] for name in WEBHOOK_SCHEMES}]

_FAILURE_REPLIES: dict[FailureClass, str] = {
    FailureClass.INVALID_INPUT: "invalid_input: a parameter or the body is invalid; `error.problems` names each field",
    FailureClass.UNAUTHENTICATED: "unauthenticated: no bearer token or Standard Webhooks signature that is accepted",
    FailureClass.FORBIDDEN: (
        "forbidden: the caller's entry in the webhook secret does not allow this function or `connection`"
    ),
    FailureClass.VENDOR_REJECTED: (
        "vendor_rejected: the vendor refused the content; `error.message` carries its answer, "
        "`error.vendor_status` its status"
    ),
    FailureClass.RATE_LIMITED: "rate_limited: the vendor's limit is used up; retry after `Retry-After` seconds",
    FailureClass.TRANSIENT: "transient: the vendor failed or could not be reached; a later attempt may succeed",
    FailureClass.UNKNOWN_OUTCOME: (
        "unknown_outcome: the request was sent and no answer came; check the vendor before sending it again"
    ),
    FailureClass.MISCONFIGURATION: (
        "misconfiguration: the connection's secret is missing or the vendor refuses its credentials"
    ),
}
# Statuses a failure class answers besides its policy's (connectors.failures: too_large, transient's overrides).
_OTHER_REPLIES: tuple[tuple[int, str], ...] = (
    (409, "transient: a request with this Idempotency-Key is still being answered; retry after it ends"),
    (413, "invalid_input: the body is over the size limit; split it, or send it through the queue"),
    (415, "invalid_input: the body is labelled as something other than JSON"),
    (
        503,
        "transient or misconfiguration: the vendor, an AWS dependency or the callers' secret is unavailable; "
        "retry after `Retry-After` seconds when given",
    ),
    (504, "transient: the vendor did not answer within the invocation's time"),
)
IDEMPOTENCY_KEY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Answer this request once: a repeat gets the stored reply; reused for another request, refused. "
        "A signed request without it is keyed by its `webhook-id`. Keys belong to the caller that sent them"
    ),
    "schema": {"type": "string", "maxLength": 255},  # an empty one is no key: the request is answered as without one
}
VERSION_PARAMETER = {
    "name": VERSION_ATTRIBUTE,
    "in": "header",
    "required": False,
    "description": (
        "This edit's version: a number or an RFC 3339 date-time with an offset; without it, the time of the "
        "request. Properties a newer edit of the same object already set are not sent"
    ),
    "schema": {"type": "string", "maxLength": 64},
}
_RETRY_AFTER = {"description": "Seconds to wait before sending again", "schema": {"type": "integer", "minimum": 1}}
_REPLY_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "The accepted scheme", "schema": {"type": "string"}}},
    429: {"Retry-After": _RETRY_AFTER},
    503: {"Retry-After": _RETRY_AFTER},
}


@dataclass(frozen=True)
class RouteNotes:
    """What a route does that Powertools cannot see: bodies it parses itself, its success status and reply."""

    success_status: int
    success_description: str
    reply: Any
    body: Any = None
    body_required: bool = True
    body_description: str = ""
    json_query: dict[str, Any] = field(default_factory=dict)
    """Query parameters whose value is JSON text, by name, with the type it must hold."""
    ordered: bool = False
    """The route's edits are ordered by version (connectors.order): it reads the version header."""
    replayed: bool = True
    """A repeat is answered from the stored reply (the Idempotency-Key header); reads are not."""
    not_found: str = ""
    """When the route answers 404 (the shared error model), if it does."""


NOTES: dict[tuple[str, str], RouteNotes] = {
    ("patch", PROCORE_ROUTE): RouteNotes(
        success_status=200,
        success_description=(
            "Procore's answer: the PCOs stored (`entities`) and the items it refused (`errors`); `superseded` lists "
            "the updates not sent because newer edits already set every attribute they carry"
        ),
        reply=SyncResponse,
        ordered=True,
    ),
    ("post", PRIME_ROUTE): RouteNotes(
        success_status=201,
        success_description="The created change-order SOVs, in request order, as Oracle answers them",
        reply=list[dict[str, Any]],
        body=SovItems,
        body_description="Oracle's batch body: a non-empty array of change-order SOVs (money as exact decimals)",
    ),
    ("put", CONSTRUCTIONONLINE_ROUTE): RouteNotes(
        success_status=200,
        success_description=(
            'The whole change order after the update, as ConstructionOnline answers it; or `{"superseded": why}` '
            "when newer edits already set every property of this one"
        ),
        reply=dict[str, Any],
        body=CoInfo,
        body_required=False,
        body_description="The properties to change (coInfo), when not sent as the coInfo query parameter",
        json_query={"coInfo": CoInfo},
        ordered=True,
    ),
    **{
        ("get", route): RouteNotes(
            success_status=200,
            success_description=(
                "What became of the change order sent under `key` to this function: `in_progress`, `delivered` "
                "(with the vendor's ids), `waiting_to_retry` (with the last error and when), `dead_lettered` (with "
                "the reason), or for an API request `refused`. A queued record is found on the `connection` it was "
                "sent to; an API request only by the caller that sent it. 404 when nothing is known under the key"
            ),
            reply=DeliveryStatus,
            replayed=False,
            not_found=(
                "invalid_input naming `query.key`: nothing is known under the key on this connection (never sent, "
                "expired, sent on another connection, or an API request another caller sent)"
            ),
        )
        for route in (PROCORE_STATUS_ROUTE, PRIME_STATUS_ROUTE, CONSTRUCTIONONLINE_STATUS_ROUTE)
    },
}


def openapi_path(route: str) -> str:
    """A Powertools route (``/items/<id>``) as an OpenAPI path (``/items/{id}``)."""
    return re.sub(r"<(\w+)>", r"{\1}", route)


def route_apps(functions_dir: Path = FUNCTIONS_DIR) -> list[APIGatewayRestResolver]:
    """The ``app`` of every function package's routes module (functions/<op>/<op>/routes.py)."""
    apps = []
    for routes in sorted(functions_dir.glob("*/*/routes.py")):
        module = importlib.import_module(f"{routes.parent.name}.routes")
        app = getattr(module, "app", None)
        if isinstance(app, APIGatewayRestResolver):
            apps.append(app)
    return apps


def merged_schema(apps: Sequence[APIGatewayRestResolver]) -> dict[str, Any]:
    """The apps' schemas merged by Powertools, with the API's security schemes; a route defined twice raises."""
    merge = OpenAPIMerge(
        title=TITLE,
        version=_project_version(),
        description=DESCRIPTION,
        security_schemes={
            BEARER: HTTPBearer(description="A token of the `<prefix>/webhook` secret's bearer_tokens"),
            **{
                scheme: APIKey(
                    in_=APIKeyIn.header,
                    name=header,
                    description="Standard Webhooks signature header (signed with a key of signing_secrets)",
                )
                for scheme, header in WEBHOOK_SCHEMES.items()
            },
        },
        security=SECURITY,
        on_conflict="error",
    )
    for app in apps:
        merge.add_schema(app.get_openapi_schema().model_dump(by_alias=True, exclude_none=True, mode="json"))
    document: dict[str, Any] = _integer_bounds(json.loads(merge.get_openapi_json_schema()))
    return document


def _integer_bounds(value: Any) -> Any:
    """``value`` with integral float bounds as integers.

    Powertools' schema model holds bounds as floats (1 becomes 1.0); every bound of the models is an integer that
    a float holds exactly (ids are bounded below 2^63, not at 2^63 - 1), so this gives back the models' own values.
    """
    if isinstance(value, dict):
        return {
            key: int(item)
            if key in _BOUNDS and isinstance(item, float) and item.is_integer()
            else _integer_bounds(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_integer_bounds(item) for item in value]
    return value


def build_document(apps: Sequence[APIGatewayRestResolver] | None = None) -> dict[str, Any]:
    """The whole OpenAPI document of ``apps`` (default: every function's)."""
    document = merged_schema(route_apps() if apps is None else apps)
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    document["components"]["responses"] = _error_responses(schemas)
    described = set()
    for method, path, operation in _operations(document):
        key = next((k for k in NOTES if k[0] == method and openapi_path(k[1]) == path), None)
        if key is None:
            raise ValueError(f"{method.upper()} {path} has no RouteNotes in devkit/openapi.py: add its entry")
        described.add(key)
        _describe_operation(operation, NOTES[key], schemas, document["components"]["responses"])
    missing = sorted(f"{method.upper()} {route}" for method, route in NOTES.keys() - described)
    if missing:
        raise ValueError(f"RouteNotes for routes no handler serves: {', '.join(missing)}")
    _drop_unreferenced_schemas(document)
    return document


def render(document: dict[str, Any]) -> str:
    """The document as the committed file holds it."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _project_version() -> str:
    with (REPO_ROOT / "pyproject.toml").open("rb") as pyproject:
        return str(tomllib.load(pyproject)["project"]["version"])


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            yield method, path, operation


def _schema_of(annotation: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of ``annotation``, its named parts moved into ``schemas``."""
    schema = TypeAdapter(annotation).json_schema(ref_template=SCHEMA_REF)
    for name, definition in schema.pop("$defs", {}).items():
        _add_schema(schemas, name, definition)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        _add_schema(schemas, annotation.__name__, schema)
        return {"$ref": SCHEMA_REF.format(model=annotation.__name__)}
    return schema


def _add_schema(schemas: dict[str, Any], name: str, definition: dict[str, Any]) -> None:
    # Powertools' half of the document is dumped without nulls ("default": null): compare like with like.
    if _without_nulls(schemas.setdefault(name, definition)) != _without_nulls(definition):
        raise ValueError(f"two different schemas are named {name}")


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _error_responses(schemas: dict[str, Any]) -> dict[str, Any]:
    """One reusable response per error status, all with the shared error model."""
    error_model = ErrorResponse.model_json_schema(ref_template=SCHEMA_REF, mode="serialization")
    for name, definition in error_model.pop("$defs", {}).items():
        _add_schema(schemas, name, definition)
    _add_schema(schemas, ErrorResponse.__name__, error_model)
    meanings: dict[int, list[str]] = {}
    for failure, meaning in _FAILURE_REPLIES.items():
        meanings.setdefault(POLICIES[failure].api_status, []).append(meaning)
    for status, meaning in _OTHER_REPLIES:
        meanings.setdefault(status, []).append(meaning)
    responses = {}
    for status in sorted(meanings):
        response: dict[str, Any] = {
            "description": "; or ".join(meanings[status]),
            "content": {"application/json": {"schema": {"$ref": SCHEMA_REF.format(model=ErrorResponse.__name__)}}},
        }
        if status in _REPLY_HEADERS:
            response["headers"] = _REPLY_HEADERS[status]
        responses[str(status)] = response
    return responses


def _describe_operation(
    operation: dict[str, Any], notes: RouteNotes, schemas: dict[str, Any], errors: dict[str, Any]
) -> None:
    responses = {
        str(notes.success_status): {
            "description": notes.success_description,
            "content": {"application/json": {"schema": _schema_of(notes.reply, schemas)}},
        }
    }
    responses.update({status: {"$ref": f"#/components/responses/{status}"} for status in errors})
    if notes.not_found:
        error_model = {"$ref": SCHEMA_REF.format(model=ErrorResponse.__name__)}
        responses["404"] = {"description": notes.not_found, "content": {"application/json": {"schema": error_model}}}
    # In place of Powertools' own: its 422 validation reply is not what the handlers answer.
    operation["responses"] = responses
    if notes.body is not None:
        operation["requestBody"] = {
            "description": notes.body_description,
            "required": notes.body_required,
            "content": {"application/json": {"schema": _schema_of(notes.body, schemas)}},
        }
    operation.setdefault("parameters", [])
    if notes.replayed:
        # Read by the API adapter before the route (connectors.adapters.api), so no handler declares it.
        operation["parameters"].append(IDEMPOTENCY_KEY_PARAMETER)
    if notes.ordered:
        operation["parameters"].append(VERSION_PARAMETER)
    for parameter in operation["parameters"]:
        if parameter["in"] == "query" and parameter["name"] in notes.json_query:
            # JSON text in the query string: described by content, so clients serialise it as JSON.
            parameter.pop("schema")
            parameter["content"] = {
                "application/json": {"schema": _schema_of(notes.json_query[parameter["name"]], schemas)}
            }


def _drop_unreferenced_schemas(document: dict[str, Any]) -> None:
    """Remove component schemas nothing refers to any more (Powertools' validation error models)."""
    schemas = document["components"]["schemas"]
    referenced: set[str] = set()
    pending = _refs({key: value for key, value in document.items() if key != "components"})
    pending |= _refs(document["components"]["responses"])
    while pending:
        name = pending.pop()
        if name not in referenced:
            referenced.add(name)
            pending |= _refs(schemas[name])
    document["components"]["schemas"] = {name: schema for name, schema in schemas.items() if name in referenced}


def _refs(value: Any) -> set[str]:
    prefix = SCHEMA_REF.format(model="")
    if isinstance(value, dict):
        found = {value["$ref"].removeprefix(prefix)} if str(value.get("$ref", "")).startswith(prefix) else set()
        return found.union(*(_refs(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(_refs(item) for item in value))
    return set()


def main(argv: Sequence[str] | None = None) -> int:
    """Write openapi.json, or with ``--check`` say whether it is up to date."""
    parser = argparse.ArgumentParser(prog="python -m devkit.openapi", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if openapi.json differs from the routes")
    parser.add_argument("--output", type=Path, default=DOCUMENT_PATH, help="where to write (default: openapi.json)")
    arguments = parser.parse_args(argv)
    text = render(build_document())
    if arguments.check:
        current = arguments.output.read_text() if arguments.output.exists() else ""
        if current != text:
            print(f"{arguments.output} is out of date: run `make openapi`", file=sys.stderr)
            return 1
        return 0
    arguments.output.write_text(text)
    print(f"wrote {arguments.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
