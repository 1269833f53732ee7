"""ConstructionOnline change-order updates over real HTTP to the sandbox and a real moto server."""

from __future__ import annotations

import json
import time

import pytest

from devkit.aws import put_secret
from devkit.local_secrets import LOCAL_BEARER_TOKEN, SANDBOX_CONSTRUCTIONONLINE_ACCOUNT, secret_prefix
from tests.integration.conftest import api_event, attributes_of, reply, vendor_requests

pytestmark = pytest.mark.integration

BEARER = {"Authorization": f"Bearer {LOCAL_BEARER_TOKEN}"}
SEEDED = 1234567


@pytest.fixture
def co(deploy):
    return deploy("ConstructionOnlineChangeOrderUpdateFunction")


def update_event(change_order_id, co_info=None, body=None):
    path = f"/constructiononline/api/ChangeOrders/{change_order_id}"
    query = {"coInfo": json.dumps(co_info)} if co_info is not None else None
    return api_event("PUT", path, body, BEARER, query)


def change_order(control, change_order_id):
    records = control.get("/_sandbox/constructiononline/change-orders").json()["change_orders"]
    return next(r for r in records if r["ID"] == change_order_id)


def updates(control):
    return vendor_requests(control, "constructiononline", "constructiononline.update")


def test_an_update_changes_only_the_given_properties(co, control):
    before = change_order(control, SEEDED)
    status, record = reply(co.invoke(update_event(SEEDED, {"COST_MONEY": "340.990", "CONDITION": "approved"})))
    assert status == 200 and record["ID"] == SEEDED
    after = change_order(control, SEEDED)
    changed = {k for k in after if after[k] != before.get(k)} - {"DATE_MODIFIED"}
    assert changed == {"COST_MONEY", "CONDITION"}
    assert after["COST_MONEY"] == "340.990" and str(after["CONDITION"]) == "1"


def test_coinfo_as_a_json_body_works_too(co, control):
    status, _ = reply(co.invoke(update_event(SEEDED, body=json.dumps({"NOTES": "from the body"}))))
    assert status == 200 and change_order(control, SEEDED)["NOTES"] == "from the body"


def test_special_characters_survive_the_query_string(co, control):
    tricky = 'He said "yes" & then # left + 100% of it; Façade — 漢字 😀\nline two'
    status, _ = reply(co.invoke(update_event(SEEDED, {"DETAILS": tricky, "NOTES": "a+b=c?d&e"})))
    assert status == 200
    stored = change_order(control, SEEDED)
    assert stored["DETAILS"] == tricky and stored["NOTES"] == "a+b=c?d&e"


def test_an_unknown_property_is_refused_before_any_call(co, control):
    status, answer = reply(co.invoke(update_event(SEEDED, {"COLOR": "red", "NOTES": "x"})))
    assert status == 400
    assert answer["error"]["problems"] == [
        {"field": "query.coInfo.COLOR", "message": "unknown field: not part of the vendor's schema"}
    ]
    assert updates(control) == []


def test_sqs_404_goes_to_the_dlq_with_the_vendors_message(co, control):
    [missing] = co.send({"id": 99999, "coInfo": {"NOTES": "nobody home"}})
    co.send({"id": SEEDED, "coInfo": {"NOTES": "fine"}})
    _, failed = co.deliver()
    assert failed == []
    [dead] = co.dead_letters()
    attributes = attributes_of(dead)
    assert attributes["error_class"] == "vendor_rejected" and attributes["vendor_status"] == "404"
    assert attributes["source_message_id"] == missing and "99999" in attributes["error_message"]
    assert change_order(control, SEEDED)["NOTES"] == "fine"


def test_sqs_429_waits_for_the_window_and_is_not_dead_lettered(co, control):
    control.post("/_sandbox/config", json={"constructiononline": {"hourly_limit": 1, "hourly_window_seconds": 4}})
    co.send({"id": SEEDED, "coInfo": {"NOTES": "first"}})
    co.deliver()
    co.new_container()
    [waiting] = co.send({"id": SEEDED, "coInfo": {"NOTES": "second"}})
    # An invocation with less time left than the window (as with the real hourly window): it cannot wait inside.
    _, failed = co.deliver(timeout=4)
    assert failed == [waiting]
    assert co.visible() == [] and co.dead_letters() == []  # invisible until the window ends, not before
    time.sleep(1.5)
    assert co.visible() == []  # still inside the window
    deadline = time.monotonic() + 10
    while not co.visible() and time.monotonic() < deadline:
        time.sleep(0.25)
    event, failed = co.deliver()
    assert [r["messageId"] for r in event["Records"]] == [waiting] and failed == []
    assert change_order(control, SEEDED)["NOTES"] == "second"
    assert co.dead_letters() == []


