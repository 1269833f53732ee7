"""The ConstructionOnline update call: coInfo as URL-encoded JSON in the query string."""

from __future__ import annotations

import json
import re
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from connectors.deadline import Deadline
from connectors.failures import invalid_input, transient
from connectors.http import VendorHttp, classify_refusal
from connectors.models.constructiononline import CoInfo
from connectors.models.exact_json import loads_exact

# IIS, which serves this API, refuses query strings over 2048 bytes by default; stay under it rather than
# have an update cut short.
MAX_QUERY_LENGTH = 2048
# The vendor's four windows (per API key), in seconds; a month counted as 31 days, the longest it can be.
_WINDOW_SECONDS = {"hour": 3600, "day": 86_400, "week": 604_800, "month": 31 * 86_400}
_UNIT_SECONDS = {"second": 1, "sec": 1, "minute": 60, "min": 60, **_WINDOW_SECONDS}
# "in 120 seconds", "after 2 minutes", "1 hour 20 minutes": every number with its unit adds up to the wait.
_DURATION = re.compile(r"(\d+)\s*(seconds?|secs?|minutes?|mins?|hours?|days?|weeks?|months?)\b", re.IGNORECASE)
# "resets in 01:20:00"
_CLOCK = re.compile(r"\b(\d{1,2}):(\d{2}):(\d{2})\b")
# The window a message names without a wait: "500 requests per hour", "daily limit", "monthly quota".
_WINDOW = re.compile(r"\b(?:per\s+(hour|day|week|month)|(hour|dai|week|month)ly)\b", re.IGNORECASE)


class ChangeOrderClient(Protocol):
    """What the operation needs from ConstructionOnline."""

    def update(self, change_order_id: int, co_info: CoInfo, deadline: Deadline) -> dict[str, Any]: ...

    def book_ahead(self, updates: int, deadline: Deadline) -> None: ...


def update_url(base_url: str, change_order_id: int, co_info: CoInfo) -> str:
    """``{base}/api/ChangeOrders/{id}?coInfo=<percent-encoded JSON>``; too long a query is refused up front."""
    text = json.dumps(co_info.wire(), ensure_ascii=False, separators=(",", ":"))
    # Every reserved character is encoded (quote's safe="" also covers / & = + # and spaces).
    query = "coInfo=" + quote(text, safe="")
    if len(query) > MAX_QUERY_LENGTH:
        raise invalid_input(
            f"coInfo is {len(query)} characters once URL-encoded; ConstructionOnline takes at most "
            f"{MAX_QUERY_LENGTH}: send fewer or shorter properties per update"
        )
    return f"{base_url.rstrip('/')}/api/ChangeOrders/{change_order_id}?{query}"


def wait_from_message(response: httpx.Response) -> float:
    """Seconds to wait after a 429, read from its body, whose wording the vendor does not document.

    The wait it states (``Try again in 120 seconds``, ``retry after 2 minutes``, ``resets in 01:20:00``); else the
    whole window it names (``500 requests per day``: a day); else an hour, the shortest window. Never shorter:
    a guess too short only collects more refusals, each counted against the key.
    """
    text = response.text
    durations = _DURATION.findall(text)
    if durations:
        return float(sum(int(number) * _UNIT_SECONDS[unit.lower().rstrip("s")] for number, unit in durations))
    if clock := _CLOCK.search(text):
        hours, minutes, seconds = (int(part) for part in clock.groups())
        return float(hours * 3600 + minutes * 60 + seconds)
    if window := _WINDOW.search(text):
        named = (window[1] or window[2]).lower()
        return float(_WINDOW_SECONDS["day" if named == "dai" else named])
    return float(_WINDOW_SECONDS["hour"])


class ConstructionOnlineClient:
    """``PUT /api/ChangeOrders/{id}?coInfo=`` for one connection."""

    def __init__(self, http: VendorHttp, base_url: str, auth: httpx.Auth) -> None:
        self._http = http
        self._base_url = base_url
        self._auth = auth

    def book_ahead(self, updates: int, deadline: Deadline) -> None:
        """Book the request slots of ``updates`` updates about to be sent, at once."""
        self._http.book_ahead(updates, deadline)

    def update(self, change_order_id: int, co_info: CoInfo, deadline: Deadline) -> dict[str, Any]:
        """Change the given properties; return the edited change order."""
        url = httpx.URL(update_url(self._base_url, change_order_id, co_info))
        request = httpx.Request("PUT", url, headers={"Accept": "application/json"})
        # PUT sets the same values again: a resend after a timeout changes nothing.
        response = self._http.send(request, deadline, auth=self._auth, idempotent=True)
        if not response.is_success:
            raise classify_refusal("constructiononline", response)
        # An answer outside the contract tells nothing of what was applied; the PUT is safe to send again.
        try:
            record = loads_exact(response.content) if response.status_code == 200 else None
        except ValueError:
            record = None
        if not isinstance(record, dict) or record.get("ID") != change_order_id:
            raise transient(
                f"constructiononline answered {response.status_code} without the edited change order {change_order_id}",
                vendor_status=response.status_code,
            )
        return record
