"""Order: an older edit of a vendor object never overwrites a newer one.

SQS standard queues do not keep order and a retried record comes back minutes later, so every edit carries a
version: the producer's (``Change-Order-Version``: a number, or an RFC 3339 time), else the time SQS first accepted
the record. For each vendor object (a Procore PCO by company and ``origin_id``/``id``, a ConstructionOnline change
order by ``ID``) a mark beside the ledger keeps, per property, the version the vendor holds. Both vendors' writes are
partial (only the given properties change), so the marks are per property: an edit sends only the properties that
no newer edit set, already delivered or in the same batch; an edit left with none is superseded (settled, neither
delivered nor dead-lettered).

While an edit is sent, its object is held (a lease on the mark, a conditional write), so two containers never send
two versions of one object at once; the marks move only after the vendor answered, so a mark never claims a
version the vendor does not hold.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from connectors.deadline import HOLD_SHARE, Deadline
from connectors.failures import ConnectorError, FieldProblem, invalid_input, out_of_time, transient
from connectors.idempotency import PARALLEL_TABLE_WRITES
from connectors.observability import aws_error_name, logger, metrics
from connectors.operation import Attempt, CommandResult

VERSION_ATTRIBUTE = "Change-Order-Version"
"""The SQS message attribute (and the API header) that carries an edit's version."""
VERSION_HEADER = VERSION_ATTRIBUTE.lower()
# DynamoDB numbers hold 38 digits; a version is compared as one.
_MAX_VERSION_DIGITS = 38
# A held object whose holder is busy is tried again this soon.
BUSY_RETRY_SECONDS = 5.0
# A mark outlives every copy of an edit that can still arrive: the retry budget, and a dead letter kept 14 days
# then redriven.
MARK_LIFETIME_SECONDS = 16 * 24 * 3600


def parse_version(text: str) -> Decimal:
    """A producer's version: a number (a counter, epoch seconds or milliseconds) or an RFC 3339 date-time.

    A date-time becomes epoch seconds; an object's edits must all use one kind. Raises ValueError with the reason.
    """
    value = text.strip()
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = None
    if number is not None:
        if not number.is_finite() or len(number.as_tuple().digits) > _MAX_VERSION_DIGITS or number < 0:
            raise ValueError(f"must be a non-negative number of at most {_MAX_VERSION_DIGITS} digits")
        return number
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a number or an RFC 3339 date-time with an offset") from None
    if moment.tzinfo is None:
        raise ValueError("a date-time version needs an offset (Z or +hh:mm)")
    return Decimal(str(moment.timestamp()))


def version_from_epoch_ms(milliseconds: str | int) -> Decimal:
    """Epoch milliseconds (SQS's SentTimestamp) as epoch seconds."""
    return Decimal(int(milliseconds)) / 1000


def request_version(headers: Mapping[str, str], clock: Callable[[], float] = time.time) -> Decimal:
    """An API request's version: its ``Change-Order-Version`` header, else now (the request is answered now).

    A header that cannot be read is invalid input naming it.
    """
    given = next((value for name, value in headers.items() if name.lower() == VERSION_HEADER), None)
    if given is None:
        return Decimal(str(clock()))
    try:
        return parse_version(given)
    except ValueError as error:
        problem = FieldProblem(f"headers.{VERSION_ATTRIBUTE}", str(error))
        raise invalid_input(f"header {VERSION_ATTRIBUTE} {error}", [problem]) from None


@dataclass(frozen=True)
class Edit:
    """The properties one command sets on one vendor object."""

    key: str
    fields: frozenset[str]


class Ordering[C](Protocol):
    """How a function's commands edit vendor objects: what they set, and the command narrowed to some of it."""

    def edits(self, command: C) -> list[Edit]:
        """The objects ``command`` edits, each with the properties it sets."""
        ...

    def narrow(self, command: C, keep: Sequence[frozenset[str]]) -> C | None:
        """``command`` setting only ``keep`` (one set per edit, in order); None when nothing is left to send."""
        ...


@dataclass(frozen=True)
class Superseded:
    """An edit not sent because newer edits already set every property it carries."""

    message: str


@dataclass(frozen=True)
class Delivered:
    """A command the vendor took, with what it assigned or matched per item (its receipt's ``vendor_ids``)."""

    vendor_ids: list[dict[str, Any]] = field(default_factory=list)
    before: bool = False
    """Delivered by an earlier invocation (a duplicate): its receipt went out then, not again."""


Outcome = ConnectorError | Superseded | Delivered | None
"""What became of a command: delivered (``Delivered``, or None when there is nothing to say), superseded, or the
failure."""


@dataclass(frozen=True)
class Hold:
    """This invocation's lease on one object's mark, and the versions the vendor holds per property."""

    key: str
    token: str
    versions: Mapping[str, Decimal]
    until: float  # when the lease runs out (epoch seconds)


