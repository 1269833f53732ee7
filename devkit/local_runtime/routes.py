"""The template's REST API routes, each with its stage, and how API Gateway picks the route of a request path."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from devkit.intrinsics import LocalValues, cfn_text, resolve
from devkit.template import FunctionSpec, TemplateError, resources_of_type

_REST_API = "AWS::ApiGateway::RestApi"
_STAGE = "AWS::ApiGateway::Stage"
_ANY = "ANY"
# Per path segment, how specific a template segment is: API Gateway prefers literals, then {name}, then {name+}.
_LITERAL, _PARAMETER, _GREEDY = 2, 1, 0


@dataclass(frozen=True)
class Stage:
    """A REST API's stage: its resolved name and stage variables (None when it has none, as in the event)."""

    api: str  # the RestApi's logical id, which also serves as the local apiId
    name: str
    variables: Mapping[str, str] | None


@dataclass(frozen=True)
class RestRoute:
    """A method on a resource path of a REST API that invokes a function through the proxy integration."""

    function: str
    method: str  # upper case, or ANY
    path: str  # the resource path as the template writes it: /orders/{id}, /files/{proxy+}
    stage: Stage


@dataclass(frozen=True)
class RouteMatch:
    """A route chosen for a request, with the path parameters taken from the request path."""

    route: RestRoute
    path_parameters: dict[str, str] | None  # None when the resource has none, as in the event


def rest_routes(template: Mapping[str, Any], specs: Iterable[FunctionSpec], values: LocalValues) -> list[RestRoute]:
    """Every Api event route of ``specs``; routes of an HTTP API (payload format 2.0) are refused."""
    rest_apis = resources_of_type(template, _REST_API)
    stages: dict[str, Stage] = {}
    routes = []
    for spec in specs:
        for route in spec.api_routes:
            if route.api not in rest_apis:
                raise TemplateError(
                    f"{spec.logical_id}: {route.method} {route.path} is on the HTTP API {route.api}; "
                    "only REST APIs (payload format 1.0) are served locally"
                )
            if route.api not in stages:
                stages[route.api] = _stage_of(template, route.api, values)
            routes.append(RestRoute(spec.logical_id, route.method, route.path, stages[route.api]))
    return routes


class RouteTable:
    """Picks the route of a request as API Gateway does: the most specific resource path, then its method."""

    def __init__(self, routes: Iterable[RestRoute]) -> None:
        self.routes = tuple(routes)

    def match(self, method: str, raw_path: str) -> RouteMatch | None:
        """The route for ``method`` on ``raw_path`` (still percent-encoded); None is API Gateway's 403."""
        segments = _segments(raw_path)
        best: tuple[tuple[int, ...], str, dict[str, str]] | None = None
        for path in {route.path for route in self.routes}:
            matched = _match_path(path, segments)
            if matched is not None and (best is None or matched[0] > best[0]):
                best = (matched[0], path, matched[1])
        if best is None:
            return None
        _, path, parameters = best
        on_path = [route for route in self.routes if route.path == path]
        route = next((r for r in on_path if r.method == method), None) or next(
            (r for r in on_path if r.method == _ANY), None
        )
        return RouteMatch(route, parameters or None) if route else None


def _match_path(template_path: str, segments: list[str]) -> tuple[tuple[int, ...], dict[str, str]] | None:
    """The specificity of ``template_path`` for the request ``segments`` and the parameters, or None."""
    pattern = _segments(template_path)
    specificity: list[int] = []
    parameters: dict[str, str] = {}
    for index, part in enumerate(pattern):
        if part.startswith("{") and part.endswith("+}"):
            rest = segments[index:]
            if not rest or not rest[0]:
                return None
            parameters[part[1:-2]] = unquote("/".join(rest))
            return (*specificity, _GREEDY), parameters
        if index >= len(segments) or not segments[index]:
            return None
        if part.startswith("{") and part.endswith("}"):
            parameters[part[1:-1]] = unquote(segments[index])
            specificity.append(_PARAMETER)
        elif unquote(segments[index]) == part:
            specificity.append(_LITERAL)
        else:
            return None
    return (tuple(specificity), parameters) if len(pattern) == len(segments) else None


def _segments(path: str) -> list[str]:
    return path.split("/")[1:] if path != "/" else []


def _stage_of(template: Mapping[str, Any], api: str, values: LocalValues) -> Stage:
    for stage in resources_of_type(template, _STAGE).values():
        properties = stage.get("Properties", {})
        if properties.get("RestApiId") == {"Ref": api}:
            variables = resolve(properties.get("Variables"), values)
            return Stage(
                api=api,
                name=cfn_text(resolve(properties["StageName"], values)),
                variables={name: cfn_text(value) for name, value in variables.items()} if variables else None,
            )
    raise TemplateError(f"the REST API {api} has no AWS::ApiGateway::Stage in the template")
