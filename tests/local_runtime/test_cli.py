"""``python -m devkit.local_runtime`` as a developer runs it: serves until SIGTERM, then leaves nothing behind."""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tests.local_runtime.conftest import FIXTURE_TEMPLATE, reset_moto


class Output:
    """The command's stdout, collected line by line on a thread of its own."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._reader = threading.Thread(target=lambda: self.lines.extend(process.stdout or []), daemon=True)
        self._reader.start()

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match:
        """The first line matching ``pattern``, once it has been printed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if match := next(filter(None, (re.search(pattern, line) for line in list(self.lines))), None):
                return match
            time.sleep(0.05)
        pytest.fail(f"no line matching {pattern!r} in {self.lines}")

    def rest(self) -> str:
        """Everything printed, once the command has ended."""
        self._reader.join(timeout=10)
        return "".join(self.lines)


def test_the_command_serves_the_template_until_sigterm(moto, tmp_path):
    reset_moto(moto)
    command = [sys.executable, "-m", "devkit.local_runtime", "-t", str(FIXTURE_TEMPLATE), "--port", "0"]
    options = ["--log-dir", str(tmp_path), "--parameter-overrides", "Stage=cli", "--workers-per-function", "1"]
    environment = {**os.environ, "AWS_ENDPOINT_URL": moto.endpoint_url}
    with subprocess.Popen([*command, *options], stdout=subprocess.PIPE, text=True, env=environment) as process:
        output = Output(process)
        try:
            url = output.wait_for(r"api (http://127\.0\.0\.1:\d+) ").group(1)
            output.wait_for(r"Serving until SIGINT")
            answer = httpx.get(f"{url}/items/1", timeout=10).json()
            output.wait_for(r"api EchoFunction GET /items/1: 1 record -> 200 in \d+ ms \(cold start\)")
        finally:
            process.send_signal(signal.SIGTERM)
            status = process.wait(timeout=15)

    assert status == 0
    assert "Stopped: workers ended, port released." in output.rest()
    assert answer["event"]["requestContext"]["stage"] == "cli"
    assert "REPORT RequestId:" in (tmp_path / "EchoFunction.log").read_text()
    assert not os.path.exists(f"/proc/{answer['pid']}")
    port = int(url.rsplit(":", 1)[1])
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.1", port))


def test_the_command_needs_a_local_aws_endpoint():
    environment = {name: value for name, value in os.environ.items() if name != "AWS_ENDPOINT_URL"}

    completed = subprocess.run(
        [sys.executable, "-m", "devkit.local_runtime", "-t", str(FIXTURE_TEMPLATE)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=30,
        check=False,
    )

    assert completed.returncode == 2
    assert "AWS_ENDPOINT_URL" in completed.stderr
    assert completed.stdout == ""
