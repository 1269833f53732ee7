"""Request budgets: the local limiter on a fake clock, the shared one against a scripted DynamoDB client."""

import itertools
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from connectors.limiter import (
    ARRIVAL_JITTER_SECONDS,
    WRITES_PER_RESERVATION,
    Budget,
    LocalLimiter,
    Schedule,
    SharedLimiter,
    Slot,
    connection_limiter,
    limiter_key,
)
from connectors.observability import logger
from tests.log_capture import captured_log_records

NOW = 1_700_000_000.0
PRIME_BUDGET = Budget(5, 1)


class Clock:
    """Wall and monotonic time in one, moved by the test."""

    def __init__(self, now=NOW):
        self.now = now

    def time(self):
        return self.now


def at(epoch):
    """An epoch second to the microsecond (pytest.approx's relative tolerance would allow half an hour)."""
    return pytest.approx(epoch, abs=1e-6)


def as_pair(slot: Slot) -> tuple[float, bool]:
    """A slot's wait (to the microsecond) and whether it was booked, for comparing."""
    return round(slot.wait, 6), slot.booked


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


def item(version, paused_until=None, **next_slots):
    """A limiter item as DynamoDB returns it: ``next_slots`` keyed by window seconds (``s1=`` is the 1 s window)."""
    attributes: dict[str, Any] = {
        "version": {"N": str(version)},
        "next_slots": {"M": {key.removeprefix("s"): {"N": str(value)} for key, value in next_slots.items()}},
    }
    if paused_until is not None:
        attributes["paused_until"] = {"N": str(paused_until)}
    return attributes


def refused(current=None):
    """DynamoDB's refusal of a conditional update, with the item as it is now (ALL_OLD; None: no item)."""
    # The item rides along with the error, a key botocore's stubs do not list.
    response: Any = {"Error": {"Code": "ConditionalCheckFailedException", "Message": "The conditional request failed"}}
    if current is not None:
        response["Item"] = current
    return ClientError(response, "UpdateItem")


def failed(code):
    return ClientError({"Error": {"Code": code, "Message": "arn:aws:iam::123456789012:role/secret-ish"}}, "UpdateItem")


def shared(table, budget=PRIME_BUDGET, clock=None, fallback=None, budgets=None):
    clock = clock or Clock()
    budgets = budgets if budgets is not None else ([budget] if budget else [])
    return SharedLimiter(table, "RateLimitTable", "prime#default#limit", budgets, clock=clock.time, fallback=fallback)


WRITTEN: dict[str, Any] = {}  # UpdateItem's answer without ReturnValues


def written(call):
    """What a recorded write put in the item: each window's next slot, the pause, the version, and its condition."""
    operation, request = call
    assert operation == "update_item"
    values = request["ExpressionAttributeValues"]
    return {
        "next_slots": {key: float(value["N"]) for key, value in values[":slots"]["M"].items()},
        "paused_until": float(values[":paused"]["N"]) if "N" in values[":paused"] else None,
        "version": int(values[":version"]["N"]),
        "seen": int(values[":seen"]["N"]) if ":seen" in values else None,
    }


@pytest.fixture
def warnings():
    logger.clear_state()  # an earlier test's Lambda context (its function ARN) must not show up here
    with captured_log_records() as records:
        yield records


# The local limiter

WITHIN = 25.0  # the time a sender has for its request in most tests


def free(limiter, within=WITHIN):
    """The waits of the slots booked, as plain numbers."""
    slot = limiter.reserve(within)
    assert slot.booked
    return slot.wait


def test_the_local_limiter_books_slots_an_interval_apart():
    clock = Clock()
    budget = Budget(4, 1)
    limiter = LocalLimiter([budget], clock=clock.time, wall_clock=clock.time)
    assert [free(limiter) for _ in range(5)] == pytest.approx([budget.interval * n for n in range(5)])
    clock.now += 10  # idle: the next sender goes at once, and the one after an interval later
    assert [free(limiter), free(limiter)] == pytest.approx([0.0, budget.interval])


