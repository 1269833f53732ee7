"""The records a chaos run sends: one change order each, a token that names it in the vendor's state; and the
versioned records, successive edits of one object whose newest value of every property must win."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

# Procore records spread over this many contracts, so coalescing makes several sync calls, not one.
PROCORE_CONTRACTS = 8
FIRST_CHANGE_ORDER_ID = 5_000_000
# The versioned change orders' IDs, clear of the plain records' (one each, from FIRST_CHANGE_ORDER_ID) below a
# million records per function.
FIRST_VERSIONED_CHANGE_ORDER_ID = 6_000_000
GROUP_SIZES = (2, 4)  # edits per versioned object, least and most
SEND_BATCH = 10  # SendMessageBatch's limit
# Object groups cycle through the three ways an edit gets its version.
NO_PRODUCER_VERSION, COUNTER_VERSION, DATE_TIME_VERSION = range(3)
_VERSION_KINDS = 3
# The date-time versions' offsets, so that their text sorts otherwise than their moments (RFC 3339 allows any).
_OFFSETS = (timedelta(hours=5, minutes=30), timedelta(0), timedelta(hours=-7), timedelta(hours=2))
_PCO_STATUSES = ("pricing", "pending", "revised", "approved")  # none is "draft", a new PCO's status
# Names the function turns into 3, 1, 2, 0. A change order starts at 0, so "pending" comes last: only a fourth
# edit's condition can equal what its object held before any edit.
_CO_CONDITIONS = ("draft", "approved", "rejected", "pending")
_CONDITION_CODES = {"pending": 0, "approved": 1, "rejected": 2, "draft": 3}


@dataclass(frozen=True)
class Version:
    """A versioned record's place among the edits of its object.

    ``object_key`` names the object as the sandbox stores it (a change order's ``ID`` as text, a PCO's
    ``origin_id``); ``position`` counts the object's edits from 0, oldest first, in the order they are queued and
    versioned; ``stored`` holds the properties the edit sets, valued as the sandbox stores them;
    ``producer_version`` is the ``Change-Order-Version`` attribute, or None when SQS's SentTimestamp decides.
    """

    object_key: str
    position: int
    stored: Mapping[str, object]
    producer_version: str | None


@dataclass(frozen=True)
class ChaosRecord:
    """One queued record: its token (unique per run), its message body, whether it is invalid on purpose, and
    for a versioned record its place among its object's edits."""

    token: str
    body: str
    invalid: bool
    version: Version | None = None


@dataclass(frozen=True)
class VersionedVendor:
    """How one vendor's objects are edited in versions.

    ``object_key(prefix, group)`` names a group's object; ``values(token, position)`` offers every property an
    edit may set, each as (the value sent, the value the sandbox stores), distinct from the object's other
    positions; ``body(object_key, group, properties)`` is the message setting ``properties`` on the object.
    """

    object_key: Callable[[str, int], str]
    values: Callable[[str, int], dict[str, tuple[object, object]]]
    body: Callable[[str, int, dict[str, object]], str]


def _procore_command(contract: int, update: Mapping[str, object]) -> str:
    command = {
        "connection": "default",
        "company_id": 4264807,
        "project_id": 298401,
        "contract_id": 562949953421312 + contract % PROCORE_CONTRACTS,
        "updates": [update],
    }
    return json.dumps(command)


def procore_record(token: str, index: int, invalid: bool) -> str:
    """A PCO sync command with one update whose origin_id is the token."""
    update = {"origin_id": token, "title": f"Chaos change {index}", "status": "bogus" if invalid else "pending"}
    return _procore_command(index, update)


# Half the Primavera Cloud records go through a connection whose user the token service answers in the older shape.
PRIME_OLDER_SHAPE_CONNECTION = "older-shape"