def test_api_429_answers_with_the_vendors_wait_as_retry_after(co, control):
    control.post("/_sandbox/config", json={"constructiononline": {"hourly_limit": 1}})
    assert reply(co.invoke(update_event(SEEDED, {"NOTES": "first"})))[0] == 200
    response = co.invoke(update_event(SEEDED, {"NOTES": "second"}))
    status, answer = reply(response)
    assert status == 429 and answer["error"]["failure"] == "rate_limited"
    assert "500 requests per hour" not in answer["error"]["message"]  # the configured limit is named
    assert "1 requests per hour" in answer["error"]["message"]
    assert 3500 < int(response["multiValueHeaders"]["Retry-After"][0]) <= 3601


def test_a_429_that_states_no_wait_waits_out_the_window_it_names_after_the_wordings_that_do(co, control):
    # The sandbox rotates four wordings: three state a wait (one second here), the fourth only names its window.
    control.post("/_sandbox/config", json={"constructiononline": {"limit_wordings": "any"}})
    control.post(
        "/_sandbox/faults", json={"route": "constructiononline.update", "kind": "status", "status": 429, "count": 4}
    )
    response = co.invoke(update_event(SEEDED, {"NOTES": "worded"}))
    status, answer = reply(response)
    # Each one-second wait was read and waited out inside the request, until the wording that states none:
    # "Your hourly quota of 500 requests is used up." The caller is told to come back in the hour it names.
    assert status == 429 and answer["error"]["failure"] == "rate_limited"
    assert "quota of 500 requests is used up" in answer["error"]["message"]
    assert 3500 < int(response["multiValueHeaders"]["Retry-After"][0]) <= 3600
    assert 1 <= len(updates(control)) <= 4 and {call["status"] for call in updates(control)} == {429}


def test_a_429_one_container_saw_holds_every_container_of_the_connection(co, control):
    control.post("/_sandbox/config", json={"constructiononline": {"hourly_limit": 1}})
    assert reply(co.invoke(update_event(SEEDED, {"NOTES": "first"})))[0] == 200
    assert reply(co.invoke(update_event(SEEDED, {"NOTES": "second"})))[0] == 429
    co.new_container()  # another warm container: no pause of its own, only the rate limit table's
    response = co.invoke(update_event(SEEDED, {"NOTES": "third"}))
    status, answer = reply(response)
    assert status == 429 and answer["error"]["failure"] == "rate_limited"
    assert 3500 < int(response["multiValueHeaders"]["Retry-After"][0]) <= 3601
    assert [json.loads(call["query"]["coInfo"])["NOTES"] for call in updates(control)] == ["first", "second"]


def test_the_connection_budget_holds_updates_back_before_the_vendor_would_refuse(co, control, stack, sandbox):
    # Two requests per two hours: slots an hour apart, so the second update waits an hour for its slot.
    budgeted = {**SANDBOX_CONSTRUCTIONONLINE_ACCOUNT, "base_url": sandbox.url}
    budgeted |= {"rate_limits": {"hour": {"requests": 2, "seconds": 7200}}}
    put_secret(stack.endpoint_url, f"{secret_prefix(stack)}/constructiononline/budgeted", budgeted)
    answers = []
    for n in range(2):
        event = api_event(
            "PUT",
            f"/constructiononline/api/ChangeOrders/{SEEDED}",
            None,
            BEARER,
            {"coInfo": json.dumps({"NOTES": f"budgeted {n}"}), "connection": "budgeted"},
        )
        answers.append(co.invoke(event))
    assert [reply(answer)[0] for answer in answers] == [200, 429]
    assert 3590 < int(answers[1]["multiValueHeaders"]["Retry-After"][0]) <= 3602
    assert [json.loads(call["query"]["coInfo"])["NOTES"] for call in updates(control)] == ["budgeted 0"]


# Four short windows, as the sandbox and the connection both count them: the pace of the longest binds a backlog.
SHORT_WINDOWS = {"hour": (3, 1), "day": (5, 3), "week": (7, 6), "month": (9, 12)}
SANDBOX_PERIODS = {"hour": "hourly", "day": "daily", "week": "weekly", "month": "monthly"}


