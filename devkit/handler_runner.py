"""Child side of a local invocation: a warm Lambda "container" that loads a handler once and runs events.

``devkit.local_runtime.worker`` starts ``python -m devkit.handler_runner`` in the function's code folder with
the function's environment. The protocol is JSON lines over the child's original stdin and stdout:

- once, after the handler module is imported: ``{"init_error": null}`` or ``{"init_error": <error object>}``
  (the child exits after an init error, as Lambda discards a sandbox whose init failed);
- then per request line ``{"event", "request_id", "deadline_ms"}`` one outcome line: ``{"result": ...}`` or
  ``{"error": {"errorMessage", "errorType", "requestId", "stackTrace"}}``, both with ``"max_rss_kib"`` (the
  process's peak resident memory so far);
- until stdin closes.

Whatever the function prints or logs goes to stderr, and it cannot read the requests: the protocol runs over
private copies of the two descriptors, while fd 0 reads /dev/null and fd 1 writes to stderr.
"""

from __future__ import annotations

import decimal
import importlib
import io
import json
import os
import re
import resource
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from devkit.lambda_context import LambdaContext, new_context

Handler = Callable[[Any, LambdaContext], Any]


class HandlerLoadError(Exception):
    """The handler named by ``_HANDLER`` cannot be loaded; carries the runtime's error type."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def load_handler(handler: str) -> Handler:
    """Import the module of ``handler`` (``package.module.function``) and return the function."""
    module_name, _, function_name = handler.rpartition(".")
    if not module_name:
        raise HandlerLoadError("Runtime.MalformedHandlerName", f"Bad handler '{handler}': expected module.function")
    module_name = module_name.replace("/", ".")  # the runtime also accepts path/to/module.function
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise HandlerLoadError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {error}"
        ) from error
    except SyntaxError as error:
        raise HandlerLoadError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {error}"
        ) from error
    function = getattr(module, function_name, None)
    if not callable(function):
        raise HandlerLoadError(
            "Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'"
        )
    return function  # type: ignore[no-any-return]


def context_from_environment(request_id: str, deadline_ms: int, environment: Mapping[str, str]) -> LambdaContext:
    """Build the invocation's context from the function's Lambda variables, as the runtime does."""
    return new_context(
        environment["AWS_LAMBDA_FUNCTION_NAME"],
        int(environment["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]),
        int(environment["AWS_LAMBDA_FUNCTION_TIMEOUT"]),
        request_id=request_id,
        deadline_ms=deadline_ms,
        log_stream_name=environment["AWS_LAMBDA_LOG_STREAM_NAME"],
    )


def run_handler(handler: Handler, event: Any, context: LambdaContext) -> dict[str, Any]:
    """Call ``handler``; return ``{"result": ...}`` or ``{"error": <Lambda's error object>}``."""
    try:
        return {"result": handler(event, context)}
    except Exception as error:
        traceback.print_exc()
        return {"error": error_object(error, context.aws_request_id)}


def outcome_line(outcome: Mapping[str, Any], request_id: str) -> str:
    """The outcome as one JSON line for the parent; a result JSON cannot hold becomes Runtime.MarshalError."""
    memory = {"max_rss_kib": own_peak_rss_kib()}
    try:
        return json.dumps({**outcome, **memory}, default=_decimal_to_float)
    except (TypeError, ValueError) as error:
        marshal_error = {"errorMessage": f"Unable to marshal response: {error}", "errorType": "Runtime.MarshalError"}
        return json.dumps({"error": {**marshal_error, "requestId": request_id, "stackTrace": []}, **memory})


def error_object(error: Exception, request_id: str) -> dict[str, Any]:
    """Return Lambda's error object for ``error`` (what ``sam local invoke`` prints when a handler raises)."""
    error_type = error.error_type if isinstance(error, HandlerLoadError) else type(error).__name__
    return {
        "errorMessage": str(error),
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": [] if isinstance(error, HandlerLoadError) else traceback.format_tb(error.__traceback__),
    }


def peak_rss_kib(ru_maxrss: int) -> int:
    """``ru_maxrss`` of ``getrusage``/``wait4`` in KiB: Linux counts KiB already, macOS bytes."""
    return ru_maxrss // 1024 if sys.platform == "darwin" else ru_maxrss


def high_water_rss_kib(pid: int | str = "self") -> int | None:
    """The peak resident memory of process ``pid``'s own memory (Linux ``VmHWM``); None without ``/proc``.

    Linux's ``ru_maxrss`` keeps, across exec, the peak of the memory the process had before it: a worker started
    by a large process reports that process's size. ``VmHWM`` counts only the program the process runs now.
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"^VmHWM:\s+(\d+) kB$", status, re.MULTILINE)
    return int(found.group(1)) if found else None


def own_peak_rss_kib() -> int:
    """This process's peak resident memory in KiB (``VmHWM`` where there is one, else ``ru_maxrss``)."""
    own = high_water_rss_kib()
    return own if own is not None else peak_rss_kib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def main() -> None:
    """Load the handler, then serve request lines from stdin until it closes."""
    requests, outcomes = _private_channel()
    try:
        handler = load_handler(os.environ["_HANDLER"])
    except Exception as error:
        traceback.print_exc()
        _send(outcomes, json.dumps({"init_error": error_object(error, "")}))
        return
    _send(outcomes, json.dumps({"init_error": None}))
    for line in requests:
        request = json.loads(line)
        context = context_from_environment(request["request_id"], request["deadline_ms"], os.environ)
        outcome = run_handler(handler, request["event"], context)
        _send(outcomes, outcome_line(outcome, context.aws_request_id))


def _private_channel() -> tuple[IO[bytes], IO[str]]:
    # Private copies of stdin and stdout carry the protocol; the function's stdout joins its logs on stderr
    # and its stdin is empty, so neither its prints nor its reads can touch a request or an outcome.
    requests = os.fdopen(os.dup(sys.stdin.fileno()), "rb")
    outcomes = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, sys.stdin.fileno())
    os.close(null)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # logs appear as written, not lost on a timeout kill
    return requests, outcomes


def _send(outcomes: IO[str], line: str) -> None:
    outcomes.write(line + "\n")
    outcomes.flush()


def _decimal_to_float(value: object) -> float:
    # The Lambda runtime serialises Decimal (what DynamoDB returns) as a number.
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


if __name__ == "__main__":
    main()
