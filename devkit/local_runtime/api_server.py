"""The template's REST API on 127.0.0.1: each request becomes its route's proxy event, the result its response."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devkit.local_runtime.deliveries import DeliveryLog
from devkit.local_runtime.pool import RuntimeStopped
from devkit.local_runtime.proxy_event import (
    HttpRequest,
    HttpResponse,
    function_failed,
    gateway_response,
    missing_route,
    proxy_event,
    proxy_response,
)
from devkit.local_runtime.routes import RouteTable
from devkit.local_runtime.worker import Invocation

HOST = "127.0.0.1"

Invoke = Callable[[str, dict[str, Any]], Invocation]


class ApiServer:
    """Serves ``routes`` on ``HOST:port`` (0: a free port) from a background thread, a thread per connection."""

    def __init__(self, routes: RouteTable, invoke: Invoke, deliveries: DeliveryLog, port: int) -> None:
        self._routes = routes
        self._invoke = invoke
        self._deliveries = deliveries
        self._server = _Server((HOST, port), self)
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-runtime-api", daemon=True)

    @property
    def url(self) -> str:
        """The base URL: the routes' paths go right after it (there is no stage prefix, as in sam local)."""
        return f"http://{HOST}:{self._server.server_address[1]}"

    def start(self) -> None:
        """Start accepting requests."""
        self._thread.start()

    def stop_accepting(self) -> None:
        """Stop accepting connections; requests in progress go on."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()

    def close(self) -> None:
        """Drop open connections, wait for their threads and release the port (after ``stop_accepting``)."""
        self._server.close_connections()
        self._server.server_close()

    def respond(self, request: HttpRequest) -> HttpResponse:
        """The response to ``request``, and its delivery line."""
        started = time.monotonic()
        request_id = str(uuid.uuid4())
        described = f"{request.method} {request.raw_path}"
        match = self._routes.match(request.method, request.raw_path)
        invocation = None
        problem = None
        if match is None:
            response = missing_route()
            problem = "no route"
        else:
            try:
                invocation = self._invoke(match.route.function, proxy_event(request, match, request_id))
            except RuntimeStopped:
                problem = "the runtime is stopping"
            reply = proxy_response(invocation.payload) if invocation and invocation.succeeded else None
            if invocation and invocation.succeeded and reply is None:
                problem = "malformed Lambda proxy response"
            response = reply or function_failed()
        latency_ms = (time.monotonic() - started) * 1000
        function = match.route.function if match else "-"
        self._deliveries.api(function, described, response.status, latency_ms, invocation, problem)
        return HttpResponse(response.status, [*response.headers, ("x-amzn-RequestId", request_id)], response.body)


class _Server(ThreadingHTTPServer):
    # Handler threads are joined on close (not daemons), so stop() leaves none behind.
    daemon_threads = False

    def __init__(self, address: tuple[str, int], api: ApiServer) -> None:
        super().__init__(address, _ProxyHandler)
        self.api = api
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Track the connection, so that close can end idle keep-alive ones."""
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Forget the connection, then close it."""
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut every open connection down: a thread waiting for a client's next request then ends."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away is no error worth a traceback; anything else is."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as API Gateway
    server: _Server

    def _handle(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._send(gateway_response(411, "Length Required", "LengthRequired"), close=True)
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._send(gateway_response(400, "Bad Request", "BadRequestException"), close=True)
            return
        body = self.rfile.read(length)
        request = HttpRequest(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            protocol=self.request_version,
        )
        self._send(self.server.api.respond(request))

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle

    def _send(self, response: HttpResponse, close: bool = False) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the runtime writes its own line per request."""
