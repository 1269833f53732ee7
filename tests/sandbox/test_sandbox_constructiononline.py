"""ConstructionOnline: Basic + APIKey auth, PUT/GET /api/ChangeOrders/{id}, coInfo decoding, rate limits, control."""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from constructiononline_change_order_update.client import wait_from_message
from devkit.sandbox import RunningSandbox

EMAIL = "sandbox@example.com"
PASSWORD = "sandbox-password"
API_KEY = "sandbox-api-key"
SEEDED = 1234567
DENIED = {"Message": "Authorization has been denied for this request."}
UPDATABLE = {
    "NUMBER", "DETAILS", "CONDITION", "COST_MONEY", "DATE_CLOSED", "NOTES", "REASONING", "PRICE", "QTY",
    "UNIT_NAME", "SUBTITLE", "IMAGE_ID", "URL", "SUBSTANTIAL_COMMENCEMENT", "MULTIPLIER", "MARKUP", "MARKUP_TYPE",
    "DATE_SUBMITTED", "GCCO", "QBO_INVOICE_ID", "ACCT_INVOICE_ID", "SUBCATIDS", "CONIDS", "USERIDS", "QB_ACTUALS",
    "QB_COMMITTED", "QB_INVOICED",
}  # fmt: skip
ID_DETAIL = "The parameters dictionary contains a null entry for parameter 'id' of non-nullable type 'System.Int32'."
JsonObject = dict[str, Any]


def co_info_query(co_info: object) -> str:
    """The query string a correct client sends: the JSON percent-encoded, every reserved character included."""
    return "coInfo=" + quote(json.dumps(co_info, ensure_ascii=False), safe="")


