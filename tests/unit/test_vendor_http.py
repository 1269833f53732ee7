"""Retry rules of the shared HTTP plumbing, with httpx's MockTransport as the vendor and a clock that sleeping moves."""

import httpx
import pytest

from connectors.deadline import Deadline
from connectors.failures import ConnectorError, FailureClass
from connectors.http import FRESH_PAUSE_AFTER_SECONDS, RetryPolicy, VendorHttp, vendor_message
from connectors.limiter import LocalLimiter, Slot
from connectors.observability import metrics

NOW = 1_700_000_000.0


class Clock:
    """Wall and monotonic time in one: it moves only when the code under test sleeps, and records each sleep."""

    def __init__(self):
        self.now = NOW
        self.sleeps = []

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


class ScriptedLimiter:
    """Hands out the given slots (then free ones) and pauses held (then none); records bookings and pauses told."""

    def __init__(self, *slots, held=()):
        self.slots = list(slots)
        self.helds = list(held)
        self.everywheres = []
        self.withins = []
        self.pauses = []
        self.booked_ahead = []

    def reserve(self, within):
        self.withins.append(within)
        return self.slots.pop(0) if self.slots else Slot(0.0)

    def book_ahead(self, requests, within):
        self.booked_ahead.append((requests, within))

    def pause_until(self, until):
        self.pauses.append(until)

    def held(self, *, everywhere):
        self.everywheres.append(everywhere)
        return self.helds.pop(0) if self.helds else 0.0


def vendor(*answers):
    """A transport that gives ``answers`` in turn (a response, or an exception to raise)."""
    queue = list(answers)
    seen = []

    def handle(request):
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.Client(transport=httpx.MockTransport(handle)), seen


def make(client, clock, limiter=None):
    limiter = limiter or LocalLimiter(clock=clock.time, wall_clock=clock.time)
    return VendorHttp(
        client, "procore", RetryPolicy(), limiter=limiter, sleep=clock.sleep, wall_clock=clock.time, jitter=lambda: 1.0
    )


def send(http, clock, seconds=30.0, idempotent=True):
    return http.send(
        httpx.Request("PATCH", "https://vendor.test/x"), Deadline.in_seconds(seconds, clock.time), idempotent=idempotent
    )


def test_429_waits_for_retry_after_when_given():
    client, seen = vendor(httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200))
    clock = Clock()
    assert send(make(client, clock), clock).status_code == 200
    assert clock.sleeps == [3.0] and len(seen) == 2


def test_429_without_retry_after_waits_until_the_rate_limit_reset():
    reset = str(int(NOW + 7))
    client, _ = vendor(httpx.Response(429, headers={"X-Rate-Limit-Reset": reset}), httpx.Response(200))
    clock = Clock()
    send(make(client, clock), clock)
    assert clock.sleeps == [7.0]


def test_a_wait_longer_than_the_time_left_is_handed_back_as_rate_limited():
    client, seen = vendor(httpx.Response(429, headers={"Retry-After": "3600"}, text="You have surpassed"))
    clock = Clock()
    with pytest.raises(ConnectorError) as caught:
        send(make(client, clock), clock)
    assert caught.value.failure is FailureClass.RATE_LIMITED and caught.value.retry_after == 3600
    assert len(seen) == 1


def test_503_with_retry_after_then_success():
    client, _ = vendor(httpx.Response(503, headers={"Retry-After": "2"}), httpx.Response(200))
    clock = Clock()
    assert send(make(client, clock), clock).status_code == 200
    assert clock.sleeps == [2.0]


def test_5xx_backs_off_exponentially_then_gives_up_as_transient():
    client, seen = vendor(*[httpx.Response(500, json={"errors": "boom"})] * 4)
    clock = Clock()
    with pytest.raises(ConnectorError) as caught:
        send(make(client, clock), clock)
    assert caught.value.failure is FailureClass.TRANSIENT and "boom" in caught.value.message
    assert clock.sleeps == [0.5, 1.0, 2.0] and len(seen) == 4


def test_a_read_timeout_on_a_create_is_an_unknown_outcome_and_not_resent():
    client, seen = vendor(httpx.ReadTimeout("slow"))
    clock = Clock()
    with pytest.raises(ConnectorError) as caught:
        send(make(client, clock), clock, idempotent=False)
    assert caught.value.failure is FailureClass.UNKNOWN_OUTCOME and len(seen) == 1


def test_a_read_timeout_on_an_upsert_is_retried():
    client, seen = vendor(httpx.ReadTimeout("slow"), httpx.Response(200))
    clock = Clock()
    assert send(make(client, clock), clock).status_code == 200 and len(seen) == 2


def test_no_attempt_starts_without_time_for_it():
    client, seen = vendor(httpx.Response(200))
    clock = Clock()
    with pytest.raises(ConnectorError) as caught:
        send(make(client, clock), clock, seconds=0.5)
    assert caught.value.api_status == 504 and seen == []


def test_remaining_zero_pauses_the_next_call_until_reset():
    reset = str(int(NOW + 5))
    headers = {"X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": reset}
    client, seen = vendor(httpx.Response(200, headers=headers), httpx.Response(200))
    clock = Clock()
    http = make(client, clock)
    send(http, clock)
    send(http, clock)
    assert clock.sleeps == [5.0] and len(seen) == 2


