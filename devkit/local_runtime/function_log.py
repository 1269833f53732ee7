"""Where a function's logs go, and the lines the Lambda service adds to them (INIT_START, START, END, REPORT)."""

from __future__ import annotations

import math
import os
from pathlib import Path

from devkit.lambda_context import FUNCTION_VERSION

_STDERR = 2


class FunctionLog:
    """A file descriptor that a function's workers write their stderr to, and the service lines go to."""

    def __init__(self, fd: int, owned: bool) -> None:
        self.fd = fd
        self._owned = owned

    @classmethod
    def stderr(cls) -> FunctionLog:
        """This process's stderr (descriptor 2, so a redirection of it is followed)."""
        return cls(_STDERR, owned=False)

    @classmethod
    def append_to(cls, path: Path) -> FunctionLog:
        """``path``, created if missing and appended to (whole lines from several writers never interleave)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644), owned=True)

    def write(self, line: str) -> None:
        """Write one line, unbuffered (one write call, so it lands whole between the function's own lines)."""
        os.write(self.fd, (line + "\n").encode())

    def close(self) -> None:
        """Close the descriptor if this log opened it."""
        if self._owned:
            os.close(self.fd)
            self._owned = False


def init_start_line(runtime: str) -> str:
    """The line Lambda writes when a new execution environment starts (a cold start)."""
    return f"INIT_START Runtime Version: {runtime}"


def start_line(request_id: str) -> str:
    """The line Lambda writes before an invocation."""
    return f"START RequestId: {request_id} Version: {FUNCTION_VERSION}"


def end_line(request_id: str) -> str:
    """The line Lambda writes after an invocation."""
    return f"END RequestId: {request_id}"


def timeout_line(request_id: str, timeout_seconds: int) -> str:
    """The line Lambda writes when an invocation runs out of time (its message is also the error's)."""
    return f"{request_id} {timeout_message(timeout_seconds)}"


def timeout_message(timeout_seconds: int) -> str:
    """Lambda's message for an invocation stopped at its Timeout."""
    return f"Task timed out after {timeout_seconds:.2f} seconds"


def report_line(
    request_id: str,
    duration_ms: float,
    memory_size_mb: int,
    max_memory_used_mb: int,
    init_duration_ms: float | None,
    status: str | None,
    error_type: str | None = None,
) -> str:
    """Lambda's REPORT line; Init Duration only after a cold start, Status (and Error Type) when it failed."""
    fields = [
        f"REPORT RequestId: {request_id}",
        f"Duration: {duration_ms:.2f} ms",
        f"Billed Duration: {math.ceil(duration_ms)} ms",
        f"Memory Size: {memory_size_mb} MB",
        f"Max Memory Used: {max_memory_used_mb} MB",
    ]
    if init_duration_ms is not None:
        fields.append(f"Init Duration: {init_duration_ms:.2f} ms")
    if status is not None:
        fields.append(f"Status: {status}")
    if error_type is not None:
        fields.append(f"Error Type: {error_type}")
    return "\t".join(fields)
