"""HTTP plumbing: a threaded loopback server in front of the control API and the vendor dispatcher."""

from __future__ import annotations

import socket
import socketserver
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self
from urllib.parse import parse_qsl, urlsplit

from devkit.sandbox.constructiononline import ConstructionOnlineVendor
from devkit.sandbox.control import CONTROL_PREFIX, ControlApi
from devkit.sandbox.dispatch import VendorDispatcher
from devkit.sandbox.messages import Request, Response, json_response
from devkit.sandbox.prime import PrimeVendor
from devkit.sandbox.procore import ProcoreVendor
from devkit.sandbox.vendor import Vendor


def build_vendors(seed: int) -> list[Vendor]:
    """Every imitated vendor; a new vendor module adds itself here."""
    return [ProcoreVendor(seed), PrimeVendor(), ConstructionOnlineVendor()]


class _BadFraming(Exception):
    """A request body whose length cannot be determined."""


class SandboxHTTPServer(ThreadingHTTPServer):
    """One thread per connection; closing never waits for threads that hold a response (timeout faults)."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, host: str, port: int, seed: int) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), _SandboxRequestHandler)
        self.stopping = threading.Event()
        vendors = build_vendors(seed)
        self.dispatcher = VendorDispatcher(vendors, seed, self.stopping)
        self.control = ControlApi(self.dispatcher, vendors)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup of the host, which can stall where DNS is slow."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)  # always str for AF_INET/AF_INET6 sockets
        self.server_port = port

    @property
    def url(self) -> str:
        """The base URL clients use."""
        host = self.server_name
        return f"http://[{host}]:{self.server_port}" if ":" in host else f"http://{host}:{self.server_port}"


class _SandboxRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real clients expect
    disable_nagle_algorithm = True  # headers and body go out as separate writes; Nagle would delay each by 40 ms
    server: SandboxHTTPServer

    def do_GET(self) -> None:
        """Handle GET."""
        self._handle()

    def do_POST(self) -> None:
        """Handle POST."""
        self._handle()

    def do_PUT(self) -> None:
        """Handle PUT."""
        self._handle()

    def do_PATCH(self) -> None:
        """Handle PATCH."""
        self._handle()

    def do_DELETE(self) -> None:
        """Handle DELETE."""
        self._handle()

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: the request log is available through the control API."""

    def _handle(self) -> None:
        try:
            body = self._read_body()
        except _BadFraming as exc:
            self.close_connection = True
            self._send(json_response(400, {"error": str(exc)}))
            return
        url = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=url.path,
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )
        try:
            if request.path.startswith(CONTROL_PREFIX):
                response: Response | None = self.server.control.handle(request)
            else:
                response = self.server.dispatcher.handle(request)
        except Exception as exc:  # a sandbox bug must not look like a drop fault to the client
            traceback.print_exc(file=sys.stderr)
            response = json_response(500, {"error": f"sandbox internal error: {exc!r}"})
        if response is None:  # drop fault: close without a byte of response
            self.close_connection = True
            return
        self._send(response)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not length.isdigit():
            raise _BadFraming("invalid Content-Length")
        return self.rfile.read(int(length))

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size_line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise _BadFraming("invalid chunk size") from None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)  # the CRLF after each chunk

    def _send(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            if response.content_type is not None:
                self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. its timeout fired while we held the response)


class RunningSandbox:
    """A sandbox serving in a background thread; ``stop()`` (or leaving the ``with`` block) shuts it down."""

    def __init__(self, server: SandboxHTTPServer) -> None:
        self._server = server
        # A short poll interval makes stop() quick; serve_forever only checks for shutdown between polls.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="vendor-sandbox", daemon=True
        )
        self._thread.start()
        self.url: str = server.url

    def stop(self) -> None:
        """Stop serving, release held responses and close the socket. Safe to call twice."""
        self._server.stopping.set()
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def start_sandbox(seed: int = 0, host: str = "127.0.0.1", port: int = 0) -> RunningSandbox:
    """Bind ``host:port`` (port 0: a free port) and serve the sandbox in a background thread."""
    return RunningSandbox(SandboxHTTPServer(host, port, seed))
