"""Request budgets per vendor connection: this process's own, or one that every warm container shares in DynamoDB.

``VendorHttp`` asks its ``Limiter`` for a slot before every request and tells it when the vendor wants a pause.
A ``LocalLimiter`` knows only its own process, so N warm containers send N times the budget; a ``SharedLimiter``
keeps the budget and the pause in DynamoDB, so the containers stay under the vendor's limit together and all of
them stop as soon as one of them learns of a pause.
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

# OPEN, refused because another container opened the window first, then COUNT: three updates at most.
_UPDATES_PER_RESERVATION = 3
_NAMES = {"#window": "window", "#used": "used", "#paused": "paused_until", "#expires": "expires_at"}
_NOT_PAUSED = "(attribute_not_exists(#paused) OR #paused <= :now)"
_REFUSED = "ConditionalCheckFailedException"


class Limiter(Protocol):
    """What ``VendorHttp`` needs from a request budget."""

    def reserve(self) -> float:
        """Take a slot for one request and return 0.0, or return the seconds to wait before asking again."""
        ...

    def pause_until(self, until: float) -> None:
        """Hold requests until ``until`` (epoch seconds), as the vendor asked; an earlier pause never shortens it."""
        ...


@dataclass(frozen=True)
class Budget:
    """At most ``requests`` requests in each fixed window of ``seconds`` (windows start at multiples of ``seconds``)."""

    requests: int
    seconds: int

    def __post_init__(self) -> None:
        if self.requests < 1 or self.seconds < 1:
            raise ValueError(f"a budget needs at least one request and one second, not {self}")

    @classmethod
    def per_second(cls, rate: float) -> Budget:
        """The budget that allows at most ``rate`` requests per second on average.

        One second for any rate of 1 or more; longer windows of one request for slower rates.
        """
        seconds = max(1, math.ceil(1 / rate))
        return cls(max(1, math.floor(rate * seconds)), seconds)


class LocalLimiter:
    """This process's budget: ``budget.requests`` per window of its clock, and the pauses it was told of.

    Thread-safe. Without a budget it only holds the pauses.
    """

    def __init__(
        self,
        budget: Budget | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._budget = budget
        self._clock = clock
        self._wall_clock = wall_clock
        self._window = -math.inf
        self._used = 0
        self._resume = -math.inf
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take a slot now (0.0) or say how long until the next one may be free."""
        with self._lock:
            now = self._clock()
            if now < self._resume:
                return self._resume - now
            if self._budget is None:
                return 0.0
            window = now // self._budget.seconds * self._budget.seconds
            if window != self._window:
                self._window, self._used = window, 0
            if self._used < self._budget.requests:
                self._used += 1
                return 0.0
            return window + self._budget.seconds - now

    def pause_until(self, until: float) -> None:
        """Hold requests until the wall-clock time ``until``."""
        with self._lock:
            # Kept on the monotonic clock, like the windows, so that a wall-clock step cannot stretch or cut it.
            self._resume = max(self._resume, self._clock() + until - self._wall_clock())


class Move(enum.Enum):
    """The conditional updates that take a slot in a connection's item."""

    COUNT = "count"
    """Add one to the window the item holds, if it is the current one (or later) and has room."""
    OPEN = "open"
    """Start the current window at one, if the item holds an earlier one (or none)."""


@dataclass(frozen=True)
class CounterState:
    """A connection's item as it was when an update was refused."""

    window: int | None = None
    used: int = 0
    paused_until: float = 0.0

    @classmethod
    def from_item(cls, item: Mapping[str, Any] | None) -> CounterState:
        """Read DynamoDB's attribute values (``{"N": "..."}``); missing attributes mean a fresh item."""
        item = item or {}
        window, used, paused = (_number(item, name) for name in ("window", "used", "paused_until"))
        return cls(
            window=None if window is None else int(window),
            used=int(used or 0),
            paused_until=paused or 0.0,
        )


def next_move(state: CounterState, window: int, window_seconds: int, limit: int, now: float) -> float | Move:
    """After a refused update: the seconds to wait, or the update that can still take a slot in ``window``."""
    if state.paused_until > now:
        return state.paused_until - now
    if state.window is None or state.window < window:
        return Move.OPEN
    if state.used < limit:
        return Move.COUNT
    # Full; a window later than ours (another container's clock is ahead) is waited out the same way.
    return state.window + window_seconds - now


