"""ConstructionOnline: the coInfo model, its encoding into the URL, and ordered concurrent updates."""

import json
import re
import threading
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import ValidationError

from connectors.deadline import Deadline
from connectors.failures import FailureClass, vendor_rejected
from connectors.models.constructiononline import ChangeOrderUpdateCommand, CoInfo, ConstructionOnlineConnection
from connectors.models.errors import invalid_input_from
from connectors.models.exact_json import loads_exact
from constructiononline_change_order_update.client import MAX_QUERY_LENGTH, update_url, wait_from_message
from constructiononline_change_order_update.operation import update_change_orders


def problems(co_info):
    with pytest.raises(ValidationError) as caught:
        CoInfo.model_validate(co_info)
    return {p.field: p.message for p in invalid_input_from(caught.value, "coInfo").problems}


def test_money_and_quantities_keep_their_exact_decimal_text():
    info = CoInfo.model_validate(loads_exact('{"COST_MONEY": 340.990, "QTY": "12.5000", "PRICE": 12345678901234.5678}'))
    assert info.wire() == {"COST_MONEY": "340.990", "QTY": "12.5000", "PRICE": "12345678901234.5678"}


@pytest.mark.parametrize(("given", "sent"), [("approved", "1"), ("Draft", "3"), (0, "0"), ("2", "2")])
def test_condition_takes_numbers_and_names(given, sent):
    assert CoInfo.model_validate({"CONDITION": given}).wire() == {"CONDITION": sent}


def test_unknown_properties_and_bad_values_are_refused_by_name():
    found = problems({"COLOR": "red", "CONDITION": 7, "DATE_CLOSED": "11/30/2026", "COST_MONEY": "a lot"})
    assert set(found) == {"COLOR", "CONDITION", "DATE_CLOSED", "COST_MONEY"}
    assert "unknown field" in found["COLOR"]


@pytest.mark.parametrize("change_order_id", [1, 2**31 - 1])
def test_a_change_order_id_within_the_vendor_s_32_bits_is_taken(change_order_id):
    command = ChangeOrderUpdateCommand.model_validate({"id": change_order_id, "coInfo": {"NOTES": "x"}})
    assert command.id == change_order_id


@pytest.mark.parametrize("change_order_id", [0, -1, 2**31, 2**63 - 1, 1.5])
def test_a_change_order_id_outside_the_vendor_s_32_bits_is_invalid_input_naming_the_field(change_order_id):
    with pytest.raises(ValidationError) as raised:
        ChangeOrderUpdateCommand.model_validate({"id": change_order_id, "coInfo": {"NOTES": "x"}})
    [problem] = invalid_input_from(raised.value, "message body").problems
    assert problem.field == "id"


def test_an_empty_coinfo_is_refused():
    assert "at least one property" in next(iter(problems({}).values()))


def test_the_query_string_carries_any_character_exactly():
    tricky = 'Quote " & amp # hash + plus % pct space\nnewline Façade — 漢字 😀 /slash ?q=1'
    url = update_url("https://api.constructiononline.com", 42, CoInfo(DETAILS=tricky))
    query = urlsplit(url).query
    assert " " not in query and "#" not in query and "+" not in query
    assert json.loads(parse_qs(query, strict_parsing=True)["coInfo"][0]) == {"DETAILS": tricky}


def test_an_update_too_long_for_a_url_is_refused_before_sending():
    with pytest.raises(Exception, match=f"at most {MAX_QUERY_LENGTH}"):
        update_url("https://api.constructiononline.com", 42, CoInfo(NOTES="é" * 600))


def test_the_wait_is_read_from_the_429_message():
    answer = httpx.Response(
        429, json={"Message": "API rate limit exceeded: 500 requests per hour. Try again in 1234 seconds."}
    )
    assert wait_from_message(answer) == 1234.0


@pytest.mark.parametrize(
    ("message", "wait"),
    [
        ("API rate limit exceeded: 500 requests per hour. Try again in 1234 seconds.", 1234),
        ("Rate limit of 10000 calls per day reached. Please retry after 3 minutes.", 180),
        ("Too many requests (50000/week). Quota resets in 1 hour 20 minutes.", 4800),
        ("Quota exceeded; resets in 02:00:05", 7205),
        ("You have used your monthly allowance of 200000 requests.", 31 * 86400),
        ("Limit: 10000 requests per day.", 86400),
        ("Slow down!", 3600),
        ("", 3600),
    ],
    ids=["seconds", "minutes", "sum", "clock", "monthly", "per-day", "unknown", "empty"],
)
def test_a_429_s_wait_is_read_from_any_wording_else_the_window_it_names_else_an_hour(message, wait):
    assert wait_from_message(httpx.Response(429, json={"Message": message})) == wait


