"""Request budgets per vendor connection: this process's own, or one that every warm container shares in DynamoDB.

``VendorHttp`` books a slot before every request and tells its ``Limiter`` when the vendor wants a pause. A
budget of R requests per S seconds opens one slot every S/R seconds (plus an allowance for the jitter between a
request leaving and reaching the vendor), so any S-second span, wherever the vendor's window starts, holds at most
R requests: a window counted from the vendor's first request, or one aligned to the clock, is never overrun,
where a burst at the start of our own window could land in the end of the vendor's. A sender books the next
free slot and sleeps until it, so waiting senders do not race for each slot as it opens; after a sleep it asks
whether a pause began meanwhile (``held``), and if one did its slot is void and it books again after the pause.

A ``LocalLimiter`` knows only its own process, so N warm containers send N times the budget; a ``SharedLimiter``
keeps the next free slot in DynamoDB, so the containers stay under the vendor's limit together and all of them
stop as soon as one of them learns of a pause.
"""

from __future__ import annotations

import enum
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from connectors.observability import aws_error_name, logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

# Longer than any pause a vendor asks for (Procore's longest window is an hour); then DynamoDB's TTL drops the item.
ITEM_LIFETIME_SECONDS = 24 * 3600
# How long a container keeps to its local limiter after the table failed, before trying the table again.
TABLE_RETRY_SECONDS = 30.0
# A down table must cost a vendor request little: short timeouts, one retry.
TABLE_CLIENT_CONFIG = Config(connect_timeout=1, read_timeout=1, retries={"total_max_attempts": 2, "mode": "standard"})
# Requests booked S/R apart reach the vendor a little less or more apart (thread wake-ups, connection reuse, the
# network). Spreading R slots over S plus this much keeps R+1 of them out of any S-second vendor window.
ARRIVAL_JITTER_SECONDS = 0.05

# IDLE, refused because another container booked first, then QUEUE: two updates, a third after a race with a pause.
_UPDATES_PER_RESERVATION = 3
_NAMES = {"#next": "next_slot", "#paused": "paused_until", "#expires": "expires_at"}
_REFUSED = "ConditionalCheckFailedException"


@dataclass(frozen=True)
class Slot:
    """A reservation: the request may go ``wait`` seconds from now if ``booked``.

    Not booked means no slot opens within the time the sender has; ``wait`` then says when the next one does.
    """

    wait: float
    booked: bool = True


class Limiter(Protocol):
    """What ``VendorHttp`` needs from a request budget."""

    def reserve(self, within: float) -> Slot:
        """Book the next free slot if it opens within ``within`` seconds; otherwise book nothing."""
        ...

    def pause_until(self, until: float) -> None:
        """Hold requests until ``until`` (epoch seconds), as the vendor asked; an earlier pause never shortens it."""
        ...

    def held(self, *, everywhere: bool) -> float:
        """Seconds a vendor's pause still holds requests (0.0 when none).

        ``everywhere`` asks for pauses any container learned of, which may cost a read of the shared table;
        otherwise only the pauses this process was told of count.
        """
        ...


@dataclass(frozen=True)
class Budget:
    """At most ``requests`` requests in any span of ``seconds``; up to ``burst`` of them at once after a quiet spell.

    Slots open one ``interval`` apart, and a sender after a quiet spell may use up to ``burst - 1`` of the slots
    that went unused (``tolerance``). A burst is paid for in pace: the interval is set so that a full burst and
    the paced slots after it still fit the limit in any span, so ``burst=1`` gives the most requests per span
    under a backlog and a larger burst gives a lone batch its answers sooner.
    """

    requests: int
    seconds: float
    burst: int = 1

    def __post_init__(self) -> None:
        if self.requests < 1 or self.seconds <= 0:
            raise ValueError(f"a budget needs at least one request in a positive span of seconds, not {self}")
        if not 1 <= self.burst <= self.requests:
            raise ValueError(f"a budget's burst is between 1 and its requests, not {self}")

    @classmethod
    def per_second(cls, rate: float) -> Budget:
        """The budget of ``rate`` requests per second: per one-second window, or one request per 1/rate seconds."""
        # The jitter allowance is spread over a window's requests: one second per request would pay it each time.
        return cls(math.floor(rate), 1) if rate >= 1 else cls(1, 1 / rate)

    @property
    def interval(self) -> float:
        """Seconds from one paced slot to the next."""
        # A burst at the start of a span, then one slot per interval: burst + ceil(span / interval) - 1 <= requests.
        return (self.seconds + ARRIVAL_JITTER_SECONDS) / (self.requests - self.burst + 1)

    @property
    def tolerance(self) -> float:
        """How far ahead of the paced schedule a slot may be taken: the unused slots a burst may use."""
        return (self.burst - 1) * self.interval


