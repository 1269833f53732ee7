"""``make run`` / ``make demo`` end to end: the samples through the local runtime, then a clean stop."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from devkit.template import REPO_ROOT
from tests.local_runtime.conftest import wait_for
from tests.process_tree import listening, without_aws_configuration

pytestmark = pytest.mark.integration

# The samples take about 20 s; a demo that has not said "Serving;" by then is stuck, and the test says so.
SERVING_WITHIN_SECONDS = 240


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


def try_it_commands(output: str) -> list[str]:
    """The commands under "== Try it", each with its continuation lines (indented deeper, after a backslash)."""
    block = output.split("== Try it", 1)[1].split("\nServing;", 1)[0]
    commands: list[str] = []
    for line in block.splitlines()[1:]:
        if line.startswith("      "):
            commands[-1] += "\n" + line
        elif line.startswith("  "):
            commands.append(line)
    return commands


def stored_origin_ids(sandbox_url: str) -> set[str]:
    """The origin ids of the potential change orders the Procore sandbox holds."""
    pcos = httpx.get(f"{sandbox_url}/_sandbox/procore/pcos", timeout=10).json()["pcos"]
    return {pco["origin_id"] for pco in pcos}


def test_the_demo_serves_until_interrupted_and_leaves_nothing_behind(tmp_path):
    environment = without_aws_configuration(tmp_path / "home")
    process = subprocess.Popen(
        [sys.executable, "-m", "devkit.demo", "--serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO_ROOT,
        env=environment,
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
        # Each command it offers to try, as printed, in a shell with no AWS configuration.
        commands = try_it_commands(output)
        assert len(commands) == 4
        for command in commands:
            tried = subprocess.run(
                ["bash", "-c", command], cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=60
            )
            assert tried.returncode == 0, f"{command}\n{tried.stdout}{tried.stderr}"
            # Each prints the JSON it got back: the vendor's answer, a message id or a status, never an error reply.
            assert json.loads(tried.stdout).get("error") is None, f"{command}\n{tried.stdout}"
        [sandbox] = re.findall(r"Vendor sandbox +(http://\S+)", output)
        # The update the webhook and curl sent (try-1) and the queued one (try-2), stored at the vendor.
        assert wait_for(lambda: {"try-1", "try-2"} <= stored_origin_ids(sandbox), what="the tried updates stored")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    rest = "".join(iter(lines.get, None))
    assert "Stopped the local runtime, the AWS emulator and the vendor sandbox." in rest
    assert not any(listening(url) for url in set(urls))
