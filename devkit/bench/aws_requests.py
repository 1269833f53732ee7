"""Every AWS request the emulator serves, counted by service and operation, and DynamoDB's by the item they touch.

Counts, unlike times, carry over from this machine to AWS: a record that costs a claim, a settle, a hold and a
release here costs the same four writes there. The bench's moto server (``devkit.bench.fast_moto``) wraps its
WSGI application in ``CountingApplication``; ``GET /_bench/aws-requests`` answers the counts and ``DELETE`` resets
them. Each request is counted as ``<service> <Operation>``; a DynamoDB request also as ``dynamodb <kind> requests``
for each kind of item it touches, and ``dynamodb <kind> <reads|writes>`` once per item it reads or writes, where
the kind comes from the item's key: ``ledger`` (a queued
record's claim and settle, ``<function>#record#...``), ``order`` (an object's mark, ``<function>#mark#...``),
``api`` (an API request's stored reply) or ``limiter`` (the shared rate-limit table); any other item (the
bench's reference handlers' Powertools records) is ``other``.

DynamoDB's capacity units are counted too (``dynamodb write units``, ``dynamodb read units``, and per kind
``dynamodb <kind> write units`` and ``dynamodb <kind> read units``), as on-demand tables bill them
(``devkit.bench.capacity``): each item written costs units for the larger of its size before and after the request,
read from moto's stored item on either side of it (a put's own item where that is larger); each item read, for its
stored size. Items changed by another request between the two looks are sized as found. An EventBridge ``PutEvents``
also counts its entries (``events entries``): EventBridge bills each event, not each request.
"""

from __future__ import annotations

import io
import json
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import httpx
from moto.dynamodb.models import dynamodb_backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from devkit.bench.capacity import item_size, read_units, write_units
from devkit.local_aws import ACCOUNT_ID, REGION

PATH = "/_bench/aws-requests"
# The service is named in SigV4's credential scope: Credential=<key>/<date>/<region>/<service>/aws4_request.
_SERVICE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")
# DynamoDB operations that write, and those that read, each item they name.
_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
_READS = {"GetItem", "BatchGetItem", "TransactGetItems"}

StartResponse = Callable[..., Any]
Counts = dict[str, float]  # read units come in halves


@dataclass(frozen=True)
class ItemAccess:
    """One item a DynamoDB request writes or reads."""

    table: str
    key: Mapping[str, Any]  # its key attributes (a put's whole item: the key is picked from it)
    write: bool
    written: Mapping[str, Any] | None = None  # a put's new item
    consistent: bool = False
    transactional: bool = False

    @property
    def kind(self) -> str:
        """The kind of item (see the module docstring)."""
        return _kind(self.table, self.key)


class CountingApplication(DomainDispatcherApplication):
    """moto's application, counting every request it serves (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._counts: Counts = {}
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        """Answer the counting endpoint, or count the request and hand it to moto."""
        if environ.get("PATH_INFO") == PATH:
            return self._answer_counts(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)  # moto reads the body again
        counted = request_counts(environ, body)
        accesses = dynamodb_accesses(environ, body) if any(name.startswith("dynamodb ") for name in counted) else []
        before = [_stored_size(access) for access in accesses]
        # moto's Flask application serves the request in full before it returns the response's body.
        answer = super().__call__(environ, start_response)
        units = capacity_counts(accesses, before, [_stored_size(access) for access in accesses])
        with self._lock:
            for name, value in [*counted.items(), *units.items()]:
                self._counts[name] = self._counts.get(name, 0) + value
        return answer

    def _answer_counts(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        with self._lock:
            answer = json.dumps(dict(self._counts)).encode()
            if environ.get("REQUEST_METHOD") == "DELETE":
                self._counts.clear()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
        return [answer]


def request_counts(environ: Mapping[str, Any], body: bytes) -> Counter[str]:
    """The counts one request adds: its operation, for DynamoDB the items it reads or writes by kind, for
    EventBridge's PutEvents the events it puts."""
    service, operation = _operation(environ, body)
    counts = Counter({f"{service} {operation}": 1})
    if service == "events" and operation == "PutEvents":
        counts["events entries"] = len(_json(body).get("Entries", []))
    if service == "dynamodb" and (operation in _WRITES or operation in _READS):
        access = "writes" if operation in _WRITES else "reads"
        kinds = [item.kind for item in dynamodb_accesses(environ, body)]
        for kind in kinds:
            counts[f"dynamodb {kind} {access}"] += 1
        for kind in set(kinds):
            counts[f"dynamodb {kind} requests"] += 1
    return counts


