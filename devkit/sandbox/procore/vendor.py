"""The Procore imitation: ``POST /oauth/token`` and ``PATCH /rest/v1.0/potential_change_orders/sync``."""

from __future__ import annotations

import dataclasses
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from devkit.sandbox.config import patched
from devkit.sandbox.credentials import TokenRegistry, bearer_token
from devkit.sandbox.messages import (
    BadRequest,
    Request,
    Response,
    json_object_body,
    json_response,
    parse_json,
    reason_phrase,
    text_response,
)
from devkit.sandbox.procore.config import ProcoreConfig
from devkit.sandbox.procore.oauth import (
    BUILTIN_CLIENT_ID,
    BUILTIN_CLIENT_SECRET,
    INVALID_CLIENT,
    INVALID_REQUEST,
    INVALID_TOKEN,
    UNSUPPORTED_GRANT_TYPE,
    token_request_params,
)
from devkit.sandbox.procore.pco_attributes import parse_item
from devkit.sandbox.procore.pco_store import ItemRejected, PcoStore, SyncScope
from devkit.sandbox.ratelimit import FixedWindowLimiter, RateVerdict, WindowLimit
from devkit.sandbox.vendor import Route

MAX_SYNC_ITEMS: Final = 1000
RATE_LIMITED_TEXT: Final = (
    "You have surpassed the max number of requests for an hour. Please wait until your limit resets."
)
_HOUR_SECONDS: Final = 3600
_ID_RE: Final = re.compile(r"[0-9]{1,19}")  # digits only: int() would also take "+7" and "7_0"
_INT64_MAX: Final = 2**63 - 1