@pytest.mark.parametrize("burst", [1, 2, 5])
@pytest.mark.parametrize(
    "quiet", [(), ("idle", 3.0), ("idle", 0.4, "idle", 7.9), ("pause", 2.0)], ids=["steady", "idle", "idles", "pause"]
)
def test_no_span_of_the_budgets_seconds_holds_more_than_its_requests(burst, quiet):
    clock = Clock(NOW + 0.73)
    budget = Budget(5, 1, burst=burst)
    limiter = LocalLimiter([budget], clock=clock.time, wall_clock=clock.time)
    slots: list[float] = [clock.now + free(limiter) for _ in range(20)]
    for kind, seconds in zip(quiet[::2], quiet[1::2], strict=True):  # senders book back to back between them
        clock.now = slots[-1]
        if kind == "idle":
            clock.now += seconds
        else:
            limiter.pause_until(clock.now + seconds)
        slots += [clock.now + free(limiter) for _ in range(20)]
    later = slots[budget.requests :]
    # Any window of the budget's seconds, plus the jitter allowance, holds at most its requests.
    spans = [last - first for first, last in zip(slots, later, strict=False)]
    assert min(spans) >= budget.seconds + ARRIVAL_JITTER_SECONDS - 1e-6


def test_a_burst_goes_at_once_after_a_quiet_spell_then_slots_are_paced():
    clock = Clock()
    budget = Budget(10, 1, burst=3)
    limiter = LocalLimiter([budget], clock=clock.time, wall_clock=clock.time)
    waits = [free(limiter) for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.0, 0.0, budget.interval, 2 * budget.interval], abs=1e-6)
    assert budget.interval == pytest.approx((1 + ARRIVAL_JITTER_SECONDS) / 8)  # the burst is paid for in pace


def test_a_burst_does_not_go_before_a_pause_ends():
    clock = Clock()
    limiter = LocalLimiter([Budget(10, 1, burst=3)], clock=clock.time, wall_clock=clock.time)
    limiter.pause_until(NOW + 2)
    assert free(limiter) == pytest.approx(2.0)


def test_a_slot_past_the_senders_time_is_not_booked():
    clock = Clock()
    limiter = LocalLimiter([Budget(500, 3600)], clock=clock.time, wall_clock=clock.time)
    assert free(limiter) == 0.0
    too_late = limiter.reserve(within=5.0)
    assert not too_late.booked and too_late.wait == pytest.approx(Budget(500, 3600).interval)
    assert free(limiter) == pytest.approx(Budget(500, 3600).interval)  # the refused sender took nothing


def test_the_local_limiter_without_a_rate_only_holds_pauses():
    clock = Clock()
    limiter = LocalLimiter(clock=clock.time, wall_clock=clock.time)
    assert [free(limiter) for _ in range(3)] == [0.0, 0.0, 0.0]
    limiter.pause_until(NOW + 10)
    assert free(limiter) == pytest.approx(10.0)
    assert as_pair(limiter.reserve(within=5.0)) == (10.0, False)
    clock.now += 10
    assert free(limiter) == 0.0


def test_slots_after_a_pause_start_where_it_ends():
    clock = Clock()
    budget = Budget(2, 1)
    limiter = LocalLimiter([budget], clock=clock.time, wall_clock=clock.time)
    limiter.pause_until(NOW + 3)
    assert [free(limiter), free(limiter)] == pytest.approx([3.0, 3.0 + budget.interval])


def test_an_earlier_pause_does_not_shorten_a_later_one():
    clock = Clock()
    limiter = LocalLimiter(clock=clock.time, wall_clock=clock.time)
    limiter.pause_until(NOW + 30)
    limiter.pause_until(NOW + 5)
    assert free(limiter, within=60.0) == pytest.approx(30.0)