class ObjectMarks:
    """Per-object marks in DynamoDB: items ``<function>#mark#<object>`` of the idempotency table."""

    def __init__(self, function: str, table: str, client: Any, clock: Callable[[], float] = time.time) -> None:
        self._prefix = f"{function}#mark#"
        self._table = table
        self._client = client
        self._clock = clock

    def hold(self, key: str, lease_seconds: float) -> Hold | None:
        """Take the object's lease for ``lease_seconds``; None when another invocation holds it."""
        now = self._clock()
        token = uuid.uuid4().hex
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": self._prefix + key}},
                UpdateExpression=(
                    "SET lease_token = :token, lease_until = :until, expiration = :expiration, "
                    "versions = if_not_exists(versions, :empty)"
                ),
                ConditionExpression="attribute_not_exists(lease_until) OR lease_until < :now",
                ExpressionAttributeValues={
                    ":token": {"S": token},
                    ":until": {"N": str(now + lease_seconds)},
                    ":now": {"N": str(now)},
                    ":expiration": {"N": str(int(now) + MARK_LIFETIME_SECONDS)},
                    ":empty": {"M": {}},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if aws_error_name(error) == "ConditionalCheckFailedException":
                return None
            raise
        stored = answer["Attributes"].get("versions", {}).get("M", {})
        return Hold(key, token, {name: Decimal(value["N"]) for name, value in stored.items()}, now + lease_seconds)

    def release(self, hold: Hold, delivered: Mapping[str, Decimal]) -> None:
        """Record the versions of the properties the vendor now holds, and give the lease back.

        A lease that ran out with nothing delivered is left as it is: there is nothing to write, and a write per
        object would only slow the wrap-up of a batch that failed as a whole (a vendor outage).
        """
        if not delivered and self._clock() >= hold.until:
            return
        names = {f"#p{index}": name for index, name in enumerate(delivered)}
        values: dict[str, Any] = {f":v{index}": {"N": str(version)} for index, version in enumerate(delivered.values())}
        sets = ", ".join(f"versions.{name} = :v{index}" for index, name in enumerate(names))
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": self._prefix + hold.key}},
                UpdateExpression=(f"SET {sets} " if sets else "") + "REMOVE lease_token, lease_until",
                ConditionExpression="lease_token = :token",
                ExpressionAttributeValues={":token": {"S": hold.token}, **values},
                **({"ExpressionAttributeNames": names} if names else {}),
            )
        except ClientError as error:
            if aws_error_name(error) != "ConditionalCheckFailedException":
                raise
            # The lease ran out while the vendor was called (it lasts the invocation, so only a stalled clock does
            # this): whoever holds it now decides; the properties sent here may be sent again by an older edit.
            logger.warning("an object's lease ran out before its marks were written", extra={"object": hold.key})


def deliver_in_order[C](
    commands: Sequence[C],
    versions: Sequence[Decimal],
    ordering: Ordering[C],
    marks: ObjectMarks | None,
    deadline: Deadline,
    process: Callable[[list[C]], Sequence[ConnectorError | None]],
) -> list[Outcome]:
    """Send each command narrowed to what no newer edit set; one outcome per command, in order.

    Every object the commands edit is held while they are sent (until ``deadline``, the end of the invocation's
    vendor work); a command whose object another invocation holds, or whose mark cannot be read, is not sent and
    fails transiently; one the deadline leaves no time to hold is not sent either and comes back as out of time
    (``failures.out_of_time``). Both are retried. Without ``marks`` (no table, as in unit tests) the commands are
    sent as they are.
    """
    if marks is None:
        return list(process(list(commands)))
    edits = [ordering.edits(command) for command in commands]
    keys = {edit.key for per_command in edits for edit in per_command}
    holds = _hold_all(keys, marks, deadline.remaining(), deadline.share(HOLD_SHARE))
    winners = _newest_per_property(edits, versions)
    outcomes: list[Outcome] = [None] * len(commands)
    sending: list[tuple[int, C, list[frozenset[str]]]] = []
    for index, command in enumerate(commands):
        refused = next((holds[e.key] for e in edits[index] if isinstance(holds[e.key], ConnectorError)), None)
        if isinstance(refused, ConnectorError):
            outcomes[index] = refused
            continue
        keep = [
            frozenset(
                name
                for name in edit.fields
                if winners[(edit.key, name)] == (versions[index], index)
                and versions[index] > _held(holds[edit.key]).versions.get(name, Decimal(-math.inf))
            )
            for edit in edits[index]
        ]
        narrowed = ordering.narrow(command, keep)
        if narrowed is None:
            outcomes[index] = Superseded(f"newer edits already set every property of {_describe(edits[index])}")
            continue
        sending.append((index, narrowed, keep))
    results: Sequence[ConnectorError | None] = []
    try:
        if sending:
            results = process([narrowed for _, narrowed, _ in sending])
    finally:
        # Also when process raised: the leases go back, and only what the vendor answered for moves a mark.
        delivered: dict[str, dict[str, Decimal]] = {}
        for (index, _, keep), result in zip(sending, results, strict=False):
            outcomes[index] = result
            if result is None:
                for edit, kept in zip(edits[index], keep, strict=True):
                    delivered.setdefault(edit.key, {}).update(dict.fromkeys(kept, versions[index]))
        _release_all([h for h in holds.values() if isinstance(h, Hold)], delivered, marks)
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, Superseded):
            metrics.add_metric(name="RecordsSuperseded", unit="Count", value=1)
            logger.info("superseded by newer edits", extra={"objects": [e.key for e in edits[index]]})
    return outcomes


