"""The control API under ``/_sandbox/``: reset, config, faults, the request log and vendor control routes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from devkit.sandbox.config import ConfigError
from devkit.sandbox.dispatch import VendorDispatcher
from devkit.sandbox.faults import FaultError
from devkit.sandbox.messages import BadRequest, Request, Response, json_object_body, json_response
from devkit.sandbox.vendor import Handler, Vendor

CONTROL_PREFIX = "/_sandbox/"


class ControlApi:
    """Handles every request whose path starts with ``/_sandbox/``; faults never apply here."""

    def __init__(self, dispatcher: VendorDispatcher, vendors: Sequence[Vendor]) -> None:
        self._dispatcher = dispatcher
        self._vendors = {vendor.name: vendor for vendor in vendors}
        self._routes: dict[str, dict[str, Handler]] = {
            "/_sandbox/reset": {"POST": self._reset},
            "/_sandbox/config": {"GET": self._get_config, "POST": self._update_config},
            "/_sandbox/faults": {"GET": self._list_faults, "POST": self._add_fault, "DELETE": self._clear_faults},
            "/_sandbox/requests": {"GET": self._list_requests},
        }
        for vendor in vendors:
            for route in vendor.control_routes():
                self._routes.setdefault(route.path, {})[route.method] = route.handler

    def handle(self, request: Request) -> Response:
        """Answer a control request; bad input gives 400 ``{"error": ...}``."""
        methods = self._routes.get(request.path)
        if methods is None:
            return json_response(404, {"error": f"unknown control endpoint {request.path}"})
        handler = methods.get(request.method)
        if handler is None:
            return json_response(405, {"error": f"use {' or '.join(sorted(methods))}"}, {"Allow": ", ".join(methods)})
        try:
            return handler(request)
        except (BadRequest, ConfigError, FaultError) as exc:
            return json_response(400, {"error": str(exc)})

    def _reset(self, request: Request) -> Response:
        self._dispatcher.reset()
        for vendor in self._vendors.values():
            vendor.reset()
        return json_response(200, {"reset": True})

    def _config_json(self) -> dict[str, object]:
        config = self._dispatcher.config_json()
        config.update({name: vendor.config_json() for name, vendor in self._vendors.items()})
        return config

    def _get_config(self, request: Request) -> Response:
        return json_response(200, self._config_json())

    def _update_config(self, request: Request) -> Response:
        patch = json_object_body(request)
        shared = {key: value for key, value in patch.items() if key not in self._vendors}
        commits: list[Callable[[], None]] = [self._dispatcher.prepare_config(shared)]
        for name, section in patch.items():
            if name in self._vendors:
                if not isinstance(section, dict):
                    raise ConfigError(f"{name} must be a JSON object")
                commits.append(self._vendors[name].prepare_config(section))
        # Everything was validated before anything changes: a bad key leaves the config untouched.
        for commit in commits:
            commit()
        return json_response(200, self._config_json())

    def _list_faults(self, request: Request) -> Response:
        return json_response(200, {"faults": self._dispatcher.faults_json()})

    def _add_fault(self, request: Request) -> Response:
        return json_response(201, self._dispatcher.add_fault(json_object_body(request)))

    def _clear_faults(self, request: Request) -> Response:
        self._dispatcher.clear_faults()
        return json_response(200, {"faults": []})

    def _list_requests(self, request: Request) -> Response:
        return json_response(200, {"requests": self._dispatcher.requests_json(request.query.get("vendor"))})