def short_windows(control, stack, sandbox, function_windows):
    """The sandbox counting SHORT_WINDOWS; a connection ``windows`` whose secret has ``function_windows``."""
    config: dict[str, int] = {}
    for window, (requests, seconds) in SHORT_WINDOWS.items():
        config |= {f"{SANDBOX_PERIODS[window]}_limit": requests, f"{SANDBOX_PERIODS[window]}_window_seconds": seconds}
    control.post("/_sandbox/config", json={"constructiononline": config}).raise_for_status()
    secret = {**SANDBOX_CONSTRUCTIONONLINE_ACCOUNT, "base_url": sandbox.url, "rate_limits": function_windows}
    put_secret(stack.endpoint_url, f"{secret_prefix(stack)}/constructiononline/windows", secret)


def update_on_windows(co, n):
    query = {"coInfo": json.dumps({"NOTES": f"paced {n}"}), "connection": "windows"}
    return reply(co.invoke(api_event("PUT", f"/constructiononline/api/ChangeOrders/{SEEDED}", None, BEARER, query)))


def test_a_backlog_is_paced_under_all_four_windows_without_a_refusal(co, control, stack, sandbox):
    windows = {name: {"requests": requests, "seconds": seconds} for name, (requests, seconds) in SHORT_WINDOWS.items()}
    short_windows(control, stack, sandbox, windows)
    # Ten updates back to back: more than the day, week or month window holds; each waits for its slot.
    statuses = [update_on_windows(co, n)[0] for n in range(10)]
    assert statuses == [200] * 10
    sent = updates(control)
    assert [call["status"] for call in sent] == [200] * 10  # the sandbox refused none
    # A span of the month window (12 s) holds at most its 9 requests: the tenth went more than 12 s after the first.
    assert sent[9]["received_at"] - sent[0]["received_at"] > 12


def test_the_hour_window_alone_collects_the_longer_windows_refusals(co, control, stack, sandbox):
    # The control for the test above: the same sandbox, a connection that books only the hour, as before this change.
    short_windows(
        control, stack, sandbox, {"hour": {"requests": 3, "seconds": 1}, "day": None, "week": None, "month": None}
    )
    assert [update_on_windows(co, n)[0] for n in range(6)] == [200] * 6  # the function waited out the refusal
    assert 429 in [call["status"] for call in updates(control)]  # the day window's sixth request, refused first


def test_a_spent_longer_window_waits_invisible_on_the_queue(co, control, stack, sandbox):
    # A "day" of ten minutes holding two updates, both at once after a quiet spell.
    control.post("/_sandbox/config", json={"constructiononline": {"daily_limit": 2, "daily_window_seconds": 600}})
    windows = {"day": {"requests": 2, "seconds": 600, "burst": 2}}
    short_windows_secret = {**SANDBOX_CONSTRUCTIONONLINE_ACCOUNT, "base_url": sandbox.url, "rate_limits": windows}
    put_secret(stack.endpoint_url, f"{secret_prefix(stack)}/constructiononline/default", short_windows_secret)
    co.new_container()
    # Three change orders (the sandbox's seeded ones): edits of one would supersede each other.
    sent = co.send(*({"id": SEEDED + n, "coInfo": {"NOTES": "queued"}} for n in range(3)))
    _, failed = co.deliver(timeout=10)
    assert len(failed) == 1 and set(failed) <= set(sent)
    assert [call["status"] for call in updates(control)] == [200] * 2  # one held back, none refused
    assert co.visible() == [] and co.dead_letters() == []  # invisible until the day's next slot, not dead-lettered


def test_records_of_one_batch_are_sent_concurrently(co, control):
    control.post(
        "/_sandbox/faults",
        json={"route": "constructiononline.update", "kind": "latency", "count": 4, "delay_ms": 500},
    )
    ids = [1234567, 1234568, 1234569, 1234567]
    co.send(*({"id": i, "coInfo": {"NOTES": f"n{n}"}} for n, i in enumerate(ids)))
    _, failed = co.deliver()
    assert failed == []
    calls = updates(control)
    # The later edit of 1234567 sets NOTES too: the earlier one is superseded, not sent (connectors.order).
    assert len(calls) == 3
    # Requests in flight together, from the sandbox's own clock: the three change orders at once.
    most_at_once = max(
        sum(1 for other in calls if other["received_at"] <= call["received_at"] < other["answered_at"])
        for call in calls
    )
    assert most_at_once == 3
    assert change_order(control, 1234567)["NOTES"] == "n3"
