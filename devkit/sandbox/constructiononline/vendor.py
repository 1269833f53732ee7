"""The ConstructionOnline imitation: ``PUT`` and ``GET /api/ChangeOrders/{id}`` plus their control routes."""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final
from urllib.parse import quote, urlencode

from devkit.sandbox.config import patched
from devkit.sandbox.constructiononline.accounts import Account, AccountRegistry
from devkit.sandbox.constructiononline.co_info import InvalidCoInfo, parse_co_info
from devkit.sandbox.constructiononline.config import ConstructionOnlineConfig
from devkit.sandbox.constructiononline.limits import count_request, injected_limit_message
from devkit.sandbox.constructiononline.store import FIELDS, ChangeOrderStore
from devkit.sandbox.messages import BadRequest, Request, Response, json_object_body, json_response
from devkit.sandbox.ratelimit import FixedWindowLimiter
from devkit.sandbox.vendor import Route

CHANGE_ORDER_PATH: Final = "/api/ChangeOrders/{id}"
DENIED: Final = {"Message": "Authorization has been denied for this request."}
INVALID: Final = "The request is invalid."
# What ASP.NET says when the id segment does not bind to the action's int parameter.
_ID_DETAIL: Final = (
    "The parameters dictionary contains a null entry for parameter 'id' of non-nullable type 'System.Int32'."
)
_INT32_MAX: Final = 2**31 - 1
_ID_RE: Final = re.compile(r"-?[0-9]{1,10}")  # digits only: int() would also take "+7", "7_0" and " 7"


def _id_value(text: str) -> int | None:
    """The route's ``id`` as the System.Int32 the vendor binds it to, or None."""
    if not _ID_RE.fullmatch(text):
        return None
    value = int(text)
    return value if -_INT32_MAX - 1 <= value <= _INT32_MAX else None


