"""Every AWS request the emulator serves, counted by service and operation, and DynamoDB's by the item they touch.

Counts, unlike times, carry over from this machine to AWS: a record that costs a claim, a settle, a hold and a
release here costs the same four writes there. The bench's moto server (``devkit.bench.fast_moto``) wraps its
WSGI application in ``CountingApplication``; ``GET /_bench/aws-requests`` answers the counts and ``DELETE`` resets
them. Each request is counted as ``<service> <Operation>``; a DynamoDB request also as ``dynamodb <kind> requests``
for each kind of item it touches, and ``dynamodb <kind> <reads|writes>`` once per item it reads or writes, where
the kind comes from the item's key: ``ledger`` (a queued
record's claim and settle, ``<function>#record#...``), ``order`` (an object's mark, ``<function>#mark#...``),
``api`` (an API request's stored reply) or ``limiter`` (the shared rate-limit table).
"""

from __future__ import annotations

import io
import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs

import httpx
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

PATH = "/_bench/aws-requests"
# The service is named in SigV4's credential scope: Credential=<key>/<date>/<region>/<service>/aws4_request.
_SERVICE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")
# DynamoDB operations that write, and those that read, each item they name.
_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
_READS = {"GetItem", "BatchGetItem", "TransactGetItems"}

StartResponse = Callable[..., Any]


class CountingApplication(DomainDispatcherApplication):
    """moto's application, counting every request it serves (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        """Answer the counting endpoint, or count the request and hand it to moto."""
        if environ.get("PATH_INFO") == PATH:
            return self._answer_counts(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)  # moto reads the body again
        counted = request_counts(environ, body)
        with self._lock:
            self._counts.update(counted)
        return super().__call__(environ, start_response)

    def _answer_counts(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        with self._lock:
            answer = json.dumps(dict(self._counts)).encode()
            if environ.get("REQUEST_METHOD") == "DELETE":
                self._counts.clear()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
        return [answer]


def request_counts(environ: Mapping[str, Any], body: bytes) -> Counter[str]:
    """The counts one request adds: its operation, and for DynamoDB the items it reads or writes by kind."""
    found = _SERVICE.search(str(environ.get("HTTP_AUTHORIZATION", "")))
    service = found[1] if found else "unsigned"
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if target:
        operation = target.rpartition(".")[2]
    else:  # the query protocol: Action in the form body or the query string
        form = parse_qs(body.decode(errors="replace")) if body else parse_qs(str(environ.get("QUERY_STRING", "")))
        operation = form.get("Action", ["unknown"])[0]
    counts = Counter({f"{service} {operation}": 1})
    if service == "dynamodb" and (operation in _WRITES or operation in _READS):
        access = "writes" if operation in _WRITES else "reads"
        try:
            request = json.loads(body)
        except ValueError:
            request = {}
        kinds = list(item_kinds(operation, request))
        for kind in kinds:
            counts[f"dynamodb {kind} {access}"] += 1
        for kind in set(kinds):
            counts[f"dynamodb {kind} requests"] += 1
    return counts


def item_kinds(operation: str, request: Mapping[str, Any]) -> Iterable[str]:
    """The kind of each item a DynamoDB request names (see the module docstring)."""
    if operation in ("BatchWriteItem", "BatchGetItem"):
        for table, entries in request.get("RequestItems", {}).items():
            for entry in entries if isinstance(entries, list) else entries.get("Keys", []):
                write = entry.get("PutRequest", {}).get("Item") or entry.get("DeleteRequest", {}).get("Key")
                yield _kind(table, write if write is not None else entry)
    elif operation in ("TransactWriteItems", "TransactGetItems"):
        for entry in request.get("TransactItems", []):
            for action in entry.values():
                yield _kind(action.get("TableName", ""), action.get("Key") or action.get("Item") or {})
    else:
        yield _kind(request.get("TableName", ""), request.get("Key") or request.get("Item") or {})


def _kind(table: str, key: Mapping[str, Any]) -> str:
    identifier = str(key.get("id", {}).get("S", "")) if isinstance(key.get("id"), dict) else ""
    if "#mark#" in identifier:
        return "order"
    if "#record#" in identifier:
        return "ledger"
    if "#api#" in identifier:
        return "api"
    return "limiter" if "ratelimit" in table.lower() else "other"


def reset(endpoint_url: str) -> None:
    """Set the emulator's counts back to zero."""
    httpx.delete(endpoint_url + PATH, timeout=10).raise_for_status()


def counts(endpoint_url: str) -> dict[str, int]:
    """The emulator's counts since the last reset."""
    answer: dict[str, int] = httpx.get(endpoint_url + PATH, timeout=10).json()
    return answer
