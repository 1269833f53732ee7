"""Workers as Lambda execution environments: cold then warm, a timeout ends one, concurrency is bounded, and
stopping the runtime leaves no process, thread or port behind."""

import json
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from devkit.invoke import lambda_environment
from devkit.local_runtime.function_log import FunctionLog
from devkit.local_runtime.worker import Worker
from devkit.template import function
from tests.local_runtime.conftest import FIXTURES, running_runtime, wait_for

REPORT = re.compile(
    r"REPORT RequestId: (?P<id>[0-9a-f-]{36})\tDuration: (?P<duration>[\d.]+) ms\tBilled Duration: \d+ ms\t"
    r"Memory Size: 128 MB\tMax Memory Used: (?P<memory>\d+) MB(\tInit Duration: (?P<init>[\d.]+) ms)?"
    r"(\tStatus: (?P<status>\w+))?$"
)


def echo_pids(log: str) -> list[dict]:
    """The pid (and spawned child's pid) each echo invocation printed to the function's log."""
    return [json.loads(line) for line in log.splitlines() if line.startswith('{"probe": "echo"')]


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a killed orphan may linger as a zombie until init reaps it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def test_the_first_invocation_is_cold_the_next_ones_warm(fixture_runtime):
    with httpx.Client(base_url=fixture_runtime.url, timeout=10) as client:
        statuses = [client.get("/items/1").status_code for _ in range(3)]

    assert statuses == [200, 200, 200]
    reports = [REPORT.match(line) for line in fixture_runtime.reports("EchoFunction")]
    assert [report and report["init"] is not None for report in reports] == [True, False, False]
    assert all(report and int(report["memory"]) > 0 and report["status"] is None for report in reports)
    assert len({entry["pid"] for entry in echo_pids(fixture_runtime.function_log("EchoFunction"))}) == 1
    deliveries = fixture_runtime.deliveries("EchoFunction")
    assert ["cold start" in line for line in deliveries] == [True, False, False]
    assert all("api EchoFunction GET /items/1: 1 record -> 200 in " in line for line in deliveries)
    log = fixture_runtime.function_log("EchoFunction")
    assert log.count("INIT_START") == 1
    assert log.count("START RequestId") == log.count("END RequestId") == 3


def test_a_worker_reports_its_own_memory_not_that_of_the_process_that_started_it(fixture_runtime):
    # 400 MB resident in this process, which starts the worker: Linux's ru_maxrss would hand it down to the child.
    ballast = bytearray(400 * 1024 * 1024)
    ballast[::4096] = b"\x01" * (len(ballast) // 4096)
    with httpx.Client(base_url=fixture_runtime.url, timeout=10) as client:
        assert client.get("/items/1").status_code == 200
    [report] = [REPORT.match(line) for line in fixture_runtime.reports("EchoFunction")]
    assert report and 0 < int(report["memory"]) < 200
    del ballast


def test_a_timeout_kills_the_worker_and_what_it_started_and_the_next_invocation_is_cold(fixture_runtime):
    with httpx.Client(base_url=fixture_runtime.url, timeout=10) as client:
        started = time.monotonic()
        timed_out = client.get("/items/1", params={"sleep": "10", "spawn": "1"})
        elapsed = time.monotonic() - started
        after = client.get("/items/1")

    assert timed_out.status_code == 502
    assert 1 <= elapsed < 3  # the template's Timeout: 1
    assert after.status_code == 200
    log = fixture_runtime.function_log("EchoFunction")
    assert "Task timed out after 1.00 seconds" in log
    first, second = (REPORT.match(line) for line in fixture_runtime.reports("EchoFunction"))
    assert first and first["status"] == "timeout" and first["init"] is not None
    assert second and second["status"] is None and second["init"] is not None  # a new environment
    sleeper, fresh = echo_pids(log)
    assert not alive(sleeper["pid"])
    wait_for(lambda: not alive(sleeper["spawned"]), timeout=2, what="the handler's child to die")  # the whole group
    assert fresh["pid"] != sleeper["pid"]
    timed_out_line, cold_line = fixture_runtime.deliveries("EchoFunction")
    assert "-> 502 in " in timed_out_line
    assert "Sandbox.Timedout: Task timed out after 1.00 seconds" in timed_out_line
    assert "cold start" in cold_line


@pytest.mark.parametrize(("workers", "environments"), [(1, 1), (2, 2)])
def test_concurrency_is_bounded_by_the_workers_per_function(fixture_stack, tmp_path, workers, environments):
    with (
        running_runtime(fixture_stack, FIXTURES, tmp_path, workers_per_function=workers) as running,
        httpx.Client(base_url=running.url, timeout=10) as client,
        ThreadPoolExecutor(max_workers=2) as callers,
    ):
        started = time.monotonic()
        answers = list(callers.map(lambda _: client.get("/items/1", params={"sleep": "0.5"}).json(), range(2)))
        elapsed = time.monotonic() - started

    assert len({answer["pid"] for answer in answers}) == environments
    if workers == 1:
        assert elapsed >= 1.0  # the second request waited for the only worker


def test_stop_leaves_no_process_thread_or_port_behind(fixture_stack, tmp_path):
    before = set(threading.enumerate())
    with running_runtime(fixture_stack, FIXTURES, tmp_path) as running:
        port = urlsplit(running.url).port
        with httpx.Client(base_url=running.url, timeout=10) as client:  # a keep-alive connection stays open
            client.get("/items/1").raise_for_status()
            running.send("PartialQueue", "ok")
            wait_for(lambda: running.deliveries("PartialFunction"), what="the queued message's invocation")
            pids = [entry["pid"] for entry in echo_pids(running.function_log("EchoFunction"))]
            assert pids and all(alive(pid) for pid in pids)
            running.runtime.stop()

    assert not any(alive(pid) for pid in pids)
    assert set(threading.enumerate()) <= before
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.1", port))


def test_a_handler_that_cannot_load_fails_each_invocation_with_a_fresh_init(fixture_template, tmp_path):
    spec = replace(function(fixture_template, FIXTURES, "EchoFunction"), handler="runtime_probe.handler.missing")
    log = FunctionLog.append_to(tmp_path / "worker.log")
    worker = Worker(spec, lambda_environment(spec, {}, {}), log)
    try:
        failed = worker.invoke({})
    finally:
        worker.stop()
        log.close()

    assert not failed.succeeded
    assert failed.cold
    assert failed.payload["errorType"] == "Runtime.HandlerNotFound"
    assert failed.payload["requestId"] == failed.request_id
    assert not worker.usable  # Lambda discards the environment: the next invocation initialises again
    report = (tmp_path / "worker.log").read_text().splitlines()[-1]
    assert report.startswith(f"REPORT RequestId: {failed.request_id}\t")
    assert report.endswith("\tStatus: error\tError Type: Runtime.HandlerNotFound")