def prime_record(token: str, index: int, invalid: bool, connection: str = "default") -> str:
    """A change-order SOV batch command on ``connection`` with one item whose name is the token."""
    item = {
        "changeOrderLineItemId": 40_000 + index % 50,
        "name": token,
        "sovType": "BOGUS" if invalid else "LUMP_SUM",
        "changeOrderSovCost": {"total": index + 0.25},  # a quarter is exact in binary: no rounding on the wire
        "workspaceCode": "WS-CHAOS",
        "projectCode": "PRJ-CHAOS",
        "changeOrderCode": f"CO-{index % 50}",
        "associatedAgreementCode": "AGR-CHAOS",
        "changeOrderType": "CONTRACT",
        "changeOrderLineItemCode": f"LI-{index % 50}",
    }
    return json.dumps({"connection": connection, "items": [item]})


def chaos_prime_record(token: str, index: int, invalid: bool) -> str:
    """``prime_record``, the odd ones on the connection whose token replies come in the older shape."""
    return prime_record(token, index, invalid, PRIME_OLDER_SHAPE_CONNECTION if index % 2 else "default")


def constructiononline_record(token: str, index: int, invalid: bool) -> str:
    """An update of its own change order (seeded by the run) whose NOTES are the token."""
    co_info = {"NOTES": token, "COST_MONEY": f"{index}.10", "CONDITION": 9 if invalid else 1}
    return json.dumps({"connection": "default", "id": FIRST_CHANGE_ORDER_ID + index, "coInfo": co_info})


def _procore_values(token: str, position: int) -> dict[str, tuple[object, object]]:
    # Procore stores due_date in UTC to the second, however the offset was written.
    due = datetime(2025, 7, 1, 9, 30, tzinfo=UTC) + timedelta(days=position, minutes=15 * position)
    written = due.astimezone(timezone(_OFFSETS[position % len(_OFFSETS)])).isoformat()
    return {
        "title": (f"{token} title", f"{token} title"),
        "description": (f"{token} description", f"{token} description"),
        "number": (f"N-{token}", f"N-{token}"),
        "status": (_PCO_STATUSES[position], _PCO_STATUSES[position]),
        "due_date": (written, due.strftime("%Y-%m-%dT%H:%M:%SZ")),
    }


def _procore_body(object_key: str, group: int, properties: dict[str, object]) -> str:
    return _procore_command(group, {"origin_id": object_key, **properties})


PROCORE_VERSIONS = VersionedVendor(lambda prefix, group: f"{prefix}-v{group}", _procore_values, _procore_body)


def _co_values(token: str, position: int) -> dict[str, tuple[object, object]]:
    # ConstructionOnline keeps coInfo strings as sent and CONDITION as a number; the function sends the
    # condition's code for its name and a JSON number's digits as text.
    condition = _CO_CONDITIONS[position]
    price = f"{1000 + position}.{position}0"  # the trailing zero stays: money is the text sent
    return {
        "NOTES": (f"{token} notes", f"{token} notes"),
        "DETAILS": (f"{token} details", f"{token} details"),
        "PRICE": (price, price),
        "QTY": (3 + position, str(3 + position)),
        "CONDITION": (condition, _CONDITION_CODES[condition]),
        "DATE_SUBMITTED": (f"2025-06-{10 + position}", f"2025-06-{10 + position}"),
    }


def _co_body(object_key: str, group: int, properties: dict[str, object]) -> str:
    return json.dumps({"connection": "default", "id": int(object_key), "coInfo": properties})


CONSTRUCTIONONLINE_VERSIONS = VersionedVendor(
    lambda prefix, group: str(FIRST_VERSIONED_CHANGE_ORDER_ID + group), _co_values, _co_body
)


def build_records(
    prefix: str, count: int, invalid_share: float, make: Callable[[str, int, bool], str], rng: random.Random
) -> list[ChaosRecord]:
    """``count`` records named ``<prefix>-<n>``; about ``invalid_share`` of them invalid on purpose."""
    records = []
    for index in range(count):
        token = f"{prefix}-{index}"
        invalid = rng.random() < invalid_share
        records.append(ChaosRecord(token, make(token, index, invalid), invalid))
    return records


