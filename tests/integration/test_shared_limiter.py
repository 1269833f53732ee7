"""Several warm containers sharing one rate-limit table in the real moto server.

Each limiter (a container) has its own client; threads stand for containers running at once. Time is a clock the
test moves, so the slots booked are judged on that clock, never by wall timing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from connectors.limiter import Budget, LocalLimiter, SharedLimiter, Slot, limiter_key
from devkit.aws import dynamodb_client
from tests.integration.conftest import keyed_table

pytestmark = pytest.mark.integration

START = 1_800_000_000
LIMIT = 5
CONTAINERS = 4
BUDGET = Budget(LIMIT, 1)
KEY = limiter_key("prime", "default")
WITHIN = 25.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


def as_pair(slot: Slot) -> tuple[float, bool]:
    """A slot's wait (to the microsecond) and whether it was booked, for comparing."""
    return round(slot.wait, 6), slot.booked


@pytest.fixture
def table(moto) -> Iterator[str]:
    """A rate-limit table shaped like the template's RateLimitTable, new for each test."""
    with keyed_table(moto, "RateLimit", "expires_at") as name:
        yield name


def container(moto, table, clock, budget=BUDGET):
    client: Any = dynamodb_client(moto.endpoint_url)
    return SharedLimiter(client, table, KEY, [budget] if budget else [], clock=clock.time)


@pytest.mark.parametrize("burst", [1, 3])
def test_containers_sharing_the_table_book_a_burst_then_slots_an_interval_apart(moto, table, burst):
    budget = Budget(LIMIT, 1, burst=burst)
    clock = Clock(START)
    limiters = [container(moto, table, clock, budget) for _ in range(CONTAINERS)]
    within = 2.0
    booked: list[float] = []
    counting = threading.Lock()

    def book_until_refused(limiter: SharedLimiter) -> Slot:
        """A container with many senders: books until no slot opens within its time; returns the refusal."""
        while (slot := limiter.reserve(within)).booked:
            with counting:
                booked.append(slot.wait)
        return slot

    paced = int(within / budget.interval)
    for start in (START, START + 10):  # the second round finds the item idle, its next slot long past
        clock.now = start + 0.25
        booked.clear()
        with ThreadPoolExecutor(CONTAINERS) as pool:
            refusals = list(pool.map(book_until_refused, limiters))
        expected = [0.0] * burst + [n * budget.interval for n in range(1, paced + 1)]
        assert sorted(booked) == pytest.approx(expected, abs=1e-6)
        next_free = (paced + 1) * budget.interval
        assert [refusal.wait for refusal in refusals] == [pytest.approx(next_free, abs=1e-6)] * CONTAINERS


@pytest.mark.parametrize("budget", [None, BUDGET], ids=["pauses-only", "with-budget"])
def test_a_pause_recorded_by_one_container_is_honoured_by_another(moto, table, budget):
    clock = Clock(START + 0.5)
    first, second = container(moto, table, clock, budget), container(moto, table, clock, budget)
    assert second.reserve(WITHIN) == Slot(0.0)
    first.pause_until(START + 30)
    assert as_pair(second.reserve(WITHIN)) == (29.5, False)
    assert first.held(everywhere=True) == pytest.approx(29.5) == second.held(everywhere=True)
    second.pause_until(START + 10)  # an earlier pause learned later does not shorten it
    assert as_pair(first.reserve(60.0)) == (29.5, True)
    clock.now = START + 40
    assert second.reserve(WITHIN) == Slot(0.0)


def test_items_carry_the_ttl_attribute(moto, table):
    clock = Clock(START + 0.5)
    limiter = container(moto, table, clock)
    limiter.reserve(WITHIN)
    limiter.pause_until(START + 3600)
    item = dynamodb_client(moto.endpoint_url).get_item(TableName=table, Key={"id": {"S": KEY}})["Item"]
    assert int(item["expires_at"]["N"]) > START + 3600
    assert float(item["paused_until"]["N"]) == START + 3600
    assert float(item["next_slots"]["M"][BUDGET.key]["N"]) == START + 0.5 + BUDGET.interval


def test_a_missing_table_falls_back_to_the_local_limiter_with_one_warning(moto, logs):
    clock = Clock(START)
    fallback = LocalLimiter([Budget(1, 1)], clock=clock.time, wall_clock=clock.time)
    client = dynamodb_client(moto.endpoint_url)
    limiter = SharedLimiter(client, "NoSuchTable", KEY, [Budget(2, 1)], clock=clock.time, fallback=fallback)
    # The local budget's interval, not the table's.
    assert [as_pair(limiter.reserve(WITHIN)), as_pair(limiter.reserve(WITHIN))] == [
        (0.0, True),
        (round(Budget(1, 1).interval, 6), True),
    ]
    warnings = [line for line in logs.getvalue().splitlines() if "Rate limit table unusable" in line]
    assert len(warnings) == 1 and "ResourceNotFoundException" in warnings[0]
