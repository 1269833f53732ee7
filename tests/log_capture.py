"""What the functions' shared logger writes, captured through the formatter it registered (redaction included)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from connectors.observability import logger


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """Every line the shared logger writes while inside, formatted as Powertools formats it."""
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(logger.registered_formatter)
    target = logging.getLogger(logger.name)
    target.addHandler(handler)
    try:
        yield captured
    finally:
        target.removeHandler(handler)


@contextmanager
def captured_log_records() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Like ``captured_logs``, read back as parsed JSON records."""
    with captured_logs() as captured:
        yield lambda: [json.loads(line) for line in captured.getvalue().splitlines()]