def producer_version(kind: int, position: int) -> str | None:
    """The ``Change-Order-Version`` of an object's edit at ``position``: none, a counter, or a date-time.

    Counters start at 8 so that they cross from one digit to two (text order is not number order); date-times
    step by 61.25 s with a different offset each, so that their text does not sort as their moments do.
    """
    if kind == COUNTER_VERSION:
        return str(8 + position)
    if kind == DATE_TIME_VERSION:
        moment = datetime(2025, 6, 1, 10, 0, tzinfo=UTC) + timedelta(seconds=61.25 * position)
        written = moment.astimezone(timezone(_OFFSETS[position % len(_OFFSETS)]))
        return written.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return None


def build_versioned(prefix: str, count: int, vendor: VersionedVendor, rng: random.Random) -> list[ChaosRecord]:
    """At least ``count`` valid records (up to three more): groups of 2 to 4 edits of one object each, named
    ``<prefix>-v<group>-<position>``, each setting one to three of the vendor's properties.

    The groups take turns: no producer version (SentTimestamp decides), counters, date-times.
    """
    records: list[ChaosRecord] = []
    group = 0
    while len(records) < count:
        object_key = vendor.object_key(prefix, group)
        for position in range(rng.randint(*GROUP_SIZES)):
            token = f"{prefix}-v{group}-{position}"
            values = vendor.values(token, position)
            chosen = sorted(rng.sample(sorted(values), rng.randint(1, 3)))
            body = vendor.body(object_key, group, {name: values[name][0] for name in chosen})
            version = Version(
                object_key,
                position,
                {name: values[name][1] for name in chosen},
                producer_version(group % _VERSION_KINDS, position),
            )
            records.append(ChaosRecord(token, body, invalid=False, version=version))
        group += 1
    return records


def interleave(plain: Sequence[ChaosRecord], versioned: Sequence[ChaosRecord], rng: random.Random) -> list[ChaosRecord]:
    """Every record in a random order that keeps each object's edits in order (``versioned`` lists them so).

    Every other object has its edits a few records apart, so that they meet in one receive or in concurrent
    invocations; the others' edits spread over the whole run, so that retries and outages reorder them.
    """
    total = len(plain) + len(versioned)
    keyed: list[tuple[float, ChaosRecord]] = [(rng.random(), record) for record in plain]
    for n, edits in enumerate(_by_object(versioned).values()):
        if n % 2:
            keys = sorted(rng.random() for _ in edits)
        else:
            anchor = rng.random()
            keys = [anchor + position * 3 / total for position in range(len(edits))]
        keyed.extend(zip(keys, edits, strict=True))
    keyed.sort(key=lambda pair: pair[0])
    return [record for _, record in keyed]


def _by_object(records: Sequence[ChaosRecord]) -> dict[str, list[ChaosRecord]]:
    objects: dict[str, list[ChaosRecord]] = {}
    for record in records:
        if record.version is not None:
            objects.setdefault(record.version.object_key, []).append(record)
    return objects


def send_batches(records: Sequence[ChaosRecord]) -> Iterator[list[ChaosRecord]]:
    """The records in order, in SendMessageBatch-sized runs that never hold two edits of one object: one batch's
    messages can share a SentTimestamp, and then SentTimestamp could not order them."""
    batch: list[ChaosRecord] = []
    objects: set[str] = set()
    for record in records:
        key = record.version.object_key if record.version is not None else None
        if len(batch) == SEND_BATCH or key in objects:
            yield batch
            batch, objects = [], set()
        batch.append(record)
        if key is not None:
            objects.add(key)
    if batch:
        yield batch


def change_order_ids(records: Sequence[ChaosRecord]) -> list[int]:
    """The change orders ConstructionOnline records update, each once: the sandbox must hold them first."""
    ids: set[int] = set()
    for record in records:
        command: Any = json.loads(record.body)
        ids.add(int(command["id"]))
    return sorted(ids)
