"""One Lambda execution environment: a child process that runs a function's invocations, one at a time.

The child (``python -m devkit.handler_runner``, see its docstring for the protocol) starts on the first
invocation, which is the cold start: its init (interpreter start and handler import) is timed and reported as
Lambda's Init Duration. Later invocations reuse it warm. A timeout or a crash kills the child's whole process
group; the worker is then spent and the next invocation needs a new one, as Lambda replaces such a sandbox.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

from devkit.handler_runner import high_water_rss_kib, peak_rss_kib
from devkit.lambda_context import epoch_ms
from devkit.local_runtime.function_log import (
    FunctionLog,
    end_line,
    init_start_line,
    report_line,
    start_line,
    timeout_line,
    timeout_message,
)
from devkit.template import FunctionSpec

# Lambda gives a function's init phase 10 seconds, apart from its Timeout.
INIT_TIMEOUT_SECONDS = 10
_RUNNER = (sys.executable, "-m", "devkit.handler_runner")
_READ_SIZE = 1 << 16


class WorkerStopped(Exception):
    """The worker was stopped before the invocation could start."""


@dataclass(frozen=True)
class Invocation:
    """What one invocation produced, and what Lambda's REPORT line says about it."""

    request_id: str
    succeeded: bool
    payload: Any  # the handler's result, or Lambda's error object
    duration_ms: float
    max_memory_used_mb: int
    init_duration_ms: float | None  # only on a cold start
    status: str | None = None  # "timeout" or "error" when the invocation did not end in the handler

    @property
    def cold(self) -> bool:
        """Whether this invocation started a new execution environment."""
        return self.init_duration_ms is not None

    @property
    def error(self) -> str:
        """``errorType: errorMessage`` of a failed invocation ("" when it succeeded)."""
        if self.succeeded or not isinstance(self.payload, dict):
            return ""
        return f"{self.payload.get('errorType')}: {self.payload.get('errorMessage')}"


@dataclass(frozen=True)
class _Outcome:
    succeeded: bool
    payload: Any
    status: str | None = None