class ConstructionOnlineTestClient:
    """Thin helpers over httpx for the ConstructionOnline routes and their control endpoints."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    @staticmethod
    def headers(email: str = EMAIL, password: str = PASSWORD, api_key: str | None = API_KEY) -> dict[str, str]:
        headers = {"Authorization": "Basic " + base64.b64encode(f"{email}:{password}".encode()).decode()}
        if api_key is not None:
            headers["APIKey"] = api_key
        return headers

    def put(
        self,
        change_order_id: object,
        co_info: object = None,
        *,
        query: str | None = None,
        headers: dict[str, str] | None = None,
        **credentials: Any,
    ) -> httpx.Response:
        """PUT with ``co_info`` encoded as a correct client does, or with a raw ``query``."""
        if query is None:
            query = co_info_query(co_info) if co_info is not None else ""
        url = f"/api/ChangeOrders/{change_order_id}" + (f"?{query}" if query else "")
        return self.http.put(url, headers=headers if headers is not None else self.headers(**credentials))

    def get(self, change_order_id: object, **headers: Any) -> httpx.Response:
        return self.http.get(f"/api/ChangeOrders/{change_order_id}", headers=self.headers(**headers))

    def record(self, change_order_id: int = SEEDED) -> JsonObject:
        response = self.get(change_order_id)
        assert response.status_code == 200, response.text
        record: JsonObject = response.json()
        return record

    def stored(self, change_order_id: int = SEEDED) -> JsonObject:
        """The record as the control API shows it: no API call, so no rate counting."""
        return next(record for record in self.change_orders() if record["ID"] == change_order_id)

    def change_orders(self) -> list[JsonObject]:
        records: list[JsonObject] = self.http.get("/_sandbox/constructiononline/change-orders").json()["change_orders"]
        return records

    def add_account(self, email: str, password: str, api_key: str) -> None:
        response = self.http.post(
            "/_sandbox/constructiononline/accounts", json={"email": email, "password": password, "api_key": api_key}
        )
        assert response.status_code == 201, response.text

    def requests(self) -> list[JsonObject]:
        params = {"vendor": "constructiononline"}
        entries: list[JsonObject] = self.http.get("/_sandbox/requests", params=params).json()["requests"]
        return entries


@pytest.fixture
def co(http: httpx.Client) -> ConstructionOnlineTestClient:
    return ConstructionOnlineTestClient(http)


# --- auth ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"APIKey": API_KEY},
        ConstructionOnlineTestClient.headers(api_key=None),
        ConstructionOnlineTestClient.headers(password="wrong"),
        ConstructionOnlineTestClient.headers(api_key="wrong"),
        ConstructionOnlineTestClient.headers(email="nobody@example.com"),
        {"Authorization": f"Bearer {API_KEY}", "APIKey": API_KEY},
        {"Authorization": "Basic not-base64!", "APIKey": API_KEY},
        {"Authorization": "Basic c2FuZGJveEBleGFtcGxlLmNvbQ==", "APIKey": API_KEY},  # no colon, no password
    ],
    ids=[
        "nothing",
        "key-only",
        "no-apikey",
        "wrong-password",
        "wrong-key",
        "unknown-email",
        "bearer",
        "garbage",
        "no-colon",
    ],
)
def test_every_call_needs_basic_and_apikey(co, headers) -> None:
    put = co.put(SEEDED, {"NOTES": "x"}, headers=headers)
    get = co.http.get(f"/api/ChangeOrders/{SEEDED}", headers=headers)

    assert (put.status_code, put.json()) == (401, DENIED)
    assert (get.status_code, get.json()) == (401, DENIED)
    assert co.record()["NOTES"] != "x"


def test_auth_comes_before_id_and_existence_checks(co) -> None:
    assert co.put("abc", {"NOTES": "x"}, api_key="wrong").status_code == 401
    assert co.put(999, {"NOTES": "x"}, password="wrong").status_code == 401


def test_key_must_belong_to_the_account(co) -> None:
    co.add_account("second@example.com", "second-password", "second-key")

    assert (
        co.get(SEEDED, email="second@example.com", password="second-password", api_key="second-key").status_code == 200
    )
    assert co.get(SEEDED, api_key="second-key").status_code == 401  # built-in login, other account's key
    assert co.get(SEEDED, email="SANDBOX@Example.com").status_code == 200  # logins ignore case, secrets do not
    assert co.get(SEEDED, api_key=API_KEY.upper()).status_code == 401


@pytest.mark.parametrize("encoding", ["utf-8", "iso-8859-1"])
def test_non_ascii_credentials_in_utf8_or_the_c_sharp_samples_latin1(co, encoding) -> None:
    co.add_account("jürgen@example.com", "pässwörd", "k-u")
    pair = base64.b64encode("jürgen@example.com:pässwörd".encode(encoding)).decode()

    response = co.http.get(f"/api/ChangeOrders/{SEEDED}", headers={"Authorization": f"Basic {pair}", "APIKey": "k-u"})

    assert response.status_code == 200


def test_account_control_validates_and_replaces(co) -> None:
    url = "/_sandbox/constructiononline/accounts"
    for bad in (
        {"email": "a@b.c", "password": "p"},
        {"email": "", "password": "p", "api_key": "k"},
        {"email": "a:b", "password": "p", "api_key": "k"},
        {"email": 1, "password": "p", "api_key": "k"},
    ):
        response = co.http.post(url, json=bad)
        assert response.status_code == 400 and response.json()["error"]

    co.add_account(EMAIL, "new-password", "new-key")  # replaces the built-in account's secrets

    assert co.get(SEEDED).status_code == 401
    assert co.get(SEEDED, password="new-password", api_key="new-key").status_code == 200


def test_request_log_redacts_credentials(co) -> None:
    co.put(SEEDED, {"NOTES": "logged"})

    [entry] = co.requests()
    assert entry["route"] == "constructiononline.update" and entry["status"] == 200
    assert entry["headers"]["authorization"] == "Basic ***"
    assert entry["headers"]["apikey"] == "***"
    assert entry["query"] == {"coInfo": '{"NOTES": "logged"}'}
    assert PASSWORD not in json.dumps(entry) and API_KEY not in json.dumps(entry)


# --- PUT / GET ----------------------------------------------------------------------------------------------


def test_put_changes_only_the_given_properties(co) -> None:
    before = co.record()
    neighbour = co.stored(1234568)

    response = co.put(SEEDED, {"COST_MONEY": "340.990", "NOTES": "Revised per owner", "DATE_CLOSED": ""})

    assert response.status_code == 200
    edited = response.json()
    assert {key for key in edited if edited[key] != before[key]} == {
        "COST_MONEY",
        "NOTES",
        "DATE_CLOSED",
        "DATE_MODIFIED",
    }
    assert (edited["COST_MONEY"], edited["NOTES"], edited["DATE_CLOSED"]) == ("340.990", "Revised per owner", "")
    assert edited["DATE_MODIFIED"] > before["DATE_MODIFIED"]
    assert co.record() == edited
    assert co.stored(1234568) == neighbour  # other change orders untouched


def test_every_updatable_property_can_be_set(co) -> None:
    values: dict[str, object] = {name: f"v-{name}" for name in UPDATABLE}
    values["CONDITION"] = "2"

    edited = co.put(1234569, values).json()

    assert {name: edited[name] for name in UPDATABLE} == {**values, "CONDITION": 2}


def test_special_characters_survive_a_correctly_encoded_query(co) -> None:
    tricky = 'He said "yes" & then # left; 100% + 50% = a+b=c?d/e\\f\nline two\ttab  Façade — 漢字 😀 %2B %zz'
    response = co.put(SEEDED, {"DETAILS": tricky, "NOTES": "+"})

    assert response.status_code == 200, response.text
    assert (response.json()["DETAILS"], response.json()["NOTES"]) == (tricky, "+")
    assert co.record()["DETAILS"] == tricky


def test_httpx_params_encoding_round_trips(co) -> None:
    tricky = 'a+b & c=d #1 100% "q"'
    response = co.http.put(
        f"/api/ChangeOrders/{SEEDED}", params={"coInfo": json.dumps({"NOTES": tricky})}, headers=co.headers()
    )

    assert response.status_code == 200
    assert co.record()["NOTES"] == tricky


def test_query_is_decoded_once_with_form_rules(co) -> None:
    # Unencoded "+" is a space (as ASP.NET reads query strings); "%2B" is a plus; "%2525" decodes to "%25" only.
    query = "coInfo=" + quote('{"NOTES":"a', safe="") + "+b%2Bc%2525" + quote('"}', safe="")

    assert co.put(SEEDED, query=query).status_code == 200
    assert co.record()["NOTES"] == "a b+c%25"


def test_body_is_ignored(co) -> None:
    url = f"/api/ChangeOrders/{SEEDED}?{co_info_query({'NOTES': 'from query'})}"
    response = co.http.put(url, headers=co.headers(), json={"NOTES": "from body", "COLOR": "red"})
    body_only = co.http.put(f"/api/ChangeOrders/{SEEDED}", headers=co.headers(), json={"NOTES": "from body"})

    assert response.status_code == 200 and co.record()["NOTES"] == "from query"
    assert body_only.status_code == 400


@pytest.mark.parametrize("key", ["COLOR", "ID", "cost_money", "NAME", "DATE_MODIFIED"])
def test_a_property_outside_the_27_is_refused_by_name_and_nothing_changes(co, key) -> None:
    before = co.record()

    response = co.put(SEEDED, {"NOTES": "should not stick", key: "x"})

    assert response.status_code == 400
    assert response.json() == {
        "Message": "The request is invalid.",
        "MessageDetail": f"Property '{key}' cannot be updated.",
    }
    assert co.record() == before


@pytest.mark.parametrize(("sent", "stored"), [(0, 0), ("1", 1), (2, 2), ("3", 3)])
def test_condition_accepts_0_to_3_as_number_or_digit_string(co, sent, stored) -> None:
    response = co.put(SEEDED, {"CONDITION": sent})

    assert response.status_code == 200 and response.json()["CONDITION"] == stored


@pytest.mark.parametrize("sent", [4, -1, "4", "approved", " 1", "01", 1.0, True, None, [1]])
def test_condition_out_of_range_is_refused(co, sent) -> None:
    before = co.record()

    response = co.put(SEEDED, {"CONDITION": sent, "NOTES": "should not stick"})

    assert response.status_code == 400
    assert response.json()["Message"] == "The request is invalid."
    assert "CONDITION" in response.json()["MessageDetail"]
    assert co.record() == before


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("", "The coInfo parameter is required."),
        ("coinfo=%7B%7D", "The coInfo parameter is required."),  # the documented name, exactly
        ("coInfo=", "coInfo is not valid JSON."),
        ("coInfo=%7BNOTES%3Ax%7D", "coInfo is not valid JSON."),
        ("coInfo=" + quote('{"NOTES": NaN}'), "coInfo is not valid JSON."),
        ("coInfo=" + quote("[1]"), "coInfo must be a JSON object."),
        ("coInfo=" + quote('"NOTES"'), "coInfo must be a JSON object."),
        (co_info_query({"NOTES": 5}), "Property 'NOTES' must be a string."),
        (co_info_query({"COST_MONEY": None}), "Property 'COST_MONEY' must be a string."),
    ],
)
def test_malformed_co_info_is_400(co, query, detail) -> None:
    before = co.record()

    response = co.put(SEEDED, query=query)

    assert response.status_code == 400
    assert response.json() == {"Message": "The request is invalid.", "MessageDetail": detail}
    assert co.record() == before


def test_empty_co_info_changes_nothing_but_the_modification_date(co) -> None:
    before = co.record()

    edited = co.put(SEEDED, {}).json()

    assert {key: value for key, value in edited.items() if key != "DATE_MODIFIED"} == {
        key: value for key, value in before.items() if key != "DATE_MODIFIED"
    }


def test_unknown_id_is_404_with_the_full_uri(co, sandbox: RunningSandbox) -> None:
    query = co_info_query({"NOTES": "a & b"})

    put = co.put(999, query=query)
    get = co.get(998)

    uri = "No HTTP resource was found that matches the request URI"
    assert put.status_code == 404
    assert put.json() == {
        "Message": f"{uri} '{sandbox.url}/api/ChangeOrders/999?{query}'.",
        "MessageDetail": "No change order with ID 999 was found.",
    }
    assert get.status_code == 404
    assert get.json() == {
        "Message": f"{uri} '{sandbox.url}/api/ChangeOrders/998'.",
        "MessageDetail": "No change order with ID 998 was found.",
    }


def test_existence_is_checked_before_co_info(co) -> None:
    assert co.put(999, query="coInfo=broken").status_code == 404
    assert co.put(999, {"COLOR": "red"}).status_code == 404


@pytest.mark.parametrize("change_order_id", ["abc", "12.5", "1e3", "2147483648", "%2B7"])
def test_an_id_that_is_not_an_int32_is_400(co, change_order_id) -> None:
    for response in (co.put(change_order_id, {"NOTES": "x"}), co.get(change_order_id)):
        assert response.status_code == 400
        assert response.json() == {"Message": "The request is invalid.", "MessageDetail": ID_DETAIL}


def test_get_returns_the_seeded_record(co) -> None:
    record = co.record(1234568)

    assert record["ID"] == 1234568
    assert {"ID", *UPDATABLE, "NAME", "PRJ_ID", "DATE_CREATED", "DATE_MODIFIED"} <= set(record)
    assert record["CONDITION"] == 1 and record["COST_MONEY"] == "8420.50"
    assert co.get("%31234568").json() == record  # path segments are percent-decoded like route values


# --- control: seeding, listing, reset, config ------------------------------------------------------------------


def test_seeded_change_orders_are_listed(co) -> None:
    records = co.change_orders()

    assert [record["ID"] for record in records] == [1234567, 1234568, 1234569]
    assert all(isinstance(record["CONDITION"], int) for record in records)
    assert all(isinstance(record["COST_MONEY"], str) for record in records)


def test_control_adds_and_replaces_change_orders(co) -> None:
    url = "/_sandbox/constructiononline/change-orders"

    added = co.http.post(url, json={"ID": 42, "NUMBER": "CO-042", "CONDITION": 3})
    replaced = co.http.post(url, json={"ID": SEEDED, "NOTES": "replaced"})

    assert added.status_code == 201 and added.json()["NUMBER"] == "CO-042"
    assert co.record(42) == added.json()
    assert co.put(42, {"COST_MONEY": "1.00"}).json()["COST_MONEY"] == "1.00"
    assert replaced.json()["NOTES"] == "replaced" and replaced.json()["NUMBER"] is None  # whole record replaced
    assert [record["ID"] for record in co.change_orders()] == [42, 1234567, 1234568, 1234569]


@pytest.mark.parametrize("body", [{}, {"ID": "42"}, {"ID": True}, {"ID": 42, "COLOR": "red"}, [1]])
def test_control_refuses_bad_change_orders(co, body) -> None:
    response = co.http.post("/_sandbox/constructiononline/change-orders", json=body)

    assert response.status_code == 400 and response.json()["error"]
    assert len(co.change_orders()) == 3


def test_config_section_defaults_and_validation(co) -> None:
    defaults = {
        "hourly_limit": 500,
        "daily_limit": 10_000,
        "weekly_limit": 50_000,
        "monthly_limit": 200_000,
        "hourly_window_seconds": 3600,
        "daily_window_seconds": 86_400,
        "weekly_window_seconds": 604_800,
        "monthly_window_seconds": 2_592_000,
        "limit_wordings": "documented",
    }
    assert co.http.get("/_sandbox/config").json()["constructiononline"] == defaults

    for bad in ({"daily_window_seconds": 0}, {"weekly_limit": -1}, {"hourly_limit": "5"}, {"yearly_limit": 1}):
        response = co.http.post("/_sandbox/config", json={"constructiononline": bad})
        assert response.status_code == 400 and response.json()["error"]

    updated = co.http.post("/_sandbox/config", json={"constructiononline": {"monthly_limit": 7}}).json()
    assert updated["constructiononline"] == {**defaults, "monthly_limit": 7}


def test_reset_restores_seeds_accounts_config_and_counters(co) -> None:
    pristine = co.change_orders()
    co.add_account("extra@example.com", "p", "extra-key")
    co.http.post("/_sandbox/constructiononline/change-orders", json={"ID": 42})
    co.http.post("/_sandbox/config", json={"constructiononline": {"hourly_limit": 4}})
    co.put(SEEDED, {"NOTES": "edited"})
    co.get(SEEDED)
    co.get(SEEDED)

    co.http.post("/_sandbox/reset").raise_for_status()

    assert co.change_orders() == pristine
    assert co.get(SEEDED, email="extra@example.com", password="p", api_key="extra-key").status_code == 401
    assert co.http.get("/_sandbox/config").json()["constructiononline"]["hourly_limit"] == 500
    co.http.post("/_sandbox/config", json={"constructiononline": {"hourly_limit": 2}})
    assert [co.get(SEEDED).status_code for _ in range(3)] == [200, 200, 429]  # the counter started over


# --- faults and routing -------------------------------------------------------------------------------------


def add_fault(http: httpx.Client, **rule: object) -> None:
    response = http.post("/_sandbox/faults", json=rule)
    assert response.status_code == 201, response.text


def test_status_fault_is_asp_net_style_and_not_applied(co) -> None:
    add_fault(co.http, route="constructiononline.update", kind="status", status=500, count=1)

    failed = co.put(SEEDED, {"NOTES": "first"})
    fetched = co.get(SEEDED)  # a rule on update leaves get alone

    assert (failed.status_code, failed.json()) == (500, {"Message": "An error has occurred."})
    assert fetched.status_code == 200 and fetched.json()["NOTES"] != "first"
    assert co.put(SEEDED, {"NOTES": "second"}).status_code == 200
    assert [(entry["route"], entry["status"], entry["fault"]) for entry in co.requests()] == [
        ("constructiononline.update", 500, "status"),
        ("constructiononline.get", 200, None),
        ("constructiononline.update", 200, None),
    ]


def test_unavailable_fault_has_retry_after(co) -> None:
    add_fault(co.http, route="constructiononline.update", kind="unavailable", retry_after=3, count=1)

    response = co.put(SEEDED, {"NOTES": "x"})

    assert response.status_code == 503 and response.headers["Retry-After"] == "3"
    assert response.json() == {"Message": "An error has occurred."}
    assert co.record()["NOTES"] != "x"


def test_timeout_and_drop_faults_can_apply_the_update(co) -> None:
    add_fault(co.http, route="constructiononline.update", kind="timeout", delay_ms=2000, count=1)
    add_fault(co.http, route="constructiononline.update", kind="drop", applied=True, count=1)

    with pytest.raises(httpx.ReadTimeout):
        co.http.put(
            f"/api/ChangeOrders/{SEEDED}?{co_info_query({'NOTES': 'timed out'})}", headers=co.headers(), timeout=0.2
        )
    assert co.record()["NOTES"] == "timed out"
    with pytest.raises(httpx.RemoteProtocolError):
        co.put(SEEDED, {"NOTES": "dropped"})
    assert co.record()["NOTES"] == "dropped"


def test_path_templates_leave_exact_routes_and_unknown_paths_alone(co, procore) -> None:
    response = procore.sync([{"origin_id": "still-works"}])
    assert response.status_code == 200 and response.json()["entities"][0]["origin_id"] == "still-works"

    for method, path in [
        ("PUT", f"/api/ChangeOrders/{SEEDED}/extra"),
        ("PUT", "/api/ChangeOrders/"),
        ("GET", "/api/ChangeOrders"),
        ("DELETE", f"/api/ChangeOrders/{SEEDED}"),
        ("GET", f"/api/changeorders/{SEEDED}"),
    ]:
        answer = co.http.request(method, path, headers=co.headers())
        assert answer.status_code == 404 and "no sandbox route" in answer.json()["error"], path
    unrouted = co.http.get("/_sandbox/requests").json()["requests"][-5:]
    assert {(entry["vendor"], entry["route"]) for entry in unrouted} == {(None, None)}


# --- rate limits: four fixed windows per API key, every authenticated request counts -------------------------

PERIODS = [("hourly", "hour"), ("daily", "day"), ("weekly", "week"), ("monthly", "month")]


def configure(co: ConstructionOnlineTestClient, **section: int) -> None:
    response = co.http.post("/_sandbox/config", json={"constructiononline": section})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("period", "unit"), PERIODS)
def test_each_window_answers_429_then_reopens(co, period, unit) -> None:
    configure(co, **{f"{period}_limit": 2, f"{period}_window_seconds": 1})

    first = co.put(SEEDED, {"NOTES": "one"})
    opened_by = time.monotonic()  # the window opened while the first request was handled
    second = co.get(SEEDED)
    limited = co.put(SEEDED, {"NOTES": "three"})

    assert (first.status_code, second.status_code, limited.status_code) == (200, 200, 429)
    assert limited.json() == {"Message": f"API rate limit exceeded: 2 requests per {unit}. Try again in 1 seconds."}
    assert not [name for name in limited.headers if name.startswith("x-rate") or name == "retry-after"]
    assert co.stored()["NOTES"] == "one"  # the refused update was not applied

    time.sleep(max(0.0, opened_by + 1.05 - time.monotonic()))
    assert co.put(SEEDED, {"NOTES": "after the window"}).status_code == 200
    assert co.record()["NOTES"] == "after the window"


@pytest.mark.parametrize(("period", "unit"), PERIODS)
def test_the_wait_is_the_time_left_in_the_window(co, period, unit) -> None:
    configure(co, **{f"{period}_limit": 1, f"{period}_window_seconds": 600})
    co.get(SEEDED)

    message = co.get(SEEDED).json()["Message"]

    prefix = f"API rate limit exceeded: 1 requests per {unit}. Try again in "
    assert message.startswith(prefix) and message.endswith(" seconds.")
    assert 599 <= int(message.removeprefix(prefix).removesuffix(" seconds.")) <= 600


def test_defaults_are_the_documented_limits(co) -> None:
    configure(co, hourly_window_seconds=600)
    statuses = [co.get(SEEDED).status_code for _ in range(501)]

    assert statuses[:500] == [200] * 500 and statuses[500] == 429
    assert co.get(SEEDED).json()["Message"].startswith("API rate limit exceeded: 500 requests per hour.")


def test_the_window_that_reopens_last_is_named(co) -> None:
    configure(co, hourly_limit=1, hourly_window_seconds=10, daily_limit=1, daily_window_seconds=100)
    co.get(SEEDED)

    message = co.get(SEEDED).json()["Message"]

    assert message.startswith("API rate limit exceeded: 1 requests per day. Try again in ")
    assert 99 <= int(message.split(" in ")[1].split()[0]) <= 100


def test_varied_wordings_rotate_and_each_one_s_wait_is_understood_by_the_function(co) -> None:
    configure(co, daily_limit=1, daily_window_seconds=7200)
    response = co.http.post("/_sandbox/config", json={"constructiononline": {"limit_wordings": "any"}})
    assert response.status_code == 200
    co.get(SEEDED)

    refusals = [co.get(SEEDED) for _ in range(4)]

    messages = [refusal.json()["Message"] for refusal in refusals]
    assert len(set(messages)) == 4
    waits = [wait_from_message(refusal) for refusal in refusals]
    # Three state the wait (to the second, to the minute rounded up, as a clock); the last only names the day.
    assert all(7190 <= wait <= 7260 for wait in waits[:3]) and waits[3] == 86_400


def test_an_injected_429_says_how_long_to_wait_as_the_vendor_s_do(co) -> None:
    co.http.post("/_sandbox/config", json={"constructiononline": {"limit_wordings": "varied"}})
    for _ in range(3):
        add_fault(co.http, route="constructiononline.update", kind="status", status=429, count=1)

    refusals = [co.put(SEEDED, {"NOTES": "x"}) for _ in range(3)]

    assert [refusal.status_code for refusal in refusals] == [429] * 3
    assert len({refusal.json()["Message"] for refusal in refusals}) == 3
    assert [wait_from_message(refusal) for refusal in refusals] == [1, 1, 1]


def test_an_unknown_wording_setting_is_refused(co) -> None:
    response = co.http.post("/_sandbox/config", json={"constructiononline": {"limit_wordings": "poetic"}})
    assert response.status_code == 400 and "limit_wordings" in response.text


def test_every_authenticated_request_counts_and_unauthenticated_ones_do_not(co) -> None:
    configure(co, daily_limit=4, daily_window_seconds=600)
    for _ in range(3):
        assert co.get(SEEDED, password="wrong").status_code == 401

    statuses = [
        co.get(999).status_code,  # 404
        co.put(SEEDED, {"COLOR": "red"}).status_code,  # 400
        co.get("abc").status_code,  # 400
        co.get(SEEDED).status_code,
        co.get(SEEDED).status_code,  # over
        co.put(999, {"NOTES": "x"}).status_code,  # still 429: the limit comes before the lookup
    ]

    assert statuses == [404, 400, 400, 200, 429, 429]


def test_limits_are_per_api_key(co) -> None:
    configure(co, hourly_limit=1, hourly_window_seconds=600)
    co.add_account("second@example.com", "second-password", "second-key")
    other = {"email": "second@example.com", "password": "second-password", "api_key": "second-key"}

    assert [co.get(SEEDED).status_code, co.get(SEEDED).status_code] == [200, 429]
    assert co.get(SEEDED, **other).status_code == 200