def test_the_local_pause_is_kept_on_the_monotonic_clock():
    wall, monotonic = Clock(), Clock(now=500.0)
    limiter = LocalLimiter(clock=monotonic.time, wall_clock=wall.time)
    limiter.pause_until(NOW + 8)
    wall.now -= 3600  # a wall-clock step does not stretch the pause
    assert free(limiter) == pytest.approx(8.0)


# Budgets


def test_the_interval_leaves_room_for_arrival_jitter():
    budget = Budget(30, 1)
    assert budget.interval * budget.requests == pytest.approx(1 + ARRIVAL_JITTER_SECONDS)


@pytest.mark.parametrize(
    ("rate", "budget"), [(50.0, Budget(50, 1)), (55.5, Budget(55, 1)), (1.0, Budget(1, 1)), (0.4, Budget(1, 2.5))]
)
def test_a_per_second_budget_spreads_the_jitter_allowance_over_a_seconds_requests(rate, budget):
    assert Budget.per_second(rate) == budget
    assert 1 / Budget.per_second(rate).interval <= rate


@pytest.mark.parametrize(("requests", "seconds"), [(0, 1), (1, 0), (-5, 3600)])
def test_an_empty_budget_is_refused(requests, seconds):
    with pytest.raises(ValueError, match="at least one request in a positive span"):
        Budget(requests, seconds)


@pytest.mark.parametrize("burst", [0, 6])
def test_a_burst_outside_the_budget_is_refused(burst):
    with pytest.raises(ValueError, match="burst is between 1 and its requests"):
        Budget(5, 1, burst=burst)


def test_a_connections_budgets_need_windows_of_different_lengths():
    with pytest.raises(ValueError, match="windows of different lengths"):
        LocalLimiter([Budget(5, 60), Budget(50, 60)])


# Several windows at once (ConstructionOnline: an hour, a day, a week, a month)

WINDOWS = [Budget(5, 1, burst=3), Budget(8, 3, burst=4), Budget(12, 10, burst=2)]


def spans_hold_at_most_their_requests(slots, budgets):
    """Whether no span of any budget's seconds (plus the jitter allowance) holds more than its requests."""
    return all(
        later - first >= budget.seconds + ARRIVAL_JITTER_SECONDS - 1e-6
        for budget in budgets
        for first, later in zip(slots, slots[budget.requests :], strict=False)
    )


@pytest.mark.parametrize(
    "quiet", [(), ("idle", 2.0), ("idle", 0.4, "idle", 12.0), ("pause", 4.0)], ids=["steady", "idle", "idles", "pause"]
)
def test_no_span_of_any_window_holds_more_than_its_requests(quiet):
    clock = Clock(NOW + 0.31)
    limiter = LocalLimiter(WINDOWS, clock=clock.time, wall_clock=clock.time)
    slots: list[float] = [clock.now + free(limiter, within=1000.0) for _ in range(30)]
    for kind, seconds in zip(quiet[::2], quiet[1::2], strict=True):
        clock.now = slots[-1]
        if kind == "idle":
            clock.now += seconds
        else:
            limiter.pause_until(clock.now + seconds)
        slots += [clock.now + free(limiter, within=1000.0) for _ in range(30)]
    assert spans_hold_at_most_their_requests(slots, WINDOWS)
    # The check can fail: the same slots overrun a window slightly longer than the longest one.
    assert not spans_hold_at_most_their_requests(slots, [Budget(12, 12, burst=2)])


def test_a_sustained_backlog_is_paced_by_the_longest_window_after_the_short_ones_bursts():
    clock = Clock()
    hour, day = Budget(10, 10, burst=5), Budget(20, 100, burst=10)
    limiter = LocalLimiter([hour, day], clock=clock.time, wall_clock=clock.time)
    waits = [free(limiter, within=10_000.0) for _ in range(40)]
    assert waits[:5] == [0.0] * 5  # both windows allow a burst of five after the quiet spell
    steps = [later - first for first, later in itertools.pairwise(waits)]
    assert steps[5:9] == pytest.approx([hour.interval] * 4)  # then the short window's pace, while the long one allows
    assert steps[-5:] == pytest.approx([day.interval] * 5)  # until the long window's burst is spent: its pace
    assert day.interval > hour.interval