class Worker:
    """A function's execution environment; ``invoke`` from one thread at a time, ``stop`` from any."""

    def __init__(self, spec: FunctionSpec, environment: Mapping[str, str], log: FunctionLog) -> None:
        self._spec = spec
        self._environment = dict(environment)
        self._log = log
        self._process: subprocess.Popen[bytes] | None = None
        self._outcomes: _Lines | None = None
        self._peak_rss_kib = 0
        # Guards starting and ending the child against stop() from another thread.
        self._lock = threading.Lock()
        self._stopped = False
        self._ended = False
        self._busy = False

    @property
    def usable(self) -> bool:
        """False once the child timed out, crashed, failed its init or was stopped."""
        return not (self._stopped or self._ended)

    def invoke(self, event: Any) -> Invocation:
        """Run the handler on ``event`` (starting the child first if this is a cold start); never raises for
        the function's failures, which come back as Lambda's error object."""
        with self._lock:
            if not self.usable:
                raise WorkerStopped(self._spec.logical_id)
            self._busy = True
        try:
            return self._invoke(event)
        finally:
            with self._lock:
                self._busy = False
                if self._ended:
                    self._close_pipes()

    def stop(self) -> None:
        """Kill the child's process group (an invocation in progress fails); safe to call twice."""
        with self._lock:
            self._stopped = True
            self._end()
            if not self._busy:  # else the invoking thread closes the pipes it may be reading
                self._close_pipes()

    def _invoke(self, event: Any) -> Invocation:
        request_id = str(uuid.uuid4())
        init_duration_ms = None
        outcome = None
        if self._process is None:
            started = time.monotonic()
            outcome = self._initialise(request_id)
            init_duration_ms = (time.monotonic() - started) * 1000
        self._log.write(start_line(request_id))
        started = time.monotonic()
        if outcome is None:
            outcome = self._run(event, request_id)
        duration_ms = (time.monotonic() - started) * 1000
        memory_mb = math.ceil(self._peak_rss_kib / 1024)
        self._log.write(end_line(request_id))
        error_type = outcome.payload.get("errorType") if outcome.status == "error" else None
        self._log.write(
            report_line(
                request_id,
                duration_ms,
                self._spec.memory_size,
                memory_mb,
                init_duration_ms,
                outcome.status,
                error_type,
            )
        )
        return Invocation(
            request_id, outcome.succeeded, outcome.payload, duration_ms, memory_mb, init_duration_ms, outcome.status
        )

    def _initialise(self, request_id: str) -> _Outcome | None:
        """Start the child and wait for its handler import; return the failure, if any."""
        self._log.write(init_start_line(self._spec.runtime))
        with self._lock:
            if self._stopped:
                raise WorkerStopped(self._spec.logical_id)
            # A session of its own: a timeout or stop also ends whatever the handler started.
            self._process = subprocess.Popen(
                _RUNNER,
                cwd=self._spec.code_dir,
                env=self._environment,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._log.fd,
                start_new_session=True,
            )
            assert self._process.stdout is not None
            self._outcomes = _Lines(self._process.stdout)
        try:
            line = self._outcomes.read(INIT_TIMEOUT_SECONDS)
        except EOFError:
            return self._exited(request_id)
        if line is None:
            self._end_now()
            message = f"Init timed out after {INIT_TIMEOUT_SECONDS:.2f} seconds"
            return _Outcome(False, {"errorMessage": message, "errorType": "Runtime.InitTimeout"}, "timeout")
        init_error = json.loads(line)["init_error"]
        if init_error is None:
            return None
        self._end_now()  # Lambda discards an environment whose init failed; the next invocation starts anew
        return _Outcome(False, {**init_error, "requestId": request_id}, "error")

    def _run(self, event: Any, request_id: str) -> _Outcome:
        assert self._process is not None
        assert self._process.stdin is not None
        assert self._outcomes is not None
        request = {"event": event, "request_id": request_id, "deadline_ms": epoch_ms() + self._spec.timeout * 1000}
        try:
            self._process.stdin.write(json.dumps(request).encode() + b"\n")
            self._process.stdin.flush()
            line = self._outcomes.read(self._spec.timeout)
        except (BrokenPipeError, EOFError):
            return self._exited(request_id)
        if line is None:
            self._log.write(timeout_line(request_id, self._spec.timeout))
            self._end_now()
            error = {"errorMessage": timeout_message(self._spec.timeout), "errorType": "Sandbox.Timedout"}
            return _Outcome(False, error, "timeout")
        outcome = json.loads(line)
        self._peak_rss_kib = outcome["max_rss_kib"]
        if "result" in outcome:
            return _Outcome(True, outcome["result"])
        return _Outcome(False, outcome["error"])

    def _exited(self, request_id: str) -> _Outcome:
        """The child ended without an answer (it crashed, exited, or was stopped)."""
        returncode = self._end_now()
        status = f"exit status {returncode}" if returncode >= 0 else f"signal: {signal.Signals(-returncode).name}"
        message = f"RequestId: {request_id} Error: Runtime exited with error: {status}"
        return _Outcome(False, {"errorMessage": message, "errorType": "Runtime.ExitError"}, "error")

    def _end_now(self) -> int:
        with self._lock:
            return self._end()

    def _end(self) -> int:
        """Kill the child's process group and reap the child; return its exit code. Hold the lock."""
        self._ended = True
        process = self._process
        if process is None:
            return 0
        if process.returncode is None:
            # The child's peak memory, which no outcome line reported (a timeout): read before the kill.
            last_peak = high_water_rss_kib(process.pid)
            _kill_group(process.pid)
            # wait4, not Popen.wait: where there is no /proc, its usage tells the peak (ru_maxrss).
            _, wait_status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(wait_status)
            peak = last_peak if last_peak is not None else peak_rss_kib(usage.ru_maxrss)
            self._peak_rss_kib = max(self._peak_rss_kib, peak)
        _kill_group(process.pid)  # what the handler started may outlive the child
        return process.returncode

    def _close_pipes(self) -> None:
        if self._process is not None:
            for pipe in (self._process.stdin, self._process.stdout):
                if pipe is not None:
                    pipe.close()


class _Lines:
    """Reads whole lines from a pipe with a deadline (the handler's time limit)."""

    def __init__(self, pipe: IO[bytes]) -> None:
        self._pipe = pipe
        self._buffer = bytearray()

    def read(self, timeout: float) -> bytes | None:
        """The next line without its newline; None if none came within ``timeout``; EOFError at the end."""
        deadline = time.monotonic() + timeout
        while (end := self._buffer.find(b"\n")) < 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._pipe], [], [], remaining)[0]:
                return None
            chunk = os.read(self._pipe.fileno(), _READ_SIZE)
            if not chunk:
                raise EOFError
            self._buffer += chunk
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return line


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # nothing left in the group
        os.killpg(pid, signal.SIGKILL)
