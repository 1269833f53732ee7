"""ConstructionOnline's four rate windows per API key, and the message of a 429."""

from __future__ import annotations

from typing import Final

from devkit.sandbox.constructiononline.config import ConstructionOnlineConfig
from devkit.sandbox.ratelimit import FixedWindowLimiter, WindowLimit

# Config prefix and the unit the 429 message names.
_PERIODS: Final = (("hourly", "hour"), ("daily", "day"), ("weekly", "week"), ("monthly", "month"))


def count_request(
    limiter: FixedWindowLimiter, api_key: str, config: ConstructionOnlineConfig, now: float
) -> str | None:
    """Count one request against every window of ``api_key``; the 429 message when any is exceeded, else None.

    When several windows are exceeded the message names the one that reopens last: waiting for it is the
    only wait that helps.
    """
    blocking: list[tuple[int, int, str, int]] = []
    for period, unit in _PERIODS:
        limit = WindowLimit(period, getattr(config, f"{period}_limit"), getattr(config, f"{period}_window_seconds"))
        # One window per call, so the verdict tells which window blocks (the limiter keys windows by name).
        verdict = limiter.hit(api_key, [limit], now)
        if not verdict.allowed:
            blocking.append((verdict.retry_after, limit.seconds, unit, limit.limit))
    if not blocking:
        return None
    wait, _, unit, limit_count = max(blocking)
    return f"API rate limit exceeded: {limit_count} requests per {unit}. Try again in {wait} seconds."
