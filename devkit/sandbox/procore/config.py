"""The ``procore`` config section."""

from __future__ import annotations

from dataclasses import dataclass

from devkit.sandbox.config import require_at_least


@dataclass(frozen=True)
class ProcoreConfig:
    """Defaults follow Procore's documentation; tests shrink them."""

    token_lifetime_seconds: int = 5400  # 0 issues tokens that are already expired
    hourly_limit: int = 3600
    spike_limit: int = 100
    spike_window_seconds: int = 10
    retry_after_on_429: bool = False  # Procore pages disagree whether 429 carries Retry-After
    shuffle_results: bool = True  # so clients cannot rely on the position of entities and errors

    def __post_init__(self) -> None:
        require_at_least("procore.token_lifetime_seconds", self.token_lifetime_seconds, 0)
        require_at_least("procore.hourly_limit", self.hourly_limit, 0)
        require_at_least("procore.spike_limit", self.spike_limit, 0)
        require_at_least("procore.spike_window_seconds", self.spike_window_seconds, 1)
