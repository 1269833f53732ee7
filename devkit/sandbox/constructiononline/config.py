"""The ``constructiononline`` config section."""

from __future__ import annotations

from dataclasses import dataclass

from devkit.sandbox.config import ConfigError, require_at_least

LIMIT_WORDINGS = ("documented", "varied", "any")


@dataclass(frozen=True)
class ConstructionOnlineConfig:
    """Limits per API key as documented; the window lengths exist so tests can use short windows."""

    hourly_limit: int = 500
    daily_limit: int = 10_000
    weekly_limit: int = 50_000
    monthly_limit: int = 200_000
    hourly_window_seconds: int = 3600
    daily_window_seconds: int = 86_400
    weekly_window_seconds: int = 604_800
    monthly_window_seconds: int = 2_592_000  # 30 days
    # How a 429 words its message, which the vendor does not document: "documented" (one fixed wording), "varied"
    # (rotating wordings that each state the wait differently) or "any" (also one that states no wait at all).
    limit_wordings: str = "documented"

    def __post_init__(self) -> None:
        if self.limit_wordings not in LIMIT_WORDINGS:
            raise ConfigError(f"constructiononline.limit_wordings must be one of {', '.join(LIMIT_WORDINGS)}")
        for period in ("hourly", "daily", "weekly", "monthly"):
            require_at_least(f"constructiononline.{period}_limit", getattr(self, f"{period}_limit"), 0)
            require_at_least(
                f"constructiononline.{period}_window_seconds", getattr(self, f"{period}_window_seconds"), 1
            )