def test_a_slot_is_booked_in_every_window_or_in_none():
    clock = Clock()
    short, long = Budget(2, 1), Budget(3, 30, burst=2)
    limiter = LocalLimiter([short, long], clock=clock.time, wall_clock=clock.time)
    # The long window's burst of two, the second at the short window's pace; then the long window's pace.
    assert [free(limiter), free(limiter), free(limiter)] == pytest.approx([0.0, short.interval, long.interval])
    refused_slot = limiter.reserve(within=5.0)
    assert not refused_slot.booked and refused_slot.wait == pytest.approx(2 * long.interval)
    # The refused sender took nothing in the short window either: the next booking is where the long one allows.
    assert free(limiter, within=60.0) == pytest.approx(2 * long.interval)
    assert free(limiter, within=60.0) == pytest.approx(3 * long.interval)


# The shared limiter

INTERVAL = PRIME_BUDGET.interval
KEY = PRIME_BUDGET.key


def test_a_first_reservation_books_now_in_one_write():
    table = ScriptedTable(WRITTEN)
    assert shared(table).reserve(WITHIN) == Slot(0.0)
    [call] = table.calls
    request = call[1]
    assert request["Key"] == {"id": {"S": "prime#default#limit"}}
    assert request["ConditionExpression"] == "attribute_not_exists(#version)"
    assert written(call) == {"next_slots": {KEY: NOW + INTERVAL}, "paused_until": None, "version": 1, "seen": None}
    assert int(request["ExpressionAttributeValues"][":expires"]["N"]) > NOW + INTERVAL + 3600


def test_under_a_backlog_each_reservation_is_one_write_on_the_version_it_wrote():
    table = ScriptedTable(WRITTEN, WRITTEN, WRITTEN)
    limiter = shared(table)
    assert [limiter.reserve(WITHIN).wait for _ in range(3)] == pytest.approx([0.0, INTERVAL, 2 * INTERVAL])
    assert [(written(call)["seen"], written(call)["version"]) for call in table.calls] == [(None, 1), (1, 2), (2, 3)]
    assert table.calls[1][1]["ConditionExpression"] == "#version = :seen"


def test_a_slot_another_container_booked_sends_this_one_to_the_next():
    table = ScriptedTable(refused(item(7, s1=NOW + 0.2)), WRITTEN)
    assert shared(table).reserve(WITHIN).wait == pytest.approx(0.2)
    second = written(table.calls[1])
    assert second["seen"] == 7 and second["next_slots"] == {KEY: at(NOW + 0.2 + INTERVAL)}


def test_an_item_gone_while_booking_is_booked_afresh():
    table = ScriptedTable(WRITTEN, refused(None), WRITTEN)
    limiter = shared(table)
    limiter.reserve(WITHIN)
    # Gone means nothing is booked: the TTL drops an item only a day past the last time it speaks of.
    assert limiter.reserve(WITHIN) == Slot(0.0)
    assert [written(call)["seen"] for call in table.calls] == [None, 1, None]
    assert table.calls[2][1]["ConditionExpression"] == "attribute_not_exists(#version)"


def test_a_shared_burst_books_now_while_the_next_slot_is_within_the_tolerance():
    budget = Budget(10, 1, burst=3)
    table = ScriptedTable(refused(item(2, s1=NOW + 2 * budget.interval)), WRITTEN)
    assert shared(table, budget=budget).reserve(WITHIN) == Slot(0.0)  # two of the burst are booked already
    assert written(table.calls[1])["next_slots"] == {budget.key: at(NOW + 3 * budget.interval)}