def _timestamp(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _non_empty_string(body: Mapping[str, object], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{name} must be a non-empty string")
    return value


def _invalid(detail: str) -> Response:
    return json_response(400, {"Message": INVALID, "MessageDetail": detail})


def _not_found(request: Request, change_order_id: int) -> Response:
    # ASP.NET quotes the full request URI; the query is re-encoded from its parsed form.
    query = f"?{urlencode(request.query, quote_via=quote)}" if request.query else ""
    url = f"http://{request.header('host') or 'localhost'}{request.path}{query}"
    return json_response(
        404,
        {
            "Message": f"No HTTP resource was found that matches the request URI '{url}'.",
            "MessageDetail": f"No change order with ID {change_order_id} was found.",
        },
    )


@dataclass
class _State:
    """Everything a reset forgets."""

    config: ConstructionOnlineConfig = field(default_factory=ConstructionOnlineConfig)
    accounts: AccountRegistry = field(default_factory=AccountRegistry)
    limiter: FixedWindowLimiter = field(default_factory=FixedWindowLimiter)
    change_orders: ChangeOrderStore = field(default_factory=ChangeOrderStore)
    refusals: int = 0  # 429s answered, which rotates their wording when it varies


class ConstructionOnlineVendor:
    """ConstructionOnline's change-order endpoints plus their control routes. Thread-safe."""

    name: Final = "constructiononline"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = _State()

    def routes(self) -> Sequence[Route]:
        """The ConstructionOnline API endpoints."""
        return [
            Route("constructiononline.update", "PUT", CHANGE_ORDER_PATH, self._update, wrong_shape="[]"),
            Route("constructiononline.get", "GET", CHANGE_ORDER_PATH, self._get, wrong_shape="[]"),
        ]

    def control_routes(self) -> Sequence[Route]:
        """``accounts`` and ``change-orders`` under ``/_sandbox/constructiononline/``."""
        prefix = "/_sandbox/constructiononline"
        return [
            Route("constructiononline.control.accounts", "POST", f"{prefix}/accounts", self._register_account),
            Route("constructiononline.control.list", "GET", f"{prefix}/change-orders", self._list_change_orders),
            Route("constructiononline.control.put", "POST", f"{prefix}/change-orders", self._put_change_order),
        ]

    def reset(self) -> None:
        """Forget accounts, rate counters and edits; restore the seeded change orders and the default config."""
        with self._lock:
            self._state = _State()

    def config_json(self) -> dict[str, object]:
        """The ``constructiononline`` config section."""
        with self._lock:
            config = self._state.config
        return dataclasses.asdict(config)

    def prepare_config(self, patch: Mapping[str, object]) -> Callable[[], None]:
        """Validate a partial update of the ``constructiononline`` section; return the function that applies it."""
        with self._lock:
            updated = patched(self._state.config, patch, self.name)

        def commit() -> None:
            with self._lock:
                self._state.config = updated

        return commit

    def fault_response(self, status: int) -> Response:
        """ASP.NET Web API's generic error body; a 429 says, as the vendor's always do, how long to wait (1 s)."""
        if status == 429:
            with self._lock:
                state = self._state
                state.refusals += 1
                message = injected_limit_message(state.config, state.refusals)
            return json_response(429, {"Message": message})
        return json_response(status, {"Message": "An error has occurred."})

    # --- API -------------------------------------------------------------------------------------------------

    def _update(self, request: Request) -> Response:
        # coInfo travels in the query string; a body (clients send none) is ignored.
        with self._lock:
            state = self._state
            refusal = self._admit(state, request)
            if refusal is not None:
                return refusal
            change_order_id = _id_value(request.path_params["id"])
            if change_order_id is None:
                return _invalid(_ID_DETAIL)
            if change_order_id not in state.change_orders:
                return _not_found(request, change_order_id)
            try:
                changes = parse_co_info(request.query.get("coInfo"))
            except InvalidCoInfo as invalid:
                return _invalid(str(invalid))
            record = state.change_orders.update(change_order_id, changes, _timestamp(time.time()))
        return json_response(200, record)

    def _get(self, request: Request) -> Response:
        with self._lock:
            state = self._state
            refusal = self._admit(state, request)
            if refusal is not None:
                return refusal
            change_order_id = _id_value(request.path_params["id"])
            if change_order_id is None:
                return _invalid(_ID_DETAIL)
            record = state.change_orders.get(change_order_id)
        return json_response(200, record) if record is not None else _not_found(request, change_order_id)

    @staticmethod
    def _admit(state: _State, request: Request) -> Response | None:
        """Authenticate, then count the request against the key's windows; a refusal, or None to go on."""
        account = state.accounts.authenticate(request)
        if account is None:  # not attributable to a key: not counted
            return json_response(401, DENIED)
        exceeded = count_request(state.limiter, account.api_key, state.config, time.time(), state.refusals)
        if exceeded is None:
            return None
        state.refusals += 1
        return json_response(429, {"Message": exceeded})

    # --- control ---------------------------------------------------------------------------------------------

    def _register_account(self, request: Request) -> Response:
        body = json_object_body(request)
        email, password, api_key = (_non_empty_string(body, name) for name in ("email", "password", "api_key"))
        if ":" in email:
            raise BadRequest("email must not contain ':' (HTTP Basic splits user and password there)")
        with self._lock:
            self._state.accounts.register(Account(email, password, api_key))
        return json_response(201, {"email": email})

    def _list_change_orders(self, request: Request) -> Response:
        with self._lock:
            records = self._state.change_orders.all()
        return json_response(200, {"change_orders": records})

    def _put_change_order(self, request: Request) -> Response:
        body = json_object_body(request)
        change_order_id = body.get("ID")
        if not isinstance(change_order_id, int) or isinstance(change_order_id, bool):
            raise BadRequest("ID must be an integer")
        unknown = sorted(set(body) - FIELDS)
        if unknown:
            raise BadRequest(f"unknown change order properties: {unknown}")
        with self._lock:
            record = self._state.change_orders.put(change_order_id, body, _timestamp(time.time()))
        return json_response(201, record)
