"""Start the bench's AWS emulator (``devkit.bench.fast_moto``) as a process, as ``devkit.aws.start_moto`` does moto."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time

import httpx

from devkit.aws import MotoServer

_HOST = "127.0.0.1"
_STARTUP_SECONDS = 30.0


def start_emulator() -> MotoServer:
    """Start the patched moto server on a free loopback port and return once it answers."""
    log = tempfile.TemporaryFile()  # noqa: SIM115 - owned by the MotoServer, closed by stop()
    port = _free_port()
    command = [sys.executable, "-m", "devkit.bench.fast_moto", "-H", _HOST, "-p", str(port)]
    server = MotoServer(subprocess.Popen(command, stdout=log, stderr=log), f"http://{_HOST}:{port}", log)
    deadline = time.monotonic() + _STARTUP_SECONDS
    while not _answers(server.endpoint_url):
        if server.process.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            tail = log.read().decode(errors="replace")[-4000:]
            server.stop()
            raise RuntimeError(f"the bench's moto server on port {port} did not start:\n{tail}")
        time.sleep(0.05)
    return server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((_HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _answers(endpoint_url: str) -> bool:
    try:
        return httpx.get(f"{endpoint_url}/moto-api/", timeout=1).status_code == httpx.codes.OK
    except httpx.HTTPError:
        return False
