"""Request budgets per vendor connection: this process's own, or one that every warm container shares in DynamoDB.

``VendorHttp`` books a slot before every request and tells its ``Limiter`` when the vendor wants a pause. A
budget of R requests per S seconds opens one slot every S/R seconds (plus an allowance for the jitter between a
request leaving and reaching the vendor), so any S-second span, wherever the vendor's window starts, holds at most
R requests: a window counted from the vendor's first request, or one aligned to the clock, is never overrun,
where a burst at the start of our own window could land in the end of the vendor's. A vendor may enforce several
windows at once (ConstructionOnline: an hour, a day, a week and a month per API key): a connection then has one
budget per window, and a slot is booked in all of them at once, at the time the last of them allows (``book``).

A sender books the next free slot and sleeps until it, so waiting senders do not race for each slot as it opens;
after a sleep it asks whether a pause began meanwhile (``held``), and if one did its slot is void and it books
again after the pause.

A sender that knows it has several requests to make books their slots at once (``book_ahead``): a shared limiter
then writes its item once for all of them, and ``reserve`` hands them out in order (a slot that passed unused is
dropped, never used late).

A ``LocalLimiter`` knows only its own process, so N warm containers send N times the budget; a ``SharedLimiter``
keeps the schedule in DynamoDB, so the containers stay under the vendor's limits together and all of them stop as
soon as one of them learns of a pause.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol, cast

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from connectors.observability import aws_error_name, logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

# How long an item outlives the last slot or pause it holds, after which it says nothing and DynamoDB's TTL drops it.
ITEM_LIFETIME_SECONDS = 24 * 3600
# How long a container keeps to its local limiter after the table failed, before trying the table again.
TABLE_RETRY_SECONDS = 30.0
# A down table must cost a vendor request little: short timeouts, one retry.
TABLE_CLIENT_CONFIG = Config(connect_timeout=1, read_timeout=1, retries={"total_max_attempts": 2, "mode": "standard"})
# Requests booked S/R apart reach the vendor a little less or more apart (thread wake-ups, connection reuse, the
# network). Spreading R slots over S plus this much keeps R+1 of them out of any S-second vendor window.
ARRIVAL_JITTER_SECONDS = 0.05

# Each refused write means another container booked or paused meanwhile: the slots within a sender's time run out
# long before this many refusals in a row, so only a table that misbehaves reaches it (the sender then gives up).
WRITES_PER_RESERVATION = 100
_NAMES = {"#slots": "next_slots", "#paused": "paused_until", "#version": "version", "#expires": "expires_at"}
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

    def book_ahead(self, requests: int, within: float) -> None:
        """Book up to ``requests`` slots that open within ``within`` seconds, for ``reserve`` to hand out in order."""
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

    @property
    def key(self) -> str:
        """The budget's name in a schedule: its window's length in seconds (a connection has one per window)."""
        return f"{self.seconds:g}"


@dataclass(frozen=True)
class Schedule:
    """Where a connection's budgets stand: each one's next paced slot (by ``Budget.key``) and the latest pause.

    Times are on the limiter's clock. ``version`` counts the writes of a shared schedule (None: not stored yet).
    """

    next_slots: Mapping[str, float] = field(default_factory=dict)
    paused_until: float = -math.inf
    version: int | None = None

    def book(self, budgets: Sequence[Budget], now: float, within: float) -> tuple[Slot, Schedule | None]:
        """The first slot every budget allows, and the schedule once it is booked (None: not within ``within``).

        Each budget's next slot is where a paced request may go, or up to its tolerance earlier; a request goes at
        the latest of these, and each budget's next slot then moves one interval past it (a budget that was idle,
        its next slot long past, counts from the request's time). A pause holds every request until it ends and
        costs the budgets nothing: the vendor's window that refused has reopened by then. (Moving each budget's
        next slot to the pause's end plus its tolerance, as a single hourly budget once did, would pace a month's
        budget at one request per quarter-minute for days after a pause of a second.)
        """
        due = {budget.key: self.next_slots.get(budget.key, -math.inf) for budget in budgets}
        slot = max([now, self.paused_until, *(due[budget.key] - budget.tolerance for budget in budgets)])
        if slot - now > within:
            return Slot(slot - now, booked=False), None
        after = {budget.key: max(due[budget.key], slot) + budget.interval for budget in budgets}
        return Slot(slot - now), replace(self, next_slots=after)

    def pause(self, until: float) -> Schedule | None:
        """The schedule holding requests until ``until``; None when a pause as long or longer holds already."""
        return None if until <= self.paused_until else replace(self, paused_until=until)

    def latest(self) -> float:
        """The last time this schedule says anything about: its latest next slot or pause."""
        return max([self.paused_until, *self.next_slots.values()])


def distinct_windows(budgets: Sequence[Budget]) -> tuple[Budget, ...]:
    """``budgets`` as a tuple, refused when two share a window length (a schedule keys them by it)."""
    keys = [budget.key for budget in budgets]
    if len(set(keys)) != len(keys):
        raise ValueError(f"a connection's budgets need windows of different lengths, not {list(budgets)}")
    return tuple(budgets)


class LocalLimiter:
    """This process's budgets and the pauses it was told of, on its monotonic clock.

    Thread-safe. Without budgets it only holds the pauses.
    """

    def __init__(
        self,
        budgets: Sequence[Budget] = (),
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._budgets = distinct_windows(budgets)
        self._clock = clock
        self._wall_clock = wall_clock
        self._schedule = Schedule()
        self._lock = threading.Lock()

    def reserve(self, within: float) -> Slot:
        """Book the first slot every budget allows if it opens within ``within`` seconds."""
        with self._lock:
            slot, booked = self._schedule.book(self._budgets, self._clock(), within)
            self._schedule = booked or self._schedule
            return slot

    def book_ahead(self, requests: int, within: float) -> None:
        """Nothing: this process books each slot as it is reserved at no cost."""

    def pause_until(self, until: float) -> None:
        """Hold requests until the wall-clock time ``until``."""
        with self._lock:
            # Kept on the monotonic clock, like the slots, so that a wall-clock step cannot stretch or cut it.
            self._schedule = self._schedule.pause(self._clock() + until - self._wall_clock()) or self._schedule

    def held(self, *, everywhere: bool) -> float:
        """Seconds the latest pause this process was told of still holds requests (it knows of no others)."""
        with self._lock:
            return max(0.0, self._schedule.paused_until - self._clock())


class SharedLimiter:
    """One connection's schedule in a DynamoDB item that every warm container updates.

    The item (key ``id`` = ``<vendor>#<connection>#limit``) holds ``next_slots``, a map from each budget's key to
    its next paced slot in epoch seconds, ``paused_until``, the end of the latest pause a vendor asked for,
    ``version``, which every write moves on, and ``expires_at`` for the table's TTL, a day past the latest time the
    item speaks of. A booking or a pause is one UpdateItem that writes the schedule computed from the one this
    container last saw, on condition that its version is still the one seen. DynamoDB cannot take the later of two
    times in an update, and a slot must be the latest of every budget's, so the schedule is computed here: a
    refusal brings the item back as it is (``ALL_OLD``), and the write is made again from it. Every refusal means
    another container booked meanwhile; under one budget its slot would have been taken anyway. Without budgets a
    reservation only reads the pause (a GetItem), as ``held`` does.

    If the table cannot be used (network, permissions, missing table, throttling), the limiter falls back to its
    local limiter for ``table_retry_seconds`` and logs a warning once: delivery must not stop because the
    limiter's table is down. Meanwhile each container keeps only its own budgets, as if it were alone.
    """

    def __init__(
        self,
        table: DynamoDBClient,
        table_name: str,
        key: str,
        budgets: Sequence[Budget] = (),
        *,
        clock: Callable[[], float] = time.time,
        fallback: Limiter | None = None,
        table_retry_seconds: float = TABLE_RETRY_SECONDS,
    ) -> None:
        self._table = table
        self._table_name = table_name
        self.key = key
        self._budgets = distinct_windows(budgets)
        self._clock = clock
        self._fallback = fallback or LocalLimiter(self._budgets)
        self._table_retry_seconds = table_retry_seconds
        self._seen = Schedule()
        self._table_down_until = -math.inf
        self._warned = False
        self._lock = threading.Lock()
        # A container's senders write the item one at a time: at once they would only refuse each other's writes.
        self._writing = threading.Lock()
        # Slots booked ahead (epoch seconds, in order) and not handed out yet.
        self._ahead: deque[float] = deque()

    def reserve(self, within: float) -> Slot:
        """The next slot booked ahead, else the first slot every shared budget allows if it opens within ``within``."""
        if self._clock() < self._table_down_until:
            return self._fallback.reserve(within)
        ahead = self._take_ahead(within)
        if ahead is not None:
            return ahead
        try:
            if not self._budgets:
                wait = self._pause_left()
                return Slot(wait, booked=wait <= within)
            return self._book(within)
        except (BotoCoreError, ClientError) as error:
            self._table_failed(error)
            return self._fallback.reserve(within)

    def book_ahead(self, requests: int, within: float) -> None:
        """Book up to ``requests`` slots in one write of the item (as many as open within ``within`` seconds)."""
        if requests < 2 or not self._budgets or self._clock() < self._table_down_until:
            return  # one request books its own slot in the same one write
        try:
            with self._writing:
                for _ in range(WRITES_PER_RESERVATION):
                    now = self._clock()
                    schedule, slots = self._seen, []
                    for _ in range(requests):
                        slot, booked = schedule.book(self._budgets, now, within)
                        if booked is None:
                            break
                        slots.append(now + slot.wait)
                        schedule = booked
                    if not slots:
                        return
                    if self._commit(schedule):
                        with self._lock:
                            self._ahead.extend(slots)
                        return
        except (BotoCoreError, ClientError) as error:
            self._table_failed(error)

    def pause_until(self, until: float) -> None:
        """Record the pause for every container (the latest one wins) and for the local fallback."""
        with self._lock:
            self._ahead.clear()  # slots booked before the vendor asked for a pause are void
        self._fallback.pause_until(until)
        if self._clock() < self._table_down_until:
            return
        try:
            with self._writing:
                for _ in range(WRITES_PER_RESERVATION):
                    paused = self._seen.pause(until)
                    # Pauses only grow, so one as long seen here holds in the table too.
                    if paused is None or self._commit(paused):
                        return
        except (BotoCoreError, ClientError) as error:
            self._table_failed(error)

    def held(self, *, everywhere: bool) -> float:
        """Seconds the latest pause still holds requests: any container's (a GetItem) or this one's."""
        if not everywhere or self._clock() < self._table_down_until:
            return self._fallback.held(everywhere=False)
        try:
            return self._pause_left()
        except (BotoCoreError, ClientError) as error:
            self._table_failed(error)
            return self._fallback.held(everywhere=False)

    def _take_ahead(self, within: float) -> Slot | None:
        """The earliest slot booked ahead that has not passed, if it opens within ``within`` seconds."""
        now = self._clock()
        with self._lock:
            # A slot that passed unused is dropped: sent late, its request could land closer to the next one than
            # the interval allows. Late by less than half the arrival jitter the interval leaves room for, it is not.
            while self._ahead and self._ahead[0] < now - ARRIVAL_JITTER_SECONDS / 2:
                self._ahead.popleft()
            if not self._ahead or self._ahead[0] - now > within:
                return None
            return Slot(max(0.0, self._ahead.popleft() - now))

    def _book(self, within: float) -> Slot:
        slot = Slot(min(budget.interval for budget in self._budgets), booked=False)
        with self._writing:
            for _ in range(WRITES_PER_RESERVATION):
                now = self._clock()
                # What this container saw is never ahead of the table (slots and pauses only move on), so a slot it
                # sees out of reach is out of reach: no write is needed to learn that.
                slot, booked = self._seen.book(self._budgets, now, within)
                if booked is None:
                    return slot
                if self._commit(booked):
                    # From the time now, not before the write: a slow table must not make the request late.
                    return Slot(max(0.0, now + slot.wait - self._clock()))
        return Slot(slot.wait, booked=False)

    def _commit(self, schedule: Schedule) -> bool:
        """Write ``schedule`` if the item is still as last seen; otherwise learn what it is now and return False."""
        seen = self._seen.version
        version = 1 if seen is None else seen + 1
        values: dict[str, AttributeValueTypeDef] = {
            ":slots": {"M": {key: _n(value) for key, value in schedule.next_slots.items()}},
            ":paused": _n(schedule.paused_until) if math.isfinite(schedule.paused_until) else {"NULL": True},
            ":version": _n(version),
            ":expires": _n(math.ceil(max(schedule.latest(), self._clock())) + ITEM_LIFETIME_SECONDS),
        }
        if seen is not None:
            values[":seen"] = _n(seen)
        try:
            self._table.update_item(
                TableName=self._table_name,
                Key=self._key(),
                UpdateExpression="SET #slots = :slots, #paused = :paused, #version = :version, #expires = :expires",
                ConditionExpression="attribute_not_exists(#version)" if seen is None else "#version = :seen",
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if aws_error_name(error) != _REFUSED:
                raise
            # The stubs do not list the item DynamoDB returns with a refusal.
            self._seen = _schedule(cast(Mapping[str, Any], error.response).get("Item"))
            return False
        self._seen = replace(schedule, version=version)
        return True

    def _pause_left(self) -> float:
        answer = self._table.get_item(
            TableName=self._table_name,
            Key=self._key(),
            ConsistentRead=True,
            ProjectionExpression="#paused",
            ExpressionAttributeNames={"#paused": _NAMES["#paused"]},
        )
        paused_until = _schedule(answer.get("Item")).paused_until
        return max(0.0, paused_until - self._clock())

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
    budgets: Sequence[Budget],
    table: Callable[[], DynamoDBClient],
) -> Limiter:
    """The shared limiter on ``table_name`` when one is configured, else this process's own.

    ``table`` makes the DynamoDB client, configured with ``TABLE_CLIENT_CONFIG``; it is called only for a table.
    """
    if table_name is None:
        return LocalLimiter(budgets)
    return SharedLimiter(table(), table_name, limiter_key(vendor, connection), budgets)


def _schedule(item: Mapping[str, Any] | None) -> Schedule:
    """A schedule from its item's DynamoDB attribute values; an empty one when there is no item."""
    item = item or {}
    slots = item.get(_NAMES["#slots"], {}).get("M", {})
    paused = item.get(_NAMES["#paused"], {}).get("N")
    version = item.get(_NAMES["#version"], {}).get("N")
    return Schedule(
        next_slots={key: float(value["N"]) for key, value in slots.items()},
        paused_until=-math.inf if paused is None else float(paused),
        version=None if version is None else int(version),
    )


def _n(value: float) -> AttributeValueTypeDef:
    return {"N": str(value)}
