"""Request budgets: the local limiter on a fake clock, the shared one against a scripted DynamoDB client."""

import io
import json
import logging
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from connectors.limiter import (
    Budget,
    CounterState,
    LocalLimiter,
    Move,
    SharedLimiter,
    connection_limiter,
    limiter_key,
    next_move,
)
from connectors.observability import logger

NOW = 1_700_000_000.0
WINDOW = int(NOW)
PRIME_BUDGET = Budget(5, 1)


class Clock:
    """Wall and monotonic time in one, moved by the test."""

    def __init__(self, now=NOW):
        self.now = now

    def time(self):
        return self.now


class ScriptedTable:
    """A DynamoDB client that answers each call with the next scripted answer (a response or an error)."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def update_item(self, **request):
        return self._answer("update_item", request)

    def get_item(self, **request):
        return self._answer("get_item", request)

    def _answer(self, operation, request):
        self.calls.append((operation, request))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def refused(**attributes):
    """DynamoDB's refusal of a conditional update, with the item as it was (ALL_OLD)."""
    item = {name: {"N": str(value)} for name, value in attributes.items()}
    # The item rides along with the error, a key botocore's stubs do not list.
    response: Any = {
        "Error": {"Code": "ConditionalCheckFailedException", "Message": "The conditional request failed"},
        "Item": item,
    }
    return ClientError(response, "UpdateItem")


def failed(code):
    return ClientError({"Error": {"Code": code, "Message": "arn:aws:iam::123456789012:role/secret-ish"}}, "UpdateItem")


def shared(table, budget=PRIME_BUDGET, clock=None, fallback=None):
    clock = clock or Clock()
    return SharedLimiter(table, "RateLimitTable", "prime#default#limit", budget, clock=clock.time, fallback=fallback)


def update_kind(call):
    """Which conditional update a recorded call was, told apart by its expression."""
    operation, request = call
    assert operation == "update_item"
    return Move.COUNT if request["UpdateExpression"].endswith("ADD #used :one") else Move.OPEN


@pytest.fixture
def warnings():
    logger.clear_state()  # an earlier test's Lambda context (its function ARN) must not show up here
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(logger.registered_formatter)
    target = logging.getLogger(logger.name)
    target.addHandler(handler)
    yield lambda: [json.loads(line) for line in captured.getvalue().splitlines()]
    target.removeHandler(handler)


# The local limiter


def test_the_local_limiter_allows_the_budget_per_window_then_waits_for_the_next():
    clock = Clock(NOW + 0.25)
    limiter = LocalLimiter(Budget(2, 1), clock=clock.time, wall_clock=clock.time)
    assert [limiter.reserve() for _ in range(3)] == [0.0, 0.0, pytest.approx(0.75)]
    clock.now += 0.75
    assert [limiter.reserve() for _ in range(3)] == [0.0, 0.0, pytest.approx(1.0)]


def test_an_hourly_budget_lets_a_burst_through_then_waits_out_the_hour():
    clock = Clock(NOW + 600)
    limiter = LocalLimiter(Budget(500, 3600), clock=clock.time, wall_clock=clock.time)
    assert all(limiter.reserve() == 0.0 for _ in range(500))
    window_end = (NOW + 600) // 3600 * 3600 + 3600
    assert limiter.reserve() == pytest.approx(window_end - clock.now)