class SharedLimiter:
    """One connection's budget and pause in a DynamoDB item that every warm container updates.

    The item (key ``id`` = ``<vendor>#<connection>#limit``) holds the current fixed window (``window``, its first
    epoch second), the requests granted in it (``used``), the latest pause any container learned from the vendor
    (``paused_until``, epoch seconds) and ``expires_at`` for the table's TTL. A reservation is one conditional
    UpdateItem that counts the request only while the window has room and no pause is on (a GetItem of the pause
    when there is no budget); a refusal brings the item back as it was, which says how long to wait. A second and
    third update happen only when this container's guess of the window was stale, at most once per window.

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
        self._clock = clock
        self._fallback = fallback or LocalLimiter(budget)
        self._table_retry_seconds = table_retry_seconds
        self._seen_window: int | None = None
        self._table_down_until = -math.inf
        self._warned = False
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take a slot in the shared window (0.0) or say how long to wait before asking again."""
        now = self._clock()
        if now < self._table_down_until:
            return self._fallback.reserve()
        try:
            if self._budget is None:
                return self._pause_left(now)
            return self._take_slot(now, self._budget.seconds, self._budget.requests)
        except (BotoCoreError, ClientError) as error:
            self._table_failed(error, now)
            return self._fallback.reserve()

    def pause_until(self, until: float) -> None:
        """Record the pause for every container (the latest one wins) and for the local fallback."""
        self._fallback.pause_until(until)
        now = self._clock()
        if now < self._table_down_until:
            return
        try:
            self._table.update_item(
                TableName=self._table_name,
                Key=self._key(),
                UpdateExpression="SET #paused = :until, #expires = :expires",
                ConditionExpression="attribute_not_exists(#paused) OR #paused < :until",
                ExpressionAttributeNames={"#paused": _NAMES["#paused"], "#expires": _NAMES["#expires"]},
                ExpressionAttributeValues={
                    ":until": _n(until),
                    ":expires": _n(math.ceil(until) + ITEM_LIFETIME_SECONDS),
                },
            )
        except ClientError as error:
            if _error_code(error) != _REFUSED:  # refused: a later pause is recorded already
                self._table_failed(error, now)
        except BotoCoreError as error:
            self._table_failed(error, now)

    def _take_slot(self, now: float, window_seconds: int, limit: int) -> float:
        window = int(now // window_seconds) * window_seconds
        move = Move.COUNT if self._seen_window == window else Move.OPEN
        for _ in range(_UPDATES_PER_RESERVATION):
            refusal = self._update(move, window, limit, now)
            if refusal is None:
                self._seen_window = window
                return 0.0
            self._seen_window = refusal.window
            decision = next_move(refusal, window, window_seconds, limit, now)
            if not isinstance(decision, Move):
                return decision
            move = decision
        # Windows only move forward, so this takes an item deleted and recreated meanwhile: try the next window.
        return window + window_seconds - now

    def _update(self, move: Move, window: int, limit: int, now: float) -> CounterState | None:
        """Try ``move``; None when it took the slot, else the item as it was."""
        values = {":window": _n(window), ":one": _n(1), ":now": _n(now), ":expires": _n(_expiry(now))}
        if move is Move.COUNT:
            update = "SET #expires = :expires ADD #used :one"
            condition = f"#window >= :window AND #used < :limit AND {_NOT_PAUSED}"
            values[":limit"] = _n(limit)
        else:
            update = "SET #window = :window, #used = :one, #expires = :expires"
            condition = f"(attribute_not_exists(#window) OR #window < :window) AND {_NOT_PAUSED}"
        try:
            self._table.update_item(
                TableName=self._table_name,
                Key=self._key(),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if _error_code(error) != _REFUSED:
                raise
            # The stubs do not list the item DynamoDB returns with a refusal.
            return CounterState.from_item(cast(Mapping[str, Any], error.response).get("Item"))
        return None

    def _pause_left(self, now: float) -> float:
        answer = self._table.get_item(
            TableName=self._table_name,
            Key=self._key(),
            ConsistentRead=True,
            ProjectionExpression="#paused",
            ExpressionAttributeNames={"#paused": _NAMES["#paused"]},
        )
        return max(0.0, CounterState.from_item(answer.get("Item")).paused_until - now)

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


def _number(item: Mapping[str, Any], name: str) -> float | None:
    value = item.get(name, {}).get("N")
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
