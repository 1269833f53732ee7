"""The pipeline in front of every vendor route: request log, fault injection and added latency."""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from devkit.sandbox.config import SandboxConfig, patched
from devkit.sandbox.faults import FaultBook, FaultKind, FaultRule
from devkit.sandbox.messages import Request, Response, json_response
from devkit.sandbox.requestlog import LogEntry, RequestLog
from devkit.sandbox.vendor import Route, Vendor


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
            return self._faults.add(spec, self.route_names).to_json()

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        with self._lock:
            self._faults.clear()

    def faults_json(self) -> list[dict[str, object]]:
        """The active fault rules as JSON."""
        with self._lock:
            return [rule.to_json() for rule in self._faults.rules()]

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

    def _answer(self, entry: LogEntry, response: Response) -> Response:
        with self._lock:
            entry.status = response.status
            entry.answered_at = time.time()
        return response
