"""Several warm containers sharing one rate-limit table in the real moto server.

Each limiter (a container) has its own client; threads stand for containers running at once. Time is a clock the
test moves, so reservations are counted per window of that clock, never by wall timing.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from connectors.limiter import Budget, LocalLimiter, SharedLimiter, limiter_key
from devkit.aws import dynamodb_client

pytestmark = pytest.mark.integration

START = 1_800_000_000
LIMIT = 5
CONTAINERS = 4
BUDGET = Budget(LIMIT, 1)
KEY = limiter_key("prime", "default")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


class TakingTurns:
    """A DynamoDB client whose calls take turns with every other client that shares ``turn``.

    DynamoDB applies a conditional update atomically. moto server checks the condition and then applies the update
    without a lock, so two concurrent requests can both pass a check only one should pass (6 threads adding to a
    counter limited to 5 got 6 to 8 in a quarter of 100 rounds). One request at a time gives back the guarantee the
    limiter relies on and nothing more: the limiters still interleave request by request.
    """

    def __init__(self, client: Any, turn: threading.Lock) -> None:
        self._client = client
        self._turn = turn

    def update_item(self, **request: Any) -> Any:
        with self._turn:
            return self._client.update_item(**request)

    def get_item(self, **request: Any) -> Any:
        with self._turn:
            return self._client.get_item(**request)


@pytest.fixture
def table(moto) -> Iterator[str]:
    """A rate-limit table shaped like the template's RateLimitTable, new for each test."""
    client = dynamodb_client(moto.endpoint_url)
    name = f"RateLimit-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    client.update_time_to_live(TableName=name, TimeToLiveSpecification={"AttributeName": "expires_at", "Enabled": True})
    yield name
    client.delete_table(TableName=name)


def container(moto, table, clock, budget=BUDGET, turn=None):
    client: Any = dynamodb_client(moto.endpoint_url)
    if turn is not None:
        client = TakingTurns(client, turn)
    return SharedLimiter(client, table, KEY, budget, clock=clock.time)


def test_containers_sharing_the_table_together_stay_within_the_budget_per_window(moto, table):
    clock, turn = Clock(START), threading.Lock()
    limiters = [container(moto, table, clock, turn=turn) for _ in range(CONTAINERS)]
    granted: Counter[int] = Counter()
    counting = threading.Lock()

    def send_until_refused(limiter):
        """A container sending as fast as it is let (never more than the whole budget); returns its last wait."""
        for _ in range(LIMIT + 1):
            wait = limiter.reserve()
            if wait > 0:
                return wait
            with counting:
                granted[int(clock.time())] += 1
        return 0.0

    windows = [START, START + 1, START + 4, START + 5]  # a gap: the item still holds an old window
    for window in windows:
        clock.now = window + 0.25
        with ThreadPoolExecutor(CONTAINERS) as pool:
            waits = list(pool.map(send_until_refused, limiters))
        assert waits == [pytest.approx(0.75)] * CONTAINERS  # every container waits for the next window
    assert granted == dict.fromkeys(windows, LIMIT)


@pytest.mark.parametrize("budget", [None, BUDGET], ids=["pauses-only", "with-budget"])
def test_a_pause_recorded_by_one_container_is_honoured_by_another(moto, table, budget):
    clock = Clock(START + 0.5)
    first, second = container(moto, table, clock, budget), container(moto, table, clock, budget)
    assert second.reserve() == 0.0
    first.pause_until(START + 30)
    assert second.reserve() == pytest.approx(29.5)
    second.pause_until(START + 10)  # an earlier pause learned later does not shorten it
    assert first.reserve() == pytest.approx(29.5)
    clock.now = START + 30
    assert second.reserve() == 0.0


def test_items_carry_the_ttl_attribute(moto, table):
    clock = Clock(START + 0.5)
    limiter = container(moto, table, clock)
    limiter.reserve()
    limiter.pause_until(START + 3600)
    item = dynamodb_client(moto.endpoint_url).get_item(TableName=table, Key={"id": {"S": KEY}})["Item"]
    assert int(item["expires_at"]["N"]) > START + 3600
    assert {name: value["N"] for name, value in item.items() if name in ("window", "used")} == {
        "window": str(START),
        "used": "1",
    }


def test_a_missing_table_falls_back_to_the_local_limiter_with_one_warning(moto, logs):
    clock = Clock(START)
    fallback = LocalLimiter(Budget(1, 1), clock=clock.time, wall_clock=clock.time)
    client = dynamodb_client(moto.endpoint_url)
    limiter = SharedLimiter(client, "NoSuchTable", KEY, Budget(2, 1), clock=clock.time, fallback=fallback)
    assert [limiter.reserve(), limiter.reserve()] == [0.0, pytest.approx(1.0)]  # the local budget
    warnings = [line for line in logs.getvalue().splitlines() if "Rate limit table unusable" in line]
    assert len(warnings) == 1 and "ResourceNotFoundException" in warnings[0]