@dataclass(frozen=True)
class SentInOrder[C, R]:
    """What ``send_in_order`` did: an outcome per command, and what the operation answered for those it sent."""

    outcomes: list[Outcome]
    answered: list[tuple[C, R]]
    """Per command sent, in order: the command as it was sent (narrowed) and the operation's result for it."""


def send_in_order[C, R: CommandResult](
    commands: Sequence[C],
    attempt: Attempt,
    ordering: Ordering[C],
    marks: ObjectMarks | None,
    operation: Callable[[list[C]], Sequence[R]],
) -> SentInOrder[C, R]:
    """``deliver_in_order`` through ``operation``, keeping what it answered for each command it was given."""
    answered: list[tuple[C, R]] = []

    def send(narrowed: list[C]) -> list[ConnectorError | None]:
        results = operation(narrowed)
        answered.extend(zip(narrowed, results, strict=True))
        return [result.failure() for result in results]

    outcomes = deliver_in_order(commands, attempt.versions, ordering, marks, attempt.deadline, send)
    # Every command delivered was sent, and the operation's results come in the commands' order: the n-th
    # delivered outcome is the n-th result without a failure.
    taken = iter([result for _, result in answered if result.failure() is None])
    outcomes = [Delivered(next(taken).vendor_ids()) if outcome is None else outcome for outcome in outcomes]
    return SentInOrder(outcomes, answered)


def outcomes_of[T, C, R](
    send: Callable[[T, list[C], Attempt], SentInOrder[C, R]],
) -> Callable[[T, list[C], Attempt], list[Outcome]]:
    """``send`` as the delivery of a batch, which needs no more than the outcomes."""
    return lambda container, commands, attempt: send(container, commands, attempt).outcomes


def _hold_all(
    keys: Iterable[str], marks: ObjectMarks, lease_seconds: float, hold_by: Deadline
) -> dict[str, Hold | ConnectorError]:
    started = time.monotonic()

    def take(key: str) -> Hold | ConnectorError:
        if hold_by.remaining() <= 0:
            # A slow table took the time for holding: what is not held yet waits for the next attempt.
            return out_of_time()
        try:
            # Every lease ends together, with the vendor work, however late it was taken.
            hold = marks.hold(key, lease_seconds - (time.monotonic() - started))
        except (BotoCoreError, ClientError) as error:
            logger.warning("could not hold an object's mark", extra={"error": aws_error_name(error)})
            return transient("the order marks could not be reached; retrying")
        if hold is None:
            return transient(
                "another invocation is delivering an edit of this change order right now",
                retry_after=BUSY_RETRY_SECONDS,
            )
        return hold

    ordered = sorted(keys)
    with ThreadPoolExecutor(max_workers=PARALLEL_TABLE_WRITES) as pool:
        return dict(zip(ordered, pool.map(take, ordered), strict=True))


def _release_all(holds: list[Hold], delivered: Mapping[str, Mapping[str, Decimal]], marks: ObjectMarks) -> None:
    def give_back(hold: Hold) -> None:
        try:
            marks.release(hold, delivered.get(hold.key, {}))
        except (BotoCoreError, ClientError) as error:
            # The lease runs out with the invocation; the marks stay behind the vendor, never ahead of it.
            logger.warning("could not write an object's marks", extra={"error": aws_error_name(error)})

    with ThreadPoolExecutor(max_workers=PARALLEL_TABLE_WRITES) as pool:
        list(pool.map(give_back, holds))


def _newest_per_property(edits: Sequence[list[Edit]], versions: Sequence[Decimal]) -> dict[tuple[str, str], Any]:
    """Per object and property, the (version, position) of the newest edit in the batch that sets it."""
    winners: dict[tuple[str, str], tuple[Decimal, int]] = {}
    for index, per_command in enumerate(edits):
        for edit in per_command:
            for name in edit.fields:
                candidate = (versions[index], index)
                winners[(edit.key, name)] = max(winners.get((edit.key, name), candidate), candidate)
    return winners


def _held(hold: Hold | ConnectorError) -> Hold:
    assert isinstance(hold, Hold)  # commands whose objects could not be held were set aside above
    return hold


def _describe(edits: Sequence[Edit]) -> str:
    return ", ".join(edit.key for edit in edits[:5]) + (" ..." if len(edits) > 5 else "")
