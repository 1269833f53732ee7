"""A function's concurrency: up to ``size`` execution environments, kept warm between invocations."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from devkit.local_runtime.function_log import FunctionLog
from devkit.local_runtime.worker import Invocation, Worker, WorkerStopped
from devkit.template import FunctionSpec


class RuntimeStopped(Exception):
    """The runtime is stopping: the invocation was not run."""


class FunctionPool:
    """Runs a function's invocations on idle warm workers, or on a new (cold) one while fewer than ``size`` exist.

    Beyond ``size`` concurrent invocations a caller waits for a worker, as a function at its concurrency limit
    makes its event source wait. A worker that timed out or crashed is dropped, so the next invocation is cold.
    """

    def __init__(
        self, spec: FunctionSpec, environment: Callable[[], Mapping[str, str]], log: FunctionLog, size: int
    ) -> None:
        if size < 1:
            raise ValueError(f"{spec.logical_id}: a pool needs at least one worker, got {size}")
        self.spec = spec
        self._environment = environment  # called per worker: each environment has its own log stream name
        self._log = log
        self._size = size
        self._idle: list[Worker] = []
        self._workers: set[Worker] = set()
        self._changed = threading.Condition()
        self._stopped = False

    def invoke(self, event: Any) -> Invocation:
        """Run one invocation on a warm worker if one is idle (RuntimeStopped once ``stop`` was called)."""
        worker = self._take()
        try:
            return worker.invoke(event)
        except WorkerStopped as stopped:
            raise RuntimeStopped(self.spec.logical_id) from stopped
        finally:
            self._give_back(worker)

    def stop(self) -> None:
        """Stop every worker, busy ones too (their invocations fail); later invocations raise RuntimeStopped."""
        with self._changed:
            self._stopped = True
            workers = list(self._workers)
            self._changed.notify_all()
        for worker in workers:
            worker.stop()

    def _take(self) -> Worker:
        with self._changed:
            while not self._stopped and not self._idle and len(self._workers) >= self._size:
                self._changed.wait()
            if self._stopped:
                raise RuntimeStopped(self.spec.logical_id)
            if self._idle:
                return self._idle.pop()  # the most recently used: the one Lambda would most likely reuse
            worker = Worker(self.spec, self._environment(), self._log)
            self._workers.add(worker)
            return worker

    def _give_back(self, worker: Worker) -> None:
        with self._changed:
            if worker.usable and not self._stopped:
                self._idle.append(worker)
            else:
                self._workers.discard(worker)
            self._changed.notify()
        if not worker.usable:
            worker.stop()  # reaps a child that failed its init; a no-op for one already ended
