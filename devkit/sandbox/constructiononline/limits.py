"""ConstructionOnline's four rate windows per API key, and the message of a 429."""

from __future__ import annotations

import math
from typing import Final

from devkit.sandbox.constructiononline.config import ConstructionOnlineConfig
from devkit.sandbox.ratelimit import FixedWindowLimiter, WindowLimit

# How many of ``limit_message``'s wordings each ``limit_wordings`` setting rotates through.
_WORDINGS: Final = {"documented": 1, "varied": 3, "any": 4}
# Config prefix and the unit the 429 message names.
_PERIODS: Final = (("hourly", "hour"), ("daily", "day"), ("weekly", "week"), ("monthly", "month"))


def count_request(
    limiter: FixedWindowLimiter, api_key: str, config: ConstructionOnlineConfig, now: float, refusals: int = 0
) -> str | None:
    """Count one request against every window of ``api_key``; the 429 message when any is exceeded, else None.

    When several windows are exceeded the message names the one that reopens last: waiting for it is the
    only wait that helps. ``refusals`` (how many 429s came before) picks the wording when they vary.
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
    return limit_message(refusals % _WORDINGS[config.limit_wordings], limit_count, unit, wait)


def injected_limit_message(config: ConstructionOnlineConfig, refusals: int) -> str:
    """The message of a 429 a fault injects: the hourly window's, with a wait of one second."""
    return limit_message(refusals % _WORDINGS[config.limit_wordings], config.hourly_limit, "hour", 1)


def limit_message(wording: int, limit: int, unit: str, wait: int) -> str:
    """A 429's message in one of four wordings; the last states no wait, only the window."""
    if wording == 1:
        after = f"{math.ceil(wait / 60)} minute(s)" if wait >= 60 else f"{wait} second(s)"
        return f"Rate limit of {limit} calls per {unit} reached. Please retry after {after}."
    if wording == 2:
        hours, rest = divmod(wait, 3600)
        resets = f"{hours:02}:{rest // 60:02}:{rest % 60:02}"
        return f"Too many requests for this API key ({limit}/{unit}). Quota resets in {resets}."
    if wording == 3:
        adverb = "daily" if unit == "day" else f"{unit}ly"
        return f"Your {adverb} quota of {limit} requests is used up."
    return f"API rate limit exceeded: {limit} requests per {unit}. Try again in {wait} seconds."
