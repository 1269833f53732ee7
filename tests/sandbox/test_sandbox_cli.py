"""``python -m devkit.sandbox`` announces its URL as one JSON line and stops cleanly on SIGTERM or SIGINT."""

import json
import signal
import subprocess
import sys

import httpx
import pytest


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_url_serves_and_stops_on_signal(stop_signal: signal.Signals) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "devkit.sandbox", "--port", "0", "--seed", "3"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        announced = json.loads(process.stdout.readline())
        assert set(announced) == {"url"}
        assert announced["url"].startswith("http://127.0.0.1:")

        response = httpx.get(f"{announced['url']}/_sandbox/config", timeout=5)
        assert response.status_code == 200

        process.send_signal(stop_signal)
        assert process.wait(timeout=5) == 0
        assert process.stdout.read() == ""  # exactly one line
    finally:
        process.kill()
        process.wait()
