"""The local Lambda runtime: the template's API routes served and its queues polled, each function in warm workers.

Everything comes from the transformed template and the stack provisioned from it: routes and stage, queues and
their event source settings, each function's environment, code and layer folders, timeout and memory size.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TextIO

from devkit.aws import LocalStack, sqs_client
from devkit.invoke import lambda_environment
from devkit.local_runtime.api_server import ApiServer
from devkit.local_runtime.deliveries import DeliveryLog
from devkit.local_runtime.function_log import FunctionLog
from devkit.local_runtime.pool import FunctionPool
from devkit.local_runtime.routes import RestRoute, RouteTable, rest_routes
from devkit.local_runtime.sqs_poller import QueuePoller
from devkit.local_runtime.worker import Invocation
from devkit.template import REPO_ROOT, FunctionSpec, SqsEventSource, functions

DEFAULT_PORT = 3000
DEFAULT_WORKERS_PER_FUNCTION = 2
# Lambda long-polls for 20 seconds; shorter here so that stop() returns quickly. Still no spinning when idle.
DEFAULT_POLL_WAIT_SECONDS = 2


class LocalRuntime:
    """Serves and polls ``stack``'s template until stopped; a context manager, or ``start()`` and ``stop()`` (once).

    ``port`` 0 takes a free port (see ``api_url``). ``function_logs``: a folder for one ``<LogicalId>.log`` per
    function (its output and the START/END/REPORT lines), or None for this process's stderr. ``out`` (default
    stdout) gets a line per invocation.
    """

    def __init__(
        self,
        stack: LocalStack,
        *,
        template_dir: Path = REPO_ROOT,
        port: int = DEFAULT_PORT,
        workers_per_function: int = DEFAULT_WORKERS_PER_FUNCTION,
        function_logs: Path | None = None,
        out: TextIO | None = None,
        poll_wait_seconds: int = DEFAULT_POLL_WAIT_SECONDS,
    ) -> None:
        self._stack = stack
        self._template_dir = template_dir
        self._port = port
        self._workers_per_function = workers_per_function
        self._function_logs = function_logs
        self._deliveries = DeliveryLog(out or sys.stdout)
        self._poll_wait_seconds = poll_wait_seconds
        self._stopping = threading.Event()
        self._logs: list[FunctionLog] = []
        self._pools: dict[str, FunctionPool] = {}
        self._api: ApiServer | None = None
        self._pollers: list[QueuePoller] = []

    @property
    def api_url(self) -> str:
        """The API's base URL (route paths go right after it, without a stage prefix)."""
        if self._api is None:
            raise RuntimeError("the API is not being served: the runtime is not started or the template has no routes")
        return self._api.url

    def start(self) -> Self:
        """Start serving the routes and polling the queues; workers start with their first invocation."""
        specs = functions(self._stack.template, self._template_dir)
        try:
            for spec in specs.values():
                self._pools[spec.logical_id] = self._pool(spec)
            routes = rest_routes(self._stack.template, specs.values(), self._stack.values)
            if routes:
                self._api = ApiServer(RouteTable(routes), self._invoke, self._deliveries, self._port)
                self._api.start()
                self._describe_api(routes)
            for spec in specs.values():
                for source in spec.sqs_sources:
                    self._pollers.append(self._poller(spec, source))
            for poller in self._pollers:
                poller.start()
            where = self._function_logs or "stderr"
            self._deliveries.line(f"up to {self._workers_per_function} workers per function; function logs: {where}")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop serving and polling, kill every worker (invocations in progress fail), wait for the threads."""
        self._stopping.set()
        if self._api is not None:
            self._api.stop_accepting()
        for pool in self._pools.values():
            pool.stop()
        if self._api is not None:
            self._api.close()
            self._api = None
        for poller in self._pollers:
            poller.join()
        for log in self._logs:
            log.close()
        self._pools.clear()
        self._pollers.clear()
        self._logs.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def _invoke(self, function: str, event: dict[str, Any]) -> Invocation:
        return self._pools[function].invoke(event)

    def _pool(self, spec: FunctionSpec) -> FunctionPool:
        if self._function_logs is None:
            log = FunctionLog.stderr()
        else:
            log = FunctionLog.append_to(self._function_logs / f"{spec.logical_id}.log")
            self._logs.append(log)
        variables = self._stack.function_environment(spec.logical_id)
        caller = {**os.environ, "AWS_ENDPOINT_URL": self._stack.endpoint_url}
        environment = partial(lambda_environment, spec, variables, caller)
        return FunctionPool(spec, environment, log, self._workers_per_function)

    def _poller(self, spec: FunctionSpec, source: SqsEventSource) -> QueuePoller:
        queue = self._stack.queues[source.queue]
        sqs = sqs_client(self._stack.endpoint_url)
        attributes = sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["VisibilityTimeout", "RedrivePolicy"])
        visibility = int(attributes["Attributes"]["VisibilityTimeout"])
        redrive = json.loads(attributes["Attributes"].get("RedrivePolicy", "{}"))
        settings = [f"batch {source.batch_size}", f"window {source.maximum_batching_window_seconds} s"]
        settings += list(source.function_response_types)
        settings.append(f"visibility {visibility} s")
        if redrive:
            settings.append(f"dead-letter after {redrive['maxReceiveCount']} receives")
        if visibility < spec.timeout:
            settings.append(f"WARNING: Lambda refuses a visibility timeout under the function's {spec.timeout} s")
        self._deliveries.line(f"sqs {queue.name} -> {spec.logical_id} ({', '.join(settings)})")
        invoke = self._pools[spec.logical_id].invoke
        return QueuePoller(
            spec.logical_id,
            source,
            queue,
            sqs,
            invoke,
            self._deliveries,
            self._poll_wait_seconds,
            self._stopping,
        )

    def _describe_api(self, routes: list[RestRoute]) -> None:
        assert self._api is not None
        stages = sorted({route.stage.name for route in routes})
        self._deliveries.line(f"api {self._api.url} (stage {', '.join(stages)}; no stage prefix in local paths)")
        for route in routes:
            self._deliveries.line(f"api {route.method} {route.path} -> {route.function}")