class _Rejected(Exception):
    """A whole sync request refused with ``status`` and ``{"errors": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _id_value(text: str | None) -> int | None:
    """A positive 64-bit id written in decimal, or None."""
    if text is None or not _ID_RE.fullmatch(text.strip()):
        return None
    value = int(text)
    return value if 0 < value <= _INT64_MAX else None


def _timestamp(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _State:
    """Everything a reset forgets."""

    seed: int
    config: ProcoreConfig = field(default_factory=ProcoreConfig)
    oauth: TokenRegistry = field(default_factory=lambda: TokenRegistry(BUILTIN_CLIENT_ID, BUILTIN_CLIENT_SECRET))
    limiter: FixedWindowLimiter = field(default_factory=FixedWindowLimiter)
    pcos: PcoStore = field(default_factory=PcoStore)
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(f"procore:{self.seed}")  # noqa: S311 - repeatable shuffling, not crypto


class ProcoreVendor:
    """Procore's token and PCO sync endpoints plus their control routes. Thread-safe."""

    name: Final = "procore"

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._lock = threading.Lock()
        self._state = _State(seed)

    def routes(self) -> Sequence[Route]:
        """The Procore API endpoints."""
        return [
            Route(
                "procore.token",
                "POST",
                "/oauth/token",
                self._token,
                log_body=False,
                wrong_shape='{"token_type": "bearer", "expires_in": 5400}',  # no access_token
            ),
            Route(
                "procore.sync",
                "PATCH",
                "/rest/v1.0/potential_change_orders/sync",
                self._sync,
                wrong_shape='{"entities": "x"}',
            ),
        ]

    def control_routes(self) -> Sequence[Route]:
        """``clients``, ``expire-tokens`` and ``pcos`` under ``/_sandbox/procore/``."""
        return [
            Route("procore.control.clients", "POST", "/_sandbox/procore/clients", self._register_client),
            Route("procore.control.expire", "POST", "/_sandbox/procore/expire-tokens", self._expire_tokens),
            Route("procore.control.pcos", "GET", "/_sandbox/procore/pcos", self._list_pcos),
        ]

    def reset(self) -> None:
        """Forget clients, tokens, rate counters and PCOs; restore the default config and the built-in client."""
        with self._lock:
            self._state = _State(self._seed)

    def config_json(self) -> dict[str, object]:
        """The ``procore`` config section."""
        with self._lock:
            config = self._state.config
        return dataclasses.asdict(config)

    def prepare_config(self, patch: Mapping[str, object]) -> Callable[[], None]:
        """Validate a partial update of the ``procore`` section; return the function that applies it."""
        with self._lock:
            updated = patched(self._state.config, patch, self.name)

        def commit() -> None:
            with self._lock:
                self._state.config = updated

        return commit

    def fault_response(self, status: int) -> Response:
        """Procore's commonest error shape, ``{"errors": "<reason>"}``."""
        return json_response(status, {"errors": reason_phrase(status)})

    # --- API -------------------------------------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        params = token_request_params(request)
        grant_type = params.get("grant_type")
        if not grant_type:
            return json_response(400, INVALID_REQUEST)
        if grant_type != "client_credentials":
            return json_response(400, UNSUPPORTED_GRANT_TYPE)
        client_id = params.get("client_id")
        with self._lock:
            state = self._state
            if client_id is None or not state.oauth.authenticate(client_id, params.get("client_secret")):
                return json_response(401, INVALID_CLIENT)
            now = time.time()
            lifetime = state.config.token_lifetime_seconds
            token = state.oauth.issue(client_id, now, lifetime)
        body = {"access_token": token, "token_type": "bearer", "expires_in": lifetime, "created_at": int(now)}
        return json_response(200, body, {"Cache-Control": "no-store"})

    def _sync(self, request: Request) -> Response:
        with self._lock:
            state = self._state
            now = time.time()
            issued = state.oauth.resolve(bearer_token(request))
            if issued is None:  # not attributable to a client: not counted
                return json_response(401, INVALID_TOKEN)
            verdict = state.limiter.hit(issued.owner, self._windows(state.config), now)
            headers = self._rate_headers(verdict)
            if not issued.valid_at(now):
                return json_response(401, INVALID_TOKEN, headers)
            if not verdict.allowed:
                if state.config.retry_after_on_429:
                    headers["Retry-After"] = str(verdict.retry_after)
                return text_response(429, RATE_LIMITED_TEXT, headers)
            try:
                scope, updates = self._sync_request(request)
            except _Rejected as rejected:
                return json_response(rejected.status, {"errors": rejected.message}, headers)
            entities, errors = self._apply_updates(state, scope, updates, _timestamp(now))
        return json_response(200, {"entities": entities, "errors": errors}, headers)

    @staticmethod
    def _windows(config: ProcoreConfig) -> list[WindowLimit]:
        return [
            WindowLimit("hourly", config.hourly_limit, _HOUR_SECONDS),
            WindowLimit("spike", config.spike_limit, config.spike_window_seconds),
        ]

    @staticmethod
    def _rate_headers(verdict: RateVerdict) -> dict[str, str]:
        window = verdict.reported
        return {
            "X-Rate-Limit-Limit": str(window.limit),
            "X-Rate-Limit-Remaining": str(window.remaining),
            "X-Rate-Limit-Reset": str(window.reset_epoch),
        }

    @staticmethod
    def _sync_request(request: Request) -> tuple[SyncScope, list[object]]:
        """Check the company header, the query and the body shape, in that order (raises _Rejected)."""
        header = request.header("procore-company-id")
        if header is None:
            # Procore's words; its status is not documented, and a missing required header is a bad request.
            raise _Rejected(400, "Missing Procore-Company-Id header!")
        company_id = _id_value(header)
        if company_id is None:
            raise _Rejected(404, "Company not found")
        ids: dict[str, int] = {}
        for name in ("project_id", "contract_id"):
            raw = request.query.get(name, "")
            if not raw:
                raise _Rejected(400, f"param is missing or the value is empty: {name}")
            value = _id_value(raw)
            if value is None:
                raise _Rejected(400, f"{name} must be a positive integer, got {raw!r}")
            ids[name] = value
        if request.media_type() != "application/json":
            raise _Rejected(400, "Content-Type must be application/json")
        try:
            body = parse_json(request.body)
        except ValueError:
            raise _Rejected(400, "The request body is not valid JSON") from None
        updates = body.get("updates") if isinstance(body, dict) else None
        if updates is None:
            raise _Rejected(400, "param is missing or the value is empty: updates")
        if not isinstance(updates, list):
            raise _Rejected(400, "updates must be an array")
        if len(updates) > MAX_SYNC_ITEMS:
            raise _Rejected(422, f"Too many updates: {len(updates)} given, at most {MAX_SYNC_ITEMS} per request")
        return SyncScope(company_id, ids["project_id"], ids["contract_id"]), updates

    @staticmethod
    def _apply_updates(
        state: _State, scope: SyncScope, updates: list[object], now: str
    ) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
        """Apply every item in order (non-atomic); failed items come back with their ``errors``."""
        entities: list[dict[str, object]] = []
        errors: list[dict[str, object]] = []
        for item in updates:
            if not isinstance(item, dict):
                errors.append({"errors": {"base": ["must be a JSON object"]}})
                continue
            attributes, field_errors = parse_item(item)
            if not field_errors:
                try:
                    entities.append(state.pcos.apply(scope, attributes, now))
                    continue
                except ItemRejected as rejected:
                    field_errors = {rejected.field: [rejected.message]}
            errors.append({**item, "errors": field_errors})
        if state.config.shuffle_results:
            state.rng.shuffle(entities)
            state.rng.shuffle(errors)
        return entities, errors

    # --- control ---------------------------------------------------------------------------------------------

    def _register_client(self, request: Request) -> Response:
        body = json_object_body(request)
        client_id, client_secret = body.get("client_id"), body.get("client_secret")
        if not isinstance(client_id, str) or not client_id or not isinstance(client_secret, str) or not client_secret:
            raise BadRequest("client_id and client_secret must be non-empty strings")
        with self._lock:
            self._state.oauth.register(client_id, client_secret)
        return json_response(201, {"client_id": client_id})

    def _expire_tokens(self, request: Request) -> Response:
        with self._lock:
            expired = self._state.oauth.expire_all(time.time())
        return json_response(200, {"expired": expired})

    def _list_pcos(self, request: Request) -> Response:
        filters: dict[str, int | None] = {}
        for name in ("company_id", "project_id", "contract_id"):
            raw = request.query.get(name)
            filters[name] = _id_value(raw) if raw else None
            if raw and filters[name] is None:
                raise BadRequest(f"{name} must be a positive integer")
        with self._lock:
            pcos = self._state.pcos.matching(**filters)
        return json_response(200, {"pcos": pcos})