class FakeConstructionOnline:
    def __init__(self, missing=()):
        self.missing = set(missing)
        self.applied: list[tuple[int, str]] = []
        self.active = 0
        self.peak = 0
        self.booked_ahead: list[int] = []
        self.lock = threading.Lock()

    def book_ahead(self, updates, deadline):
        self.booked_ahead.append(updates)

    def update(self, change_order_id, co_info, deadline):
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(0.05)
        with self.lock:
            self.active -= 1
            self.applied.append((change_order_id, co_info.NOTES))
        if change_order_id in self.missing:
            raise vendor_rejected("constructiononline answered 404: No change order with ID", 404)
        return {"ID": change_order_id, "NOTES": co_info.NOTES}


def command(change_order_id, notes):
    return ChangeOrderUpdateCommand(id=change_order_id, coInfo=CoInfo(NOTES=notes))


def test_updates_go_out_concurrently_within_the_bound():
    fake = FakeConstructionOnline()
    commands = [command(i, f"n{i}") for i in range(1, 9)]
    results = update_change_orders(commands, lambda _: fake, Deadline.in_seconds(30), concurrency=4)
    assert fake.peak == 4
    assert [r.record["ID"] for r in results if r.record] == list(range(1, 9))
    assert fake.booked_ahead == [8]  # the slots of all eight booked at once


def test_updates_to_one_change_order_keep_their_order_and_404_is_a_rejection():
    fake = FakeConstructionOnline(missing={9})
    commands = [command(5, "first"), command(9, "ghost"), command(5, "second"), command(5, "third")]
    results = update_change_orders(commands, lambda _: fake, Deadline.in_seconds(30), concurrency=4)
    assert [notes for co, notes in fake.applied if co == 5] == ["first", "second", "third"]
    failure = results[1].failure()
    assert failure is not None and failure.failure is FailureClass.VENDOR_REJECTED


SECRET = {"email": "e@example.com", "password": "p", "api_key": "k"}


def test_the_connection_books_the_vendors_four_windows_unless_the_secret_says_otherwise():
    windows = ConstructionOnlineConnection.model_validate(SECRET).rate_limits.windows()
    assert [(window.requests, window.seconds, window.burst_or_default) for window in windows] == [
        (500, 3600, 50),
        (10_000, 86_400, 1_000),
        (50_000, 604_800, 5_000),
        (200_000, 31 * 86_400, 20_000),
    ]


@pytest.mark.parametrize(
    ("hour", "burst"),
    [
        ({"requests": 30, "seconds": 1}, 3),
        ({"requests": 5, "seconds": 3600}, 1),
        ({"requests": 500, "seconds": 3600, "burst": 1}, 1),
    ],
)
def test_a_windows_burst_is_a_tenth_of_it_unless_the_secret_names_one(hour, burst):
    connection = ConstructionOnlineConnection.model_validate(SECRET | {"rate_limits": {"hour": hour}})
    assert connection.rate_limits.windows()[0].burst_or_default == burst
    assert len(connection.rate_limits.windows()) == 4  # the windows not named keep the vendor's limits


def test_a_window_set_to_null_is_not_booked():
    limits = {"day": None, "week": None, "month": None}
    windows = ConstructionOnlineConnection.model_validate(SECRET | {"rate_limits": limits}).rate_limits.windows()
    assert [window.seconds for window in windows] == [3600]


@pytest.mark.parametrize(
    ("limits", "field", "reason"),
    [
        (
            {"hour": {"requests": 500, "seconds": 3600, "burst": 600}},
            "rate_limits.hour",
            r"burst \(600\) cannot exceed requests \(500\)",
        ),
        ({"day": {"requests": 10, "seconds": 3600}}, "rate_limits", "each window needs its own length"),
        ({"hour": {"requests": 0, "seconds": 3600}}, "rate_limits.hour.requests", "greater than or equal to 1"),
        ({"fortnight": {"requests": 1, "seconds": 1}}, "rate_limits.fortnight", "Extra inputs are not permitted"),
    ],
)
def test_a_window_that_cannot_be_booked_is_refused_naming_the_field(limits, field, reason):
    with pytest.raises(ValidationError) as raised:
        ConstructionOnlineConnection.model_validate(SECRET | {"rate_limits": limits})
    [error] = raised.value.errors()
    assert ".".join(str(part) for part in error["loc"]) == field
    assert re.search(reason, error["msg"])


def test_a_secret_with_the_former_single_window_keys_is_refused_saying_where_they_went():
    with pytest.raises(ValidationError, match=r"requests_per_window, window_seconds moved into rate_limits.hour"):
        ConstructionOnlineConnection.model_validate(SECRET | {"requests_per_window": 500, "window_seconds": 3600})
