"""The pipeline in front of every vendor route: request log, fault injection and added latency."""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Final

from devkit.sandbox.config import SandboxConfig, patched
from devkit.sandbox.faults import FaultBook, FaultKind, FaultRule, MalformedShape
from devkit.sandbox.messages import JSON_CONTENT_TYPE, Request, Response, json_response
from devkit.sandbox.requestlog import LogEntry, RequestLog
from devkit.sandbox.vendor import Route, Vendor

# A ``malformed`` fault's HTML answer: what a proxy or a maintenance switch serves in place of the API.
_HTML_PAGE: Final = (
    b"<!DOCTYPE html>\n<html><head><title>Scheduled maintenance</title></head>"
    b"<body><h1>We'll be back shortly</h1></body></html>\n"
)


class VendorDispatcher:
    """Routes vendor requests to their handlers, applying faults and latency on the way.

    ``stopping`` interrupts every sleep so the server can shut down while responses are held.
    """

    def __init__(self, vendors: Sequence[Vendor], seed: int, stopping: threading.Event) -> None:
        routes = [(vendor, route) for vendor in vendors for route in vendor.routes()]
        self._exact: dict[tuple[str, str], tuple[Vendor, Route]] = {
            (route.method, route.path): (vendor, route) for vendor, route in routes if not route.is_template
        }
        self._templates = [(vendor, route) for vendor, route in routes if route.is_template]
        self._seed = seed
        self._stopping = stopping
        self._lock = threading.Lock()
        self._config = SandboxConfig()
        self._faults = self._new_faults()
        self._log = RequestLog()

    def _new_faults(self) -> FaultBook:
        # A string seed is hashed deterministically, independent of PYTHONHASHSEED.
        return FaultBook(random.Random(f"faults:{self._seed}"))  # noqa: S311 - repeatable test faults, not crypto

    @property
    def route_names(self) -> list[str]:
        """Names of all vendor routes."""
        return sorted(route.name for _, route in [*self._exact.values(), *self._templates])

    def reset(self) -> None:
        """Default config, no faults (RNG re-seeded), empty log."""
        with self._lock:
            self._config = SandboxConfig()
            self._faults = self._new_faults()
            self._log = RequestLog()

    def config_json(self) -> dict[str, object]:
        """The shared config keys."""
        with self._lock:
            return {"latency_ms": self._config.latency_ms}

    def prepare_config(self, patch: Mapping[str, object]) -> Callable[[], None]:
        """Validate a partial update of the shared keys (raises ConfigError); return its commit function."""
        with self._lock:
            updated = patched(self._config, patch, "")

        def commit() -> None:
            with self._lock:
                self._config = updated

        return commit

    def add_fault(self, spec: object) -> dict[str, object]:
        """Add a fault rule (raises FaultError) and return it as JSON."""
        with self._lock:
            return self._faults.add(spec, self.route_names)

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        with self._lock:
            self._faults.clear()

    def faults_json(self) -> list[dict[str, object]]:
        """The active fault rules as JSON."""
        with self._lock:
            return self._faults.to_json()

    def requests_json(self, vendor: str | None) -> list[dict[str, object]]:
        """The request log as JSON, optionally for one vendor."""
        with self._lock:
            entries = self._log.entries(vendor)
        return [entry.to_json() for entry in entries]

    def _match(self, request: Request) -> tuple[Vendor, Route, dict[str, str]] | None:
        """Exact paths win over templates; templates are tried in registration order."""
        if (found := self._exact.get((request.method, request.path))) is not None:
            return (*found, {})
        for vendor, route in self._templates:
            if route.method == request.method and (params := route.match(request.path)) is not None:
                return vendor, route, params
        return None

    def handle(self, request: Request) -> Response | None:
        """Answer a vendor request; None means close the connection without a response."""
        vendor: Vendor | None = None
        route: Route | None = None
        if (matched := self._match(request)) is not None:
            vendor, route, params = matched
            request = dataclasses.replace(request, path_params=params)
        with self._lock:
            entry = self._log.record(
                LogEntry(
                    vendor=vendor.name if vendor else None,
                    route=route.name if route else None,
                    request=request,
                    log_body=route.log_body if route else True,
                )
            )
            fault = self._faults.draw(route.name) if route else None
            entry.fault = fault.kind.value if fault else None
            latency = self._config.latency_ms / 1000
        if vendor is None or route is None:
            return self._answer(
                entry, json_response(404, {"error": f"no sandbox route {request.method} {request.path}"})
            )
        delay = latency + (fault.delay_seconds if fault and fault.kind is FaultKind.LATENCY else 0.0)
        if delay and self._stopping.wait(delay):
            return None
        if fault is None:
            return self._answer(entry, route.handler(request))
        return self._inject(fault, entry, vendor, route, request)

    def _inject(
        self, fault: FaultRule, entry: LogEntry, vendor: Vendor, route: Route, request: Request
    ) -> Response | None:
        match fault.kind:
            case FaultKind.LATENCY:  # already slept
                return self._answer(entry, route.handler(request))
            case FaultKind.STATUS:
                return self._answer(entry, vendor.fault_response(fault.status))
            case FaultKind.UNAVAILABLE:
                response = vendor.fault_response(503)
                response.headers["Retry-After"] = str(fault.retry_after)
                return self._answer(entry, response)
            case FaultKind.TIMEOUT:
                # Not applied: what a gateway answers a client patient enough to wait.
                response = route.handler(request) if fault.applied else vendor.fault_response(504)
                self._answer(entry, response)
                return None if self._stopping.wait(fault.delay_seconds) else response
            case FaultKind.DROP:
                if fault.applied:
                    route.handler(request)
                return None
            case FaultKind.MALFORMED:
                return self._answer(entry, _malformed(fault, route, route.handler(request) if fault.applied else None))
            case FaultKind.OUTAGE:
                if fault.drops:
                    return None
                response = vendor.fault_response(503)
                if fault.retry_after:
                    response.headers["Retry-After"] = str(fault.retry_after)
                return self._answer(entry, response)

    def _answer(self, entry: LogEntry, response: Response) -> Response:
        with self._lock:
            entry.status = response.status
            entry.answered_at = time.time()
        return response


def _malformed(fault: FaultRule, route: Route, applied: Response | None) -> Response:
    """The 2xx answer of a ``malformed`` fault; ``applied`` is the vendor's own answer when it applied the request.

    A vendor that refused the request (not 2xx) answers as it would, and a 204 stays bodiless: only a success
    with a body can break the contract's body.
    """
    if applied is not None and not (200 <= applied.status < 300 and applied.status != HTTPStatus.NO_CONTENT):
        return applied
    status = applied.status if applied is not None else route.ok_status
    headers = applied.headers if applied is not None else {}
    wrong_shape = route.wrong_shape.encode()
    match fault.shape:
        case MalformedShape.HTML:
            return Response(status, _HTML_PAGE, "text/html; charset=utf-8", headers)
        case MalformedShape.TRUNCATED:
            # Half an object or array never parses; Content-Length matches, so only the JSON is broken.
            whole = applied.body if applied is not None else wrong_shape
            return Response(status, whole[: len(whole) // 2], JSON_CONTENT_TYPE, headers)
        case MalformedShape.EMPTY:
            return Response(status, b"", JSON_CONTENT_TYPE, headers)
        case MalformedShape.EMPTY_OBJECT:
            return Response(status, b"{}", JSON_CONTENT_TYPE, headers)
        case MalformedShape.WRONG_SHAPE:
            return Response(status, wrong_shape, JSON_CONTENT_TYPE, headers)