def test_a_shared_pause_holds_every_request_until_it_ends():
    budget = Budget(10, 1, burst=3)
    table = ScriptedTable(WRITTEN, WRITTEN)
    limiter = shared(table, budget=budget)
    limiter.pause_until(NOW + 20)
    assert written(table.calls[0])["paused_until"] == NOW + 20
    assert free(limiter) == pytest.approx(20.0)
    booked = written(table.calls[1])
    assert booked["next_slots"] == {budget.key: at(NOW + 20 + budget.interval)}
    assert booked["paused_until"] == NOW + 20 and booked["seen"] == 1


def test_a_next_slot_past_the_senders_time_books_nothing():
    table = ScriptedTable(refused(item(4, s1=NOW + 40)))
    limiter = shared(table)
    assert as_pair(limiter.reserve(WITHIN)) == (40.0, False)
    assert as_pair(limiter.reserve(WITHIN)) == (40.0, False)  # known out of reach: no second write
    assert len(table.calls) == 1


def test_a_reservation_books_every_window_at_once():
    short, long = Budget(5, 1), Budget(20, 60, burst=2)
    table = ScriptedTable(refused(item(9, s1=NOW - 5, s60=NOW + 7 + long.tolerance)), WRITTEN)
    limiter = shared(table, budgets=[short, long])
    assert limiter.reserve(WITHIN).wait == pytest.approx(7.0)  # the long window's slot; the short one is idle
    second = written(table.calls[1])
    assert second["next_slots"] == {
        short.key: at(NOW + 7 + short.interval),  # counted from the request's time, not its own past
        long.key: at(NOW + 7 + long.tolerance + long.interval),
    }


def test_a_sender_that_keeps_losing_races_gives_up_its_turn():
    answers = [refused(item(version, s1=NOW + version * 0.01)) for version in range(1, WRITES_PER_RESERVATION + 1)]
    table = ScriptedTable(*answers)
    slot = shared(table).reserve(WITHIN)
    assert not slot.booked and len(table.calls) == WRITES_PER_RESERVATION


def test_without_a_rate_a_reservation_is_one_read_of_the_pause():
    paused = {"Item": {"paused_until": {"N": str(NOW + 4)}}}
    table = ScriptedTable(paused, paused, {})
    limiter = shared(table, budget=None)
    assert as_pair(limiter.reserve(WITHIN)) == (4.0, True)
    assert as_pair(limiter.reserve(2.0)) == (4.0, False)
    assert limiter.reserve(WITHIN) == Slot(0.0)
    assert [operation for operation, _ in table.calls] == ["get_item"] * 3
    assert all(request["ConsistentRead"] for _, request in table.calls)


def test_a_pause_is_written_for_everyone_and_kept_locally():
    clock = Clock()
    fallback = LocalLimiter(clock=clock.time, wall_clock=clock.time)
    table = ScriptedTable(WRITTEN)
    shared(table, clock=clock, fallback=fallback).pause_until(NOW + 20)
    [call] = table.calls
    assert written(call) == {"next_slots": {}, "paused_until": NOW + 20, "version": 1, "seen": None}
    assert int(call[1]["ExpressionAttributeValues"][":expires"]["N"]) >= NOW + 20 + 24 * 3600
    assert free(fallback) == pytest.approx(20.0) and fallback.held(everywhere=False) == pytest.approx(20.0)


def test_a_pause_keeps_the_slots_another_container_booked():
    table = ScriptedTable(refused(item(3, s1=NOW + 2)), WRITTEN)
    shared(table).pause_until(NOW + 20)
    assert written(table.calls[1]) == {
        "next_slots": {KEY: NOW + 2},
        "paused_until": NOW + 20,
        "version": 4,
        "seen": 3,
    }


