"""How a failure is logged: one warning line per failure; an exception nobody expected once, with its stack."""

from __future__ import annotations

from typing import Any

from connectors.failures import ConnectorError, unexpected
from connectors.observability import logger, metrics


def caught_unexpected(error: BaseException, doing: str) -> ConnectorError:
    """Log an exception nobody expected once, with its stack, count it, and return its transient failure."""
    logger.exception(f"unexpected {type(error).__name__} while {doing}")
    metrics.add_metric(name="UnexpectedErrors", unit="Count", value=1)
    return unexpected(error, doing)


def log_failure(failure: ConnectorError, **extra: Any) -> None:
    """One warning line per failure: its class, vendor status and message (messages never hold secrets)."""
    logger.warning(
        failure.message,
        extra={"failure": failure.failure.value, "vendor_status": failure.vendor_status, **extra},
    )