class LocalLimiter:
    """This process's budget and the pauses it was told of, on its monotonic clock.

    Thread-safe. Without a budget it only holds the pauses.
    """

    def __init__(
        self,
        budget: Budget | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._interval = budget.interval if budget else 0.0
        self._tolerance = budget.tolerance if budget else 0.0
        self._clock = clock
        self._wall_clock = wall_clock
        self._next = -math.inf  # the paced schedule's next slot; a burst may go up to the tolerance before it
        self._paused_until = -math.inf
        self._lock = threading.Lock()

    def reserve(self, within: float) -> Slot:
        """Book the next free slot if it opens within ``within`` seconds."""
        with self._lock:
            now = self._clock()
            wait = max(0.0, self._next - self._tolerance - now)
            if wait > within:
                return Slot(wait, booked=False)
            self._next = max(self._next, now) + self._interval
            return Slot(wait)

    def pause_until(self, until: float) -> None:
        """Hold requests until the wall-clock time ``until``."""
        with self._lock:
            # Kept on the monotonic clock, like the slots, so that a wall-clock step cannot stretch or cut it.
            resume = self._clock() + until - self._wall_clock()
            self._paused_until = max(self._paused_until, resume)
            self._next = max(self._next, resume + self._tolerance)

    def held(self, *, everywhere: bool) -> float:
        """Seconds the latest pause this process was told of still holds requests (it knows of no others)."""
        with self._lock:
            return max(0.0, self._paused_until - self._clock())


class Move(enum.Enum):
    """The conditional updates that book a slot in a connection's item."""

    IDLE = "idle"
    """Book now and set the next slot an interval later, if the next free slot has passed (or there is none)."""
    QUEUE = "queue"
    """Book the next free slot and move it an interval on, if it is still to come and within the sender's time."""


def next_move(next_slot: float | None, now: float, within: float, tolerance: float) -> Move | Slot:
    """Which update can book a slot, given the item's next slot; or the unbooked slot when none is in time."""
    if next_slot is None or next_slot <= now:
        return Move.IDLE
    wait = max(0.0, next_slot - tolerance - now)
    if wait <= within:
        return Move.QUEUE
    return Slot(wait, booked=False)


@dataclass(frozen=True)
class Refused:
    """A booking DynamoDB refused, with the item's next slot as it was (None: no item, or none in it)."""

    next_slot: float | None


class SharedLimiter:
    """One connection's next free slot and pause in a DynamoDB item that every warm container updates.

    The item (key ``id`` = ``<vendor>#<connection>#limit``) holds ``next_slot``, the paced schedule's next slot in
    epoch seconds (a burst may go up to the budget's tolerance before it), ``paused_until``, the end of the latest
    pause a vendor asked for (which also moves ``next_slot`` to its end plus the tolerance), and ``expires_at`` for
    the table's TTL. A booking is one conditional UpdateItem: when the next slot has passed, book now; when it is
    to come, book it and move it one interval on (DynamoDB adds, so concurrent bookings get successive slots). A
    refusal brings the item back as it was, which says which update fits, or how long until a slot opens. Without
    a budget a reservation only reads the pause (a GetItem), as ``held`` does.

    If the table cannot be used (network, permissions, missing table, throttling), the limiter falls back to its
    local limiter for ``table_retry_seconds`` and logs a warning once: delivery must not stop because the
    limiter's table is down. Meanwhile each container keeps only its own budget, as if it were alone.
    """

    def __init__(
        self,
        table: DynamoDBClient,
        table_name: str,
        key: str,
        budget: Budget | None,
        *,
        clock: Callable[[], float] = time.time,
        fallback: Limiter | None = None,
        table_retry_seconds: float = TABLE_RETRY_SECONDS,
    ) -> None:
        self._table = table
        self._table_name = table_name
        self.key = key
        self._budget = budget
        self._interval = budget.interval if budget else 0.0
        self._tolerance = budget.tolerance if budget else 0.0
        self._clock = clock
        self._fallback = fallback or LocalLimiter(budget)
        self._table_retry_seconds = table_retry_seconds
        self._seen_next = -math.inf
        self._table_down_until = -math.inf
        self._warned = False
        self._lock = threading.Lock()

    def reserve(self, within: float) -> Slot:
        """Book the next free slot of the shared budget if it opens within ``within`` seconds."""
        if self._clock() < self._table_down_until:
            return self._fallback.reserve(within)
        try:
            if self._budget is None:
                wait = self._pause_left()
                return Slot(wait, booked=wait <= within)
            return self._book(within)
        except (BotoCoreError, ClientError) as error:
            self._table_failed(error)
            return self._fallback.reserve(within)

    def pause_until(self, until: float) -> None:
        """Record the pause for every container (the latest one wins) and for the local fallback."""
        self._fallback.pause_until(until)
        if self._clock() < self._table_down_until:
            return
        # Two conditional updates: DynamoDB cannot take the later of two times in one. Slots move past the pause
        # plus the tolerance, so that not even a burst goes before it ends.
        moves = [("#paused", until)] + ([("#next", until + self._tolerance)] if self._budget else [])
        for name, value in moves:
            try:
                self._table.update_item(
                    TableName=self._table_name,
                    Key=self._key(),
                    UpdateExpression=f"SET {name} = :value, #expires = :expires",
                    ConditionExpression=f"attribute_not_exists({name}) OR {name} < :value",
                    ExpressionAttributeNames={name: _NAMES[name], "#expires": _NAMES["#expires"]},
                    ExpressionAttributeValues={
                        ":value": _n(value),
                        ":expires": _n(math.ceil(value) + ITEM_LIFETIME_SECONDS),
                    },
                )
            except ClientError as error:
                if aws_error_name(error) != _REFUSED:  # refused: a later one is recorded already
                    self._table_failed(error)
                    return
            except BotoCoreError as error:
                self._table_failed(error)
                return

    def held(self, *, everywhere: bool) -> float:
        """Seconds the latest pause still holds requests: any container's (a GetItem) or this one's."""
        if not everywhere or self._clock() < self._table_down_until:
            return self._fallback.held(everywhere=False)
        try:
            return self._pause_left()
        except (BotoCoreError, ClientError) as error:
            self._table_failed(error)
            return self._fallback.held(everywhere=False)

    def _book(self, within: float) -> Slot:
        now = self._clock()
        # Under a backlog the next slot is usually ahead: guess QUEUE then, so one update books it.
        move = Move.QUEUE if self._seen_next > now else Move.IDLE
        for _ in range(_UPDATES_PER_RESERVATION):
            outcome = self._update(move, now, within)
            if not isinstance(outcome, Refused):
                # From the time now, not before the updates: a slow table must not make the request late.
                return Slot(max(0.0, outcome - self._clock()))
            self._seen_next = -math.inf if outcome.next_slot is None else outcome.next_slot
            decision = next_move(outcome.next_slot, now, within, self._tolerance)
            if isinstance(decision, Slot):
                return decision
            move = decision
        # Only a pause racing each booking gets here: the sender tries again one interval later.
        return Slot(self._interval, booked=False)

    def _update(self, move: Move, now: float, within: float) -> float | Refused:
        """Try ``move``: the booked slot's epoch second, or the refusal with the item as it was."""
        values = {":now": _n(now), ":expires": _n(_expiry(now + within))}
        if move is Move.IDLE:
            update = "SET #next = :after, #expires = :expires"
            condition = "attribute_not_exists(#next) OR #next <= :now"
            values[":after"] = _n(now + self._interval)
        else:
            update = "SET #next = #next + :interval, #expires = :expires"
            condition = "#next > :now AND #next <= :latest"
            values |= {":interval": _n(self._interval), ":latest": _n(now + within + self._tolerance)}
        try:
            answer = self._table.update_item(
                TableName=self._table_name,
                Key=self._key(),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#next": _NAMES["#next"], "#expires": _NAMES["#expires"]},
                ExpressionAttributeValues=values,
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if aws_error_name(error) != _REFUSED:
                raise
            # The stubs do not list the item DynamoDB returns with a refusal.
            return Refused(_number(cast(Mapping[str, Any], error.response).get("Item"), "#next"))
        self._seen_next = float(answer["Attributes"][_NAMES["#next"]]["N"])
        # The slot booked is the one before the item's new next slot, less the tolerance (and never before now).
        return max(now, self._seen_next - self._interval - self._tolerance)

    def _pause_left(self) -> float:
        answer = self._table.get_item(
            TableName=self._table_name,
            Key=self._key(),
            ConsistentRead=True,
            ProjectionExpression="#paused",
            ExpressionAttributeNames={"#paused": _NAMES["#paused"]},
        )
        paused_until = _number(answer.get("Item"), "#paused")
        return 0.0 if paused_until is None else max(0.0, paused_until - self._clock())

    def _key(self) -> dict[str, AttributeValueTypeDef]:
        return {"id": {"S": self.key}}

    def _table_failed(self, error: Exception) -> None:
        with self._lock:
            self._table_down_until = self._clock() + self._table_retry_seconds
            first, self._warned = not self._warned, True
        if first:
            logger.warning(
                "Rate limit table unusable: this container keeps its own budget until it answers again",
                extra={"rate_limit_table": self._table_name, "limiter_key": self.key, "error": aws_error_name(error)},
            )


def limiter_key(vendor: str, connection: str) -> str:
    """The id of a connection's item in the rate limit table."""
    return f"{vendor}#{connection}#limit"


def connection_limiter(
    table_name: str | None,
    vendor: str,
    connection: str,
    budget: Budget | None,
    table: Callable[[], DynamoDBClient],
) -> Limiter:
    """The shared limiter on ``table_name`` when one is configured, else this process's own.

    ``table`` makes the DynamoDB client, configured with ``TABLE_CLIENT_CONFIG``; it is called only for a table.
    """
    if table_name is None:
        return LocalLimiter(budget)
    return SharedLimiter(table(), table_name, limiter_key(vendor, connection), budget)


def _number(item: Mapping[str, Any] | None, name: str) -> float | None:
    """The item's attribute ``_NAMES[name]`` from DynamoDB's attribute values (``{"N": "..."}``); None if absent."""
    value = (item or {}).get(_NAMES[name], {}).get("N")
    return None if value is None else float(value)


def _n(value: float) -> AttributeValueTypeDef:
    return {"N": str(value)}


def _expiry(now: float) -> int:
    return int(now) + ITEM_LIFETIME_SECONDS
