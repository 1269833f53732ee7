"""The Primavera Cloud imitation: the token service, ``POST .../changeOrderSOV/batch`` and the SOV read by parent."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import parse_qsl

from devkit.sandbox.credentials import TokenRegistry, basic_credentials, bearer_token
from devkit.sandbox.messages import (
    JSON_CONTENT_TYPE,
    BadRequest,
    Request,
    Response,
    json_object_body,
    json_response,
    reason_phrase,
    text_response,
)
from devkit.sandbox.prime.auth import (
    BUILTIN_PASSWORD,
    BUILTIN_USERNAME,
    CURRENT_SHAPE,
    TENANT,
    TENANT_CODE,
    TOKEN_SHAPES,
    scope_is_valid,
    tenant_header_problem,
    token_reply,
)
from devkit.sandbox.prime.config import PrimeConfig, patched_prime_config
from devkit.sandbox.prime.exact_json import dumps_exact, loads_exact
from devkit.sandbox.prime.sov_schema import CHANGE_ORDER_TYPES, is_valid_sov
from devkit.sandbox.prime.sov_store import SovStore
from devkit.sandbox.ratelimit import FixedWindowLimiter, WindowLimit
from devkit.sandbox.vendor import Route

TOKEN_PATH: Final = "/primediscovery/apitoken/request"  # noqa: S105 - a path, not a password
# The seed's (older Prime) prefix and the one current Oracle docs use: both answer the same.
API_PREFIXES: Final = ("/primeapi/restapi", "/api/restapi")
BATCH_PATHS: Final = tuple(f"{prefix}/changeOrderSOV/batch" for prefix in API_PREFIXES)
# "View a Change Order SOV by Parent", GET, listed at
# https://docs.oracle.com/construction-engineering/prime-17/PRIME/api-change-order-sov.html
# (Oracle names the first parameter "worksaceCode"; the name is the sandbox's own business).
BY_PARENT_PATHS: Final = tuple(
    f"{prefix}/changeOrderSOV/workspace/{{workspaceCode}}/project/{{projectCode}}/changeOrder/{{changeOrderCode}}"
    "/associatedAgreement/{associatedAgreementCode}/type/{agreementType}/lineItem/{lineItemCode}"
    for prefix in API_PREFIXES
)

RATE_LIMITED_TEXT: Final = "429- Too Many Requests"
INVALID_INPUT: Final = {
    "status": 400,
    "errorCode": "PRM-004000021",
    "message": (
        "Invalid input for the Change Order SOV service. "
        "Verify the request contains valid data, then resubmit the request."
    ),
}
# The success bodies of the wrong shape a ``malformed`` fault answers: the token answer without either token name,
# and an object where the contract has an array of SOVs.
_TOKEN_WITHOUT_TOKEN: Final = json.dumps(
    {"token_type": "Bearer", "expiresIn": 3600, "primeTenant": TENANT, "primeTenantCode": TENANT_CODE}
)
_NOT_AN_ARRAY: Final = '{"ok": true}'


def _exact_json_response(status: int, payload: object) -> Response:
    """A JSON response whose Decimals are written digit for digit."""
    return Response(status, dumps_exact(payload).encode(), JSON_CONTENT_TYPE)


def _oracle_error(status: int, message: str) -> Response:
    return json_response(status, {"status": status, "message": message})


def _grant_type_is_supported(request: Request) -> bool:
    """The form body is optional; when it names a grant type, only client_credentials is known."""
    if request.media_type() != "application/x-www-form-urlencoded":
        return True
    form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
    return form.get("grant_type", "client_credentials") == "client_credentials"


@dataclass
class _State:
    """Everything a reset forgets."""

    config: PrimeConfig = field(default_factory=PrimeConfig)
    tokens: TokenRegistry = field(default_factory=lambda: TokenRegistry(BUILTIN_USERNAME, BUILTIN_PASSWORD))
    limiter: FixedWindowLimiter = field(default_factory=FixedWindowLimiter)
    sovs: SovStore = field(default_factory=SovStore)
    token_shapes: dict[str, str] = field(default_factory=dict)  # per user (a connection); absent: current


class PrimeVendor:
    """Primavera Cloud's token, SOV batch-create and SOV read endpoints plus their control routes. Thread-safe."""

    name: Final = "prime"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = _State()

    def routes(self) -> Sequence[Route]:
        """The token service, the batch create and the read by parent, each API route under both path prefixes."""
        return [
            Route("prime.token", "POST", TOKEN_PATH, self._token, log_body=False, wrong_shape=_TOKEN_WITHOUT_TOKEN),
            *(
                Route("prime.batch", "POST", path, self._batch, ok_status=201, wrong_shape=_NOT_AN_ARRAY)
                for path in BATCH_PATHS
            ),
            *(
                Route("prime.sovs_by_parent", "GET", path, self._sovs_by_parent, wrong_shape=_NOT_AN_ARRAY)
                for path in BY_PARENT_PATHS
            ),
        ]

    def control_routes(self) -> Sequence[Route]:
        """``users``, ``expire-tokens`` and ``sovs`` under ``/_sandbox/prime/``."""
        return [
            Route("prime.control.users", "POST", "/_sandbox/prime/users", self._register_user),
            Route("prime.control.expire", "POST", "/_sandbox/prime/expire-tokens", self._expire_tokens),
            Route("prime.control.sovs", "GET", "/_sandbox/prime/sovs", self._list_sovs),
        ]

    def reset(self) -> None:
        """Forget users, tokens, rate counters and SOVs; restore the default config and the built-in user."""
        with self._lock:
            self._state = _State()

    def config_json(self) -> dict[str, object]:
        """The ``prime`` config section."""
        with self._lock:
            config = self._state.config
        return config.to_json()

    def prepare_config(self, patch: Mapping[str, object]) -> Callable[[], None]:
        """Validate a partial update of the ``prime`` section; return the function that applies it."""
        with self._lock:
            updated = patched_prime_config(self._state.config, patch)

        def commit() -> None:
            with self._lock:
                self._state.config = updated

        return commit

    def fault_response(self, status: int) -> Response:
        """Oracle's error shape, ``{"status": N, "message": "<reason>"}``."""
        return _oracle_error(status, reason_phrase(status))

    # --- API -------------------------------------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        credentials = basic_credentials(request)
        with self._lock:
            state = self._state
            if credentials is None or not state.tokens.authenticate(*credentials):
                return _oracle_error(401, "Unauthorized")
            if not scope_is_valid(request):
                return json_response(400, {"error": "invalid_scope"})
            if not _grant_type_is_supported(request):
                return json_response(400, {"error": "unsupported_grant_type"})
            lifetime = state.config.token_lifetime_seconds
            token = state.tokens.issue(credentials[0], time.time(), lifetime)
            shape = state.token_shapes.get(credentials[0], CURRENT_SHAPE)
        body = token_reply(shape, token, lifetime, credentials[0])
        return json_response(200, body, {"Cache-Control": "no-store"})

    @staticmethod
    def _refusal(request: Request, state: _State) -> Response | None:
        """Every API call's checks in order (token, tenant headers, rate limit); None admits the call."""
        now = time.time()
        issued = state.tokens.resolve(bearer_token(request))
        if issued is None:  # not attributable to a user: not counted
            return _oracle_error(401, "Unauthorized")
        verdict = state.limiter.hit(issued.owner, [WindowLimit("second", state.config.requests_per_second, 1)], now)
        if not issued.valid_at(now):
            return _oracle_error(401, "Unauthorized")
        if (missing := tenant_header_problem(request, state.token_shapes.get(issued.owner, CURRENT_SHAPE))) is not None:
            return _oracle_error(401, f"Unauthorized: header {missing} is missing or has a wrong value")
        if not verdict.allowed:
            return text_response(429, RATE_LIMITED_TEXT)
        return None

    def _batch(self, request: Request) -> Response:
        with self._lock:
            state = self._state
            if (refusal := self._refusal(request, state)) is not None:
                return refusal
            if request.media_type() != "application/json":
                return _oracle_error(415, "Unsupported Media Type")
            items = self._batch_items(request, state.config)
            if items is None:
                return json_response(400, INVALID_INPUT)  # the whole batch, without saying which item
            valid = [is_valid_sov(item, state.config.known_line_item_ids) for item in items]
            creatable = [item for item, ok in zip(items, valid, strict=True) if ok and isinstance(item, dict)]
            if all(valid):
                return _exact_json_response(201, state.sovs.create(creatable))
            if state.config.partial_batches == "refuse" or not creatable:
                return json_response(400, INVALID_INPUT)
            created = iter(state.sovs.create(creatable))
        if state.config.partial_batches == "multi_status_unattributed":
            return json_response(207, {"status": 207, "message": "Some of the Change Order SOVs were not created."})
        return _exact_json_response(207, [next(created) if ok else INVALID_INPUT for ok in valid])

    def _sovs_by_parent(self, request: Request) -> Response:
        codes = request.path_params
        with self._lock:
            state = self._state
            if (refusal := self._refusal(request, state)) is not None:
                return refusal
            if codes["agreementType"] not in CHANGE_ORDER_TYPES:
                return _oracle_error(400, "agreementType must be CONTRACT or COMMITMENT")
            found = state.sovs.under_parent(codes)
        if not found:
            # Oracle's sibling "View Change Order Line Items by Parent" documents 204 for an empty result.
            return Response(204, b"", None)
        return _exact_json_response(200, found)

    @staticmethod
    def _batch_items(request: Request, config: PrimeConfig) -> list[object] | None:
        """The batch's items (each still to be validated); None when the body is not a batch at all."""
        try:
            items = loads_exact(request.body)
        except ValueError:
            return None
        if not isinstance(items, list) or not 1 <= len(items) <= config.max_batch_size:
            return None
        return items

    # --- control ---------------------------------------------------------------------------------------------

    def _register_user(self, request: Request) -> Response:
        body = json_object_body(request)
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not username or not isinstance(password, str) or not password:
            raise BadRequest("username and password must be non-empty strings")
        if ":" in username:
            raise BadRequest("username cannot contain ':' (Basic credentials split on the first one)")
        shape = body.get("token_shape", CURRENT_SHAPE)
        if shape not in TOKEN_SHAPES:
            raise BadRequest(f"token_shape must be one of {', '.join(TOKEN_SHAPES)}")
        with self._lock:
            self._state.tokens.register(username, password)
            self._state.token_shapes[username] = str(shape)
        return json_response(201, {"username": username, "token_shape": shape})

    def _expire_tokens(self, request: Request) -> Response:
        with self._lock:
            expired = self._state.tokens.expire_all(time.time())
        return json_response(200, {"expired": expired})

    def _list_sovs(self, request: Request) -> Response:
        with self._lock:
            sovs = self._state.sovs.all()
        return _exact_json_response(200, {"sovs": sovs})
