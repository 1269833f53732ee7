"""The runtime's own output: a line per invocation as it happens (the functions' logs go elsewhere)."""

from __future__ import annotations

import threading
import time
from typing import TextIO

from devkit.local_runtime.worker import Invocation


class DeliveryLog:
    """Writes whole lines to ``out`` from any thread, each stamped with the local time."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        """Write ``text`` as one stamped line."""
        now = time.time()
        stamp = f"{time.strftime('%H:%M:%S', time.localtime(now))}.{int(now % 1 * 1000):03d}"
        with self._lock:
            self._out.write(f"{stamp} {text}\n")
            self._out.flush()

    def api(
        self,
        function: str,
        request: str,
        status: int,
        latency_ms: float,
        invocation: Invocation | None,
        problem: str | None = None,
    ) -> None:
        """One API request (``METHOD /path``): its function (``-`` without a route), the status sent, latency."""
        self.line(_delivery("api", function, request, 1, str(status), latency_ms, invocation, problem))

    def sqs(
        self, function: str, queue: str, records: int, failed: int, latency_ms: float, invocation: Invocation
    ) -> None:
        """One SQS batch: records deleted from the queue (delivered) and left on it for a retry (failed)."""
        outcome = f"{records - failed} delivered, {failed} failed"
        self.line(_delivery("sqs", function, queue, records, outcome, latency_ms, invocation, None))


def _delivery(
    trigger: str,
    function: str,
    source: str,
    records: int,
    outcome: str,
    latency_ms: float,
    invocation: Invocation | None,
    problem: str | None,
) -> str:
    notes = []
    if invocation is not None and invocation.cold:
        notes.append("cold start")
    if invocation is not None and not invocation.succeeded:
        notes.append(invocation.error)
    if problem:
        notes.append(problem)
    suffix = f" ({'; '.join(notes)})" if notes else ""
    count = f"{records} record" if records == 1 else f"{records} records"
    return f"{trigger} {function} {source}: {count} -> {outcome} in {latency_ms:.0f} ms{suffix}"
