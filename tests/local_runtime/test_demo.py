"""``make run`` / ``make demo`` end to end: the samples through the local runtime, then a clean stop."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.integration

# The samples take about 20 s; a demo that has not said "Serving;" by then is stuck, and the test says so.
SERVING_WITHIN_SECONDS = 240


def listening(url: str) -> bool:
    address = urlsplit(url)
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((address.hostname, address.port)) == 0


def lines_until(lines: queue.Queue[str | None], prefix: str, seconds: float) -> list[str]:
    """The lines read up to and including the first that starts with ``prefix``; fails with them after ``seconds``."""
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            pytest.fail("the demo ended before serving:\n" + "".join(seen))
        seen.append(line)
        if line.startswith(prefix):
            return seen
    pytest.fail(f"no line starting {prefix!r} within {seconds} s:\n" + "".join(seen))


def test_the_demo_serves_until_interrupted_and_leaves_nothing_behind():
    process = subprocess.Popen(
        [sys.executable, "-m", "devkit.demo", "--serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # so that a stuck demo can be killed with everything it started
    )
    assert process.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()

    def read(stdout=process.stdout) -> None:
        for line in stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    try:
        output = "".join(lines_until(lines, "Serving;", SERVING_WITHIN_SECONDS))
        urls = re.findall(r"http://127\.0\.0\.1:\d+", output)
        assert "All samples ended as expected." in output
        assert len(set(urls)) >= 3 and all(listening(url) for url in set(urls))  # moto, sandbox, local API
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    rest = "".join(iter(lines.get, None))
    assert "Stopped the local runtime, the AWS emulator and the vendor sandbox." in rest
    assert not any(listening(url) for url in set(urls))
