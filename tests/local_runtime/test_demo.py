"""``make run`` / ``make demo`` end to end: the samples through the local runtime, then a clean stop."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.integration


def listening(url: str) -> bool:
    address = urlsplit(url)
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((address.hostname, address.port)) == 0


def test_the_demo_serves_until_interrupted_and_leaves_nothing_behind():
    process = subprocess.Popen(
        [sys.executable, "-m", "devkit.demo", "--serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("Serving;"):
            break
    output = "".join(seen)
    urls = re.findall(r"http://127\.0\.0\.1:\d+", output)
    assert "All samples ended as expected." in output
    assert len(set(urls)) >= 3 and all(listening(url) for url in set(urls))  # moto, sandbox, local API
    process.send_signal(signal.SIGINT)
    rest = process.stdout.read()
    assert process.wait(timeout=30) == 0
    assert "Stopped the local runtime, the AWS emulator and the vendor sandbox." in rest
    assert not any(listening(url) for url in set(urls))