def test_the_local_limiter_without_a_rate_only_holds_pauses():
    clock = Clock()
    limiter = LocalLimiter(clock=clock.time, wall_clock=clock.time)
    assert [limiter.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    limiter.pause_until(NOW + 10)
    assert limiter.reserve() == pytest.approx(10.0)
    clock.now += 10
    assert limiter.reserve() == 0.0


def test_an_earlier_pause_does_not_shorten_a_later_one():
    clock = Clock()
    limiter = LocalLimiter(clock=clock.time, wall_clock=clock.time)
    limiter.pause_until(NOW + 30)
    limiter.pause_until(NOW + 5)
    assert limiter.reserve() == pytest.approx(30.0)


def test_the_local_pause_is_kept_on_the_monotonic_clock():
    wall, monotonic = Clock(), Clock(now=500.0)
    limiter = LocalLimiter(clock=monotonic.time, wall_clock=wall.time)
    limiter.pause_until(NOW + 8)
    wall.now -= 3600  # a wall-clock step does not stretch the pause
    assert limiter.reserve() == pytest.approx(8.0)


# Budgets and the decision after a refusal


@pytest.mark.parametrize(
    ("rate", "budget"),
    [(50.0, (1, 50)), (55.5, (1, 55)), (1.0, (1, 1)), (0.5, (2, 1)), (0.4, (3, 1)), (1 / 3, (3, 1)), (0.3, (4, 1))],
)
def test_the_window_never_allows_more_than_the_rate(rate, budget):
    found = Budget.per_second(rate)
    assert (found.seconds, found.requests) == budget and found.requests / found.seconds <= rate


@pytest.mark.parametrize(("requests", "seconds"), [(0, 1), (1, 0), (-5, 3600)])
def test_an_empty_budget_is_refused(requests, seconds):
    with pytest.raises(ValueError, match="at least one request and one second"):
        Budget(requests, seconds)


@pytest.mark.parametrize(
    ("state", "move"),
    [
        (CounterState(), Move.OPEN),
        (CounterState(window=WINDOW - 1, used=5), Move.OPEN),
        (CounterState(window=WINDOW, used=4), Move.COUNT),
        (CounterState(window=WINDOW + 1, used=0), Move.COUNT),
    ],
)
def test_after_a_refusal_the_update_that_can_still_take_a_slot(state, move):
    assert next_move(state, WINDOW, 1, 5, NOW + 0.25) is move


@pytest.mark.parametrize(
    ("state", "wait"),
    [
        (CounterState(window=WINDOW, used=5), 0.75),
        (CounterState(window=WINDOW + 1, used=5), 1.75),
        (CounterState(window=WINDOW, used=1, paused_until=NOW + 30), 29.75),
        (CounterState(paused_until=NOW + 2), 1.75),
    ],
)
def test_after_a_refusal_a_full_window_or_a_pause_is_waited_out(state, wait):
    assert next_move(state, WINDOW, 1, 5, NOW + 0.25) == pytest.approx(wait)


# The shared limiter


def test_a_first_reservation_opens_the_window_in_one_update():
    table = ScriptedTable({})
    assert shared(table).reserve() == 0.0
    [call] = table.calls
    assert update_kind(call) is Move.OPEN
    request = call[1]
    assert request["Key"] == {"id": {"S": "prime#default#limit"}}
    assert request["ExpressionAttributeValues"][":window"] == {"N": str(WINDOW)}
    assert int(request["ExpressionAttributeValues"][":expires"]["N"]) > NOW


def test_later_reservations_in_the_same_window_count_in_one_update_each():
    table = ScriptedTable({}, {}, {})
    limiter = shared(table)
    assert [limiter.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert [update_kind(call) for call in table.calls] == [Move.OPEN, Move.COUNT, Move.COUNT]
    assert table.calls[1][1]["ExpressionAttributeValues"][":limit"] == {"N": "5"}


def test_a_full_window_is_waited_out_without_another_request():
    clock = Clock(NOW + 0.25)
    table = ScriptedTable(refused(window=WINDOW, used=5))
    assert shared(table, clock=clock).reserve() == pytest.approx(0.75)
    assert len(table.calls) == 1


def test_a_window_another_container_opened_is_counted_in():
    table = ScriptedTable(refused(window=WINDOW, used=2), {})
    assert shared(table).reserve() == 0.0
    assert [update_kind(call) for call in table.calls] == [Move.OPEN, Move.COUNT]


def test_a_shared_pause_is_honoured_before_counting():
    table = ScriptedTable(refused(window=WINDOW - 7, used=5, paused_until=NOW + 12))
    assert shared(table).reserve() == pytest.approx(12.0)
    assert len(table.calls) == 1


def test_without_a_rate_a_reservation_is_one_read_of_the_pause():
    table = ScriptedTable({"Item": {"paused_until": {"N": str(NOW + 4)}}}, {})
    limiter = shared(table, budget=None)
    assert limiter.reserve() == pytest.approx(4.0)
    assert limiter.reserve() == 0.0
    assert [operation for operation, _ in table.calls] == ["get_item", "get_item"]
    assert all(request["ConsistentRead"] for _, request in table.calls)


def test_a_pause_is_written_for_everyone_and_kept_locally():
    clock = Clock()
    fallback = LocalLimiter(clock=clock.time, wall_clock=clock.time)
    table = ScriptedTable({})
    shared(table, clock=clock, fallback=fallback).pause_until(NOW + 20)
    [(operation, request)] = table.calls
    assert operation == "update_item"
    assert request["ExpressionAttributeValues"][":until"] == {"N": str(NOW + 20)}
    assert request["ConditionExpression"] == "attribute_not_exists(#paused) OR #paused < :until"
    assert fallback.reserve() == pytest.approx(20.0)


def test_a_later_pause_already_recorded_is_not_an_error(warnings):
    table = ScriptedTable(refused(paused_until=NOW + 60))
    shared(table).pause_until(NOW + 20)
    assert warnings() == []


@pytest.mark.parametrize(
    "error",
    [EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), failed("ResourceNotFoundException")],
    ids=["unreachable", "missing-table"],
)
def test_an_unusable_table_falls_back_to_the_local_limiter_and_warns_once(error, warnings):
    clock = Clock()
    fallback = LocalLimiter(Budget(1, 1), clock=clock.time, wall_clock=clock.time)
    table = ScriptedTable(error)
    limiter = shared(table, budget=Budget(2, 1), clock=clock, fallback=fallback)
    assert limiter.reserve() == 0.0
    assert limiter.reserve() == pytest.approx(1.0)  # the local budget, not the table's
    assert len(table.calls) == 1
    [warning] = warnings()
    assert warning["level"] == "WARNING" and warning["rate_limit_table"] == "RateLimitTable"
    assert "arn:" not in json.dumps(warning)


def test_the_table_is_tried_again_after_the_retry_interval(warnings):
    clock = Clock()
    table = ScriptedTable(failed("ThrottlingException"), failed("ThrottlingException"), {})
    limiter = shared(table, clock=clock)
    calls_seen = []
    for step in (0, 10, 21, 31):
        clock.now += step
        limiter.reserve()
        calls_seen.append(len(table.calls))
    assert calls_seen == [1, 1, 2, 3]  # failed at 0; local at 10; failed again at 31; the table answers at 62
    assert len(warnings()) == 1


def test_a_pause_learned_while_the_table_is_down_is_still_honoured():
    clock = Clock()
    fallback = LocalLimiter(clock=clock.time, wall_clock=clock.time)
    table = ScriptedTable(failed("AccessDeniedException"))
    limiter = shared(table, clock=clock, fallback=fallback)
    limiter.pause_until(NOW + 9)
    assert limiter.reserve() == pytest.approx(9.0)
    assert len(table.calls) == 1


def test_without_a_table_the_connection_gets_a_local_limiter():
    def no_client():
        raise AssertionError("no DynamoDB client without a table")

    assert isinstance(connection_limiter(None, "prime", "default", Budget(50, 1), no_client), LocalLimiter)


def test_with_a_table_the_connection_gets_its_item_in_it():
    table: Any = ScriptedTable()
    limiter = connection_limiter("RateLimitTable", "procore", "north", None, lambda: table)
    assert isinstance(limiter, SharedLimiter) and limiter.key == limiter_key("procore", "north")
    assert limiter.key == "procore#north#limit"