def dynamodb_accesses(environ: Mapping[str, Any], body: bytes) -> list[ItemAccess]:
    """Each item a DynamoDB request writes or reads (none for other requests)."""
    service, operation = _operation(environ, body)
    if service != "dynamodb":
        return []
    request = _json(body)
    table = str(request.get("TableName", ""))
    if operation == "PutItem":
        return [ItemAccess(table, request.get("Item", {}), write=True, written=request.get("Item"))]
    if operation in ("UpdateItem", "DeleteItem"):
        return [ItemAccess(table, request.get("Key", {}), write=True)]
    if operation == "GetItem":
        return [ItemAccess(table, request.get("Key", {}), write=False, consistent=bool(request.get("ConsistentRead")))]
    if operation == "BatchWriteItem":
        return list(_batch_writes(request))
    if operation == "BatchGetItem":
        return [
            ItemAccess(name, key, write=False, consistent=bool(entry.get("ConsistentRead")))
            for name, entry in request.get("RequestItems", {}).items()
            for key in entry.get("Keys", [])
        ]
    if operation in ("TransactWriteItems", "TransactGetItems"):
        return list(_transaction(request, write=operation == "TransactWriteItems"))
    return []


def capacity_counts(
    accesses: Sequence[ItemAccess], before: Sequence[int | None], after: Sequence[int | None]
) -> Counts:
    """The capacity units of a request's item accesses, given each item's stored size before and after it."""
    counts: Counts = defaultdict(float)
    for access, old, new in zip(accesses, before, after, strict=True):
        if access.write:
            size = max(old or 0, new or 0, item_size(access.written) if access.written else 0)
            units = write_units(size, transactional=access.transactional)
            counts["dynamodb write units"] += units
            counts[f"dynamodb {access.kind} write units"] += units
        else:
            found = new if new is not None else old
            read = read_units(found or 0, consistent=access.consistent, transactional=access.transactional)
            counts["dynamodb read units"] += read
            counts[f"dynamodb {access.kind} read units"] += read
    return dict(counts)


def _batch_writes(request: Mapping[str, Any]) -> Iterable[ItemAccess]:
    for table, entries in request.get("RequestItems", {}).items():
        for entry in entries:
            if "PutRequest" in entry:
                item = entry["PutRequest"].get("Item", {})
                yield ItemAccess(table, item, write=True, written=item)
            else:
                yield ItemAccess(table, entry.get("DeleteRequest", {}).get("Key", {}), write=True)


def _transaction(request: Mapping[str, Any], *, write: bool) -> Iterable[ItemAccess]:
    for entry in request.get("TransactItems", []):
        for action in entry.values():
            item = action.get("Item")
            key = action.get("Key") or item or {}
            yield ItemAccess(action.get("TableName", ""), key, write=write, written=item, transactional=True)


def _stored_size(access: ItemAccess) -> int | None:
    """The size of the item as moto holds it now; None if there is none (or moto cannot say)."""
    try:
        item = dynamodb_backends[ACCOUNT_ID][REGION].get_item(access.table, dict(access.key))
    except Exception:  # a request moto refuses (no such table, a bad key) wrote and read nothing
        return None
    return None if item is None else item_size(item.to_json()["Attributes"])


def _operation(environ: Mapping[str, Any], body: bytes) -> tuple[str, str]:
    found = _SERVICE.search(str(environ.get("HTTP_AUTHORIZATION", "")))
    service = found[1] if found else "unsigned"
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if target:
        return service, target.rpartition(".")[2]
    # The query protocol: Action in the form body or the query string.
    form = parse_qs(body.decode(errors="replace")) if body else parse_qs(str(environ.get("QUERY_STRING", "")))
    return service, form.get("Action", ["unknown"])[0]


def _json(body: bytes) -> dict[str, Any]:
    try:
        request = json.loads(body)
    except ValueError:
        return {}
    return request if isinstance(request, dict) else {}


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


def counts(endpoint_url: str) -> dict[str, float]:
    """The emulator's counts since the last reset (read units come in halves)."""
    answer: dict[str, float] = httpx.get(endpoint_url + PATH, timeout=10).json()
    return answer