def test_a_later_pause_already_recorded_is_not_an_error(warnings):
    table = ScriptedTable(refused(item(2, paused_until=NOW + 60)))
    limiter = shared(table)
    limiter.pause_until(NOW + 20)
    limiter.pause_until(NOW + 30)  # known to be shorter than the recorded one: nothing to write
    assert len(table.calls) == 1 and warnings() == []


def test_held_everywhere_reads_the_pause_any_container_recorded():
    table = ScriptedTable({"Item": {"paused_until": {"N": str(NOW + 7)}}}, {"Item": {}})
    limiter = shared(table)
    assert limiter.held(everywhere=True) == pytest.approx(7.0)
    assert limiter.held(everywhere=True) == 0.0
    assert [request["ProjectionExpression"] for _, request in table.calls] == ["#paused", "#paused"]


def test_held_here_is_what_this_container_was_told_without_a_read():
    clock = Clock()
    table = ScriptedTable(WRITTEN)
    limiter = shared(table, clock=clock, fallback=LocalLimiter(clock=clock.time, wall_clock=clock.time))
    limiter.pause_until(NOW + 5)
    assert limiter.held(everywhere=False) == pytest.approx(5.0)
    assert [operation for operation, _ in table.calls] == ["update_item"]  # the pause; no read


@pytest.mark.parametrize(
    "error",
    [EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), failed("ResourceNotFoundException")],
    ids=["unreachable", "missing-table"],
)
def test_an_unusable_table_falls_back_to_the_local_limiter_and_warns_once(error, warnings):
    clock = Clock()
    fallback = LocalLimiter([Budget(1, 1)], clock=clock.time, wall_clock=clock.time)
    table = ScriptedTable(error)
    limiter = shared(table, budget=Budget(2, 1), clock=clock, fallback=fallback)
    assert free(limiter) == 0.0
    assert free(limiter) == pytest.approx(Budget(1, 1).interval)  # the local budget, not the table's
    assert len(table.calls) == 1
    [warning] = warnings()
    assert warning["level"] == "WARNING" and warning["rate_limit_table"] == "RateLimitTable"
    assert "arn:" not in json.dumps(warning)


def test_the_table_is_tried_again_after_the_retry_interval(warnings):
    clock = Clock()
    table = ScriptedTable(failed("ThrottlingException"), failed("ThrottlingException"), WRITTEN)
    limiter = shared(table, clock=clock)
    calls_seen = []
    for step in (0, 10, 21, 31):
        clock.now += step
        limiter.reserve(WITHIN)
        calls_seen.append(len(table.calls))
    assert calls_seen == [1, 1, 2, 3]  # failed at 0; local at 10; failed again at 31; the table answers at 62
    assert len(warnings()) == 1


def test_a_pause_learned_while_the_table_is_down_is_still_honoured():
    clock = Clock()
    fallback = LocalLimiter(clock=clock.time, wall_clock=clock.time)
    table = ScriptedTable(failed("AccessDeniedException"))
    limiter = shared(table, clock=clock, fallback=fallback)
    limiter.pause_until(NOW + 9)
    assert free(limiter) == pytest.approx(9.0)
    assert len(table.calls) == 1


def test_a_pause_costs_the_budgets_nothing():
    budget = Budget(10, 1, burst=3)
    slot, booked = Schedule(paused_until=NOW + 5).book([budget], NOW, WITHIN)
    assert slot == Slot(5.0) and booked is not None
    assert booked.next_slots == {budget.key: at(NOW + 5 + budget.interval)}


def test_after_a_pause_a_long_windows_burst_is_still_there():
    clock = Clock()
    short, month = Budget(10, 10, burst=2), Budget(1000, 100_000, burst=100)
    limiter = LocalLimiter([short, month], clock=clock.time, wall_clock=clock.time)
    free(limiter)
    limiter.pause_until(NOW + 1)
    waits = [free(limiter) for _ in range(4)]
    # The short window's pace after the pause, not the month's (over a minute and a half a request).
    assert waits == pytest.approx([1.0, short.interval, 2 * short.interval, 3 * short.interval])
    assert month.interval > 90


