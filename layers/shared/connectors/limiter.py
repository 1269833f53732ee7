"""Request budgets per vendor connection: this process's own, or one that every warm container shares in DynamoDB.

``VendorHttp`` books a slot before every request and tells its ``Limiter`` when the vendor wants a pause. A
budget of R requests per S seconds opens one slot every S/R seconds (plus an allowance for the jitter between a
request leaving and reaching the vendor), so any S-second span, wherever the vendor's window starts, holds at most
R requests: a window counted from the vendor's first request, or one aligned to the clock, is never overrun,
where a burst at the start of our own window could land in the end of the vendor's. A sender books the next
free slot and sleeps until it, so waiting senders do not race for each slot as it opens.

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

from connectors.observability import logger

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
_NAMES = {"#next": "next_slot", "#expires": "expires_at"}
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
        """The budget of ``rate`` requests per second."""
        return cls(1, 1 / rate)

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
            self._next = max(self._next, resume + self._tolerance)


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


class SharedLimiter:
    """One connection's next free slot in a DynamoDB item that every warm container updates.

    The item (key ``id`` = ``<vendor>#<connection>#limit``) holds ``next_slot``, the paced schedule's next slot in
    epoch seconds (a burst may go up to the budget's tolerance before it; a vendor's pause sets it to the pause's
    end plus the tolerance), and ``expires_at`` for the table's TTL. A booking is one conditional UpdateItem: when
    the next slot has passed, book now; when it is to come, book it and move it one interval on (DynamoDB adds, so
    concurrent bookings get successive slots). A refusal brings the item back as it was, which says which update
    fits, or how long until a slot opens. Without a budget a reservation only reads the pause (a GetItem).

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
        now = self._clock()
        if now < self._table_down_until:
            return self._fallback.reserve(within)
        try:
            if self._budget is None:
                return self._pause_left(now, within)
            return self._book(now, within)
        except (BotoCoreError, ClientError) as error:
            self._table_failed(error, now)
            return self._fallback.reserve(within)

    def pause_until(self, until: float) -> None:
        """Record the pause for every container (the latest one wins) and for the local fallback."""
        self._fallback.pause_until(until)
        now = self._clock()
        if now < self._table_down_until:
            return
        resume = until + self._tolerance  # so that not even a burst goes before ``until``
        try:
            self._table.update_item(
                TableName=self._table_name,
                Key=self._key(),
                UpdateExpression="SET #next = :until, #expires = :expires",
                ConditionExpression="attribute_not_exists(#next) OR #next < :until",
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues={
                    ":until": _n(resume),
                    ":expires": _n(math.ceil(resume) + ITEM_LIFETIME_SECONDS),
                },
            )
        except ClientError as error:
            if _error_code(error) != _REFUSED:  # refused: a later slot or pause is recorded already
                self._table_failed(error, now)
        except BotoCoreError as error:
            self._table_failed(error, now)

    def _book(self, now: float, within: float) -> Slot:
        # Under a backlog the next slot is usually ahead: guess QUEUE then, so one update books it.
        move = Move.QUEUE if self._seen_next > now else Move.IDLE
        for _ in range(_UPDATES_PER_RESERVATION):
            booked = self._update(move, now, within)
            if isinstance(booked, Slot):
                return booked
            self._seen_next = -math.inf if booked is None else booked
            decision = next_move(booked, now, within, self._tolerance)
            if isinstance(decision, Slot):
                return decision
            move = decision
        # Only a pause racing each booking gets here: the sender tries again one interval later.
        return Slot(self._interval, booked=False)

    def _update(self, move: Move, now: float, within: float) -> Slot | float | None:
        """Try ``move``: the booked slot, or the item's next slot as it was when the update was refused."""
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
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues=values,
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if _error_code(error) != _REFUSED:
                raise
            # The stubs do not list the item DynamoDB returns with a refusal.
            return _next_slot(cast(Mapping[str, Any], error.response).get("Item"))
        # The slot booked is the one before the item's new next slot, less the tolerance.
        self._seen_next = float(answer["Attributes"][_NAMES["#next"]]["N"])
        return Slot(max(0.0, self._seen_next - self._interval - self._tolerance - now))

    def _pause_left(self, now: float, within: float) -> Slot:
        answer = self._table.get_item(
            TableName=self._table_name,
            Key=self._key(),
            ConsistentRead=True,
            ProjectionExpression="#next",
            ExpressionAttributeNames={"#next": _NAMES["#next"]},
        )
        wait = max(0.0, (_next_slot(answer.get("Item")) or now) - now)
        return Slot(wait, booked=wait <= within)

    def _key(self) -> dict[str, AttributeValueTypeDef]:
        return {"id": {"S": self.key}}

    def _table_failed(self, error: Exception, now: float) -> None:
        with self._lock:
            self._table_down_until = now + self._table_retry_seconds
            first, self._warned = not self._warned, True
        if first:
            logger.warning(
                "Rate limit table unusable: this container keeps its own budget until it answers again",
                extra={"rate_limit_table": self._table_name, "limiter_key": self.key, "error": _describe(error)},
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


def _next_slot(item: Mapping[str, Any] | None) -> float | None:
    """The item's ``next_slot`` from DynamoDB's attribute values (``{"N": "..."}``); None when it has none."""
    value = (item or {}).get(_NAMES["#next"], {}).get("N")
    return None if value is None else float(value)


def _n(value: float) -> AttributeValueTypeDef:
    return {"N": str(value)}


def _expiry(now: float) -> int:
    return int(now) + ITEM_LIFETIME_SECONDS


def _error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def _describe(error: Exception) -> str:
    # The code or the exception's kind only: messages can carry account and role ARNs.
    if isinstance(error, ClientError):
        return _error_code(error) or type(error).__name__
    return type(error).__name__
