"""The contract every imitated vendor (Procore, Oracle Primavera Cloud, ConstructionOnline) fulfils."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Final, Protocol
from urllib.parse import unquote

from devkit.sandbox.messages import Request, Response

Handler = Callable[[Request], Response]

_PARAMETER: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@cache
def _template_pattern(path: str) -> re.Pattern[str] | None:
    """The regex of a path template (each ``{name}`` segment captures one non-empty segment); None if exact."""
    segments = path.split("/")
    if not any(_PARAMETER.fullmatch(segment) for segment in segments):
        return None
    return re.compile(
        "/".join(
            f"(?P<{match[1]}>[^/]+)" if (match := _PARAMETER.fullmatch(segment)) else re.escape(segment)
            for segment in segments
        )
    )


@dataclass(frozen=True)
class Route:
    """One endpoint: ``name`` is the short name used by fault rules and the request log (``procore.sync``).

    ``path`` is exact, or a template whose ``{name}`` segments each match one path segment
    (``/api/ChangeOrders/{id}``); the handler finds the captured values in ``Request.path_params``.
    ``log_body`` is False for endpoints whose body carries secrets (token requests). For ``malformed`` faults:
    ``ok_status`` is the route's success status (answered when the vendor did not apply the request) and
    ``wrong_shape`` the JSON text of a success body that breaks the route's contract (valid JSON, wrong fields).
    """

    name: str
    method: str
    path: str
    handler: Handler
    log_body: bool = True
    ok_status: int = 200
    wrong_shape: str = "{}"

    @property
    def is_template(self) -> bool:
        """Whether ``path`` has ``{name}`` segments."""
        return _template_pattern(self.path) is not None

    def match(self, path: str) -> dict[str, str] | None:
        """The percent-decoded captures when the request ``path`` matches (``{}`` for an exact path), else None."""
        pattern = _template_pattern(self.path)
        if pattern is None:
            return {} if path == self.path else None
        found = pattern.fullmatch(path)
        # Decoded like ASP.NET route values; "+" stays "+" in a path.
        return {name: unquote(value) for name, value in found.groupdict().items()} if found else None


class Vendor(Protocol):
    """A vendor imitation: its API routes, its control routes under ``/_sandbox/<name>/`` and its config section."""

    @property
    def name(self) -> str:
        """Short vendor name: the config section, the control path segment and the log's ``vendor``."""
        ...

    def routes(self) -> Sequence[Route]:
        """The vendor API endpoints."""
        ...

    def control_routes(self) -> Sequence[Route]:
        """Extra control endpoints (full paths under ``/_sandbox/<name>/``); may raise BadRequest."""
        ...

    def reset(self) -> None:
        """Forget all state and restore the default config and built-in clients."""
        ...

    def config_json(self) -> dict[str, object]:
        """The current config section."""
        ...

    def prepare_config(self, patch: Mapping[str, object]) -> Callable[[], None]:
        """Validate a partial config update (raise ConfigError) and return a function that applies it."""
        ...

    def fault_response(self, status: int) -> Response:
        """A vendor-style error response for an injected ``status``/``unavailable``/``timeout``/``outage`` fault."""
        ...