def test_the_pauses_the_vendor_asks_for_are_told_to_the_limiter():
    headers = {"X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": str(int(NOW + 5))}
    client, _ = vendor(httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200, headers=headers))
    clock, limiter = Clock(), ScriptedLimiter()
    send(make(client, clock, limiter), clock)
    # The 429 at NOW, then Remaining 0 after the 3 s it asked for: reset at NOW + 5.
    assert limiter.pauses == [NOW + 3, NOW + 5]


def test_a_response_with_room_left_tells_the_limiter_nothing():
    headers = {"X-Rate-Limit-Remaining": "12", "X-Rate-Limit-Reset": str(int(NOW + 5))}
    client, _ = vendor(httpx.Response(200, headers=headers), httpx.Response(503, headers={"Retry-After": "2"}))
    clock, limiter = Clock(), ScriptedLimiter()
    send(make(client, clock, limiter), clock)
    assert limiter.pauses == []


def test_a_booked_slot_is_slept_until_then_the_request_goes_without_asking_again():
    client, seen = vendor(httpx.Response(200))
    clock, limiter = Clock(), ScriptedLimiter(Slot(0.25))
    send(make(client, clock, limiter), clock)
    assert clock.sleeps == [0.25] and len(seen) == 1 and len(limiter.withins) == 1


def test_a_pause_that_began_during_the_sleep_is_waited_out_and_a_new_slot_booked():
    client, seen = vendor(httpx.Response(200))
    clock, limiter = Clock(), ScriptedLimiter(Slot(0.25), Slot(0.5), held=[3.0])
    send(make(client, clock, limiter), clock)
    assert clock.sleeps == [0.25, 3.0, 0.5] and len(limiter.withins) == 2 and len(seen) == 1


@pytest.mark.parametrize(("wait", "everywhere"), [(0.25, False), (FRESH_PAUSE_AFTER_SECONDS, True), (7.2, True)])
def test_after_a_long_sleep_every_containers_pauses_count_after_a_short_one_this_ones(wait, everywhere):
    client, _ = vendor(httpx.Response(200))
    clock, limiter = Clock(), ScriptedLimiter(Slot(wait))
    send(make(client, clock, limiter), clock)
    assert limiter.everywheres == [everywhere]


def test_a_pause_past_the_deadline_after_the_sleep_is_rate_limited_without_calling_the_vendor():
    client, seen = vendor(httpx.Response(200))
    clock, limiter = Clock(), ScriptedLimiter(Slot(0.25), held=[600.0])
    with pytest.raises(ConnectorError) as caught:
        send(make(client, clock, limiter), clock)
    assert caught.value.failure is FailureClass.RATE_LIMITED and caught.value.retry_after == 600.0
    assert seen == []


def test_a_slot_is_booked_only_within_the_time_left_for_an_attempt():
    client, _ = vendor(httpx.Response(200))
    clock, limiter = Clock(), ScriptedLimiter()
    send(make(client, clock, limiter), clock, seconds=20.0)
    assert limiter.withins == [pytest.approx(20.0 - RetryPolicy().minimum_attempt_time)]


def test_slots_booked_ahead_are_those_the_time_left_for_an_attempt_allows():
    client, _ = vendor()
    clock, limiter = Clock(), ScriptedLimiter()
    make(client, clock, limiter).book_ahead(6, Deadline.in_seconds(20.0, clock.time))
    assert limiter.booked_ahead == [(6, pytest.approx(20.0 - RetryPolicy().minimum_attempt_time))]


def test_no_slot_before_the_deadline_is_rate_limited_without_calling_the_vendor():
    client, seen = vendor(httpx.Response(200))
    clock, limiter = Clock(), ScriptedLimiter(Slot(120.0, booked=False))
    with pytest.raises(ConnectorError) as caught:
        send(make(client, clock, limiter), clock)
    assert caught.value.failure is FailureClass.RATE_LIMITED and caught.value.retry_after == 120.0
    assert seen == [] and clock.sleeps == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"errors": "The access token is invalid"}, "The access token is invalid"),
        ({"errors": {"origin_id": ["has already been taken"]}}, "origin_id: has already been taken"),
        ({"message": "Forbidden", "error": "x"}, "Forbidden"),
        ({"error": {"code": "E1", "message": "Bad thing", "details": []}}, "Bad thing"),
        ({"Message": "No HTTP resource", "MessageDetail": "id 5"}, "No HTTP resource (id 5)"),
    ],
)
def test_vendor_messages_are_found_in_every_documented_shape(body, expected):
    assert vendor_message(httpx.Response(400, json=body)) == expected


def test_plain_text_vendor_messages():
    assert vendor_message(httpx.Response(429, text="429- Too Many Requests")) == "429- Too Many Requests"


def test_each_call_and_each_rate_limit_wait_is_measured_for_the_dashboard():
    metrics.clear_metrics()
    client, _ = vendor(
        httpx.Response(429, headers={"Retry-After": "3"}), httpx.ConnectError("refused"), httpx.Response(200)
    )
    clock = Clock()
    send(make(client, clock, ScriptedLimiter(Slot(2.0))), clock)
    measured = metrics.metric_set
    assert len(measured["VendorCallLatency"]["Value"]) == 3  # answered or not, every call
    assert measured["VendorCallLatency"]["Unit"] == "Milliseconds"
    assert measured["RateLimitWaitSeconds"]["Value"] == [2.0, 3.0]  # the slot, then the 429's wait; not the backoff
    metrics.clear_metrics()