def test_without_a_table_the_connection_gets_a_local_limiter():
    def no_client():
        raise AssertionError("no DynamoDB client without a table")

    assert isinstance(connection_limiter(None, "prime", "default", [Budget(50, 1)], no_client), LocalLimiter)


def test_with_a_table_the_connection_gets_its_item_in_it():
    table: Any = ScriptedTable()
    limiter = connection_limiter("RateLimitTable", "procore", "north", [], lambda: table)
    assert isinstance(limiter, SharedLimiter) and limiter.key == limiter_key("procore", "north")
    assert limiter.key == "procore#north#limit"


# Booking ahead


def test_slots_booked_ahead_are_one_write_and_handed_out_in_order_without_another():
    table = ScriptedTable(WRITTEN)
    clock = Clock()
    limiter = shared(table, clock=clock)
    limiter.book_ahead(4, WITHIN)
    [call] = table.calls
    assert written(call)["next_slots"] == {KEY: at(NOW + 4 * INTERVAL)}  # four slots in the one write
    assert [limiter.reserve(WITHIN).wait for _ in range(4)] == pytest.approx(
        [0.0, INTERVAL, 2 * INTERVAL, 3 * INTERVAL]
    )
    assert len(table.calls) == 1
    # The fifth books on from where the four left off, in a write of its own.
    table.answers.append(WRITTEN)
    assert limiter.reserve(WITHIN).wait == pytest.approx(4 * INTERVAL)
    assert written(table.calls[1])["seen"] == 1


def test_only_the_slots_within_the_senders_time_are_booked_ahead():
    table = ScriptedTable(WRITTEN, WRITTEN)
    limiter = shared(table)
    limiter.book_ahead(10, 2.5 * INTERVAL)  # room for the slots at 0, 1 and 2 intervals
    assert written(table.calls[0])["next_slots"] == {KEY: at(NOW + 3 * INTERVAL)}


def test_a_slot_booked_ahead_that_passed_unused_is_dropped_not_sent_late():
    table = ScriptedTable(WRITTEN, WRITTEN)
    clock = Clock()
    limiter = shared(table, clock=clock)
    limiter.book_ahead(3, WITHIN)
    clock.now += 1.5 * INTERVAL  # the first two passed while nothing was sent
    assert limiter.reserve(WITHIN).wait == pytest.approx(0.5 * INTERVAL)  # the third
    assert limiter.reserve(WITHIN).wait == pytest.approx(1.5 * INTERVAL)  # then a new booking after it
    assert len(table.calls) == 2


def test_a_pause_voids_the_slots_booked_ahead():
    table = ScriptedTable(WRITTEN, WRITTEN, WRITTEN)
    clock = Clock()
    limiter = shared(table, clock=clock)
    limiter.book_ahead(3, WITHIN)
    limiter.pause_until(NOW + 10)
    assert limiter.reserve(WITHIN).wait == pytest.approx(10.0)  # booked anew, after the pause


def test_one_request_is_not_booked_ahead():
    table = ScriptedTable()
    shared(table).book_ahead(1, WITHIN)
    assert table.calls == []


def test_booking_ahead_on_an_unusable_table_falls_back_to_the_local_limiter(warnings):
    clock = Clock()
    table = ScriptedTable(failed("ResourceNotFoundException"))
    fallback = LocalLimiter([PRIME_BUDGET], clock=clock.time, wall_clock=clock.time)
    limiter = shared(table, clock=clock, fallback=fallback)
    limiter.book_ahead(3, WITHIN)
    assert free(limiter) == 0.0 and free(limiter) == pytest.approx(INTERVAL)  # the local limiter's slots
    assert len(table.calls) == 1  # the table not tried again
    [warning] = warnings()
    assert warning["error"] == "ResourceNotFoundException"
