"""The failure classes of docs/architecture.md: one place decides what every trigger does with a failure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class FailureClass(StrEnum):
    """Why a command did not end delivered."""

    INVALID_INPUT = "invalid_input"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    VENDOR_REJECTED = "vendor_rejected"
    RATE_LIMITED = "rate_limited"
    TRANSIENT = "transient"
    UNKNOWN_OUTCOME = "unknown_outcome"
    MISCONFIGURATION = "misconfiguration"


@dataclass(frozen=True)
class FieldProblem:
    """One invalid field: a dotted path such as ``body.updates[0].status`` and the reason."""

    field: str
    message: str


@dataclass(frozen=True)
class Policy:
    """What the API answers and whether a queued record is worth retrying."""

    api_status: int
    retryable: bool


POLICIES: dict[FailureClass, Policy] = {
    FailureClass.INVALID_INPUT: Policy(api_status=400, retryable=False),
    FailureClass.UNAUTHENTICATED: Policy(api_status=401, retryable=False),
    FailureClass.FORBIDDEN: Policy(api_status=403, retryable=False),
    FailureClass.VENDOR_REJECTED: Policy(api_status=422, retryable=False),
    FailureClass.RATE_LIMITED: Policy(api_status=429, retryable=True),
    FailureClass.TRANSIENT: Policy(api_status=502, retryable=True),
    # Resending a create whose outcome is unknown may duplicate it. The operation looks at the vendor first where
    # it can (Primavera Cloud); what is still unknown goes to the dead-letter queue for a person to check.
    FailureClass.UNKNOWN_OUTCOME: Policy(api_status=504, retryable=False),
    FailureClass.MISCONFIGURATION: Policy(api_status=500, retryable=True),
}


# When several failures hit one command, the one that decides its fate is the one most worth retrying: the
# retryable classes first (a wait the vendor named before all), then the permanent ones, the caller's own last, in
# the order the API checks them.
PRECEDENCE: tuple[FailureClass, ...] = (
    FailureClass.RATE_LIMITED,
    FailureClass.TRANSIENT,
    FailureClass.MISCONFIGURATION,
    FailureClass.UNKNOWN_OUTCOME,
    FailureClass.VENDOR_REJECTED,
    FailureClass.UNAUTHENTICATED,
    FailureClass.FORBIDDEN,
    FailureClass.INVALID_INPUT,
)


@dataclass
class ConnectorError(Exception):
    """A failure with its class. Messages never hold secrets: they are logged and returned to callers."""

    failure: FailureClass
    message: str
    vendor_status: int | None = None
    retry_after: float | None = None
    problems: list[FieldProblem] = field(default_factory=list)
    api_status_override: int | None = None

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @property
    def policy(self) -> Policy:
        """The reply and retry policy of this failure's class."""
        return POLICIES[self.failure]

    @property
    def api_status(self) -> int:
        """HTTP status the API answers with (a transient failure may say 503 or 504 instead of 502)."""
        return self.api_status_override or self.policy.api_status

    @property
    def retryable(self) -> bool:
        """Whether sending the same command again may succeed."""
        return self.policy.retryable


def deciding_failure(failures: Iterable[ConnectorError]) -> ConnectorError | None:
    """The failure that decides a command's fate: the first whose class ranks highest in ``PRECEDENCE``, else None."""
    return min(failures, key=lambda failure: PRECEDENCE.index(failure.failure), default=None)


def invalid_input(message: str, problems: list[FieldProblem] | None = None) -> ConnectorError:
    """The caller's input cannot be sent; ``problems`` name the fields."""
    return ConnectorError(FailureClass.INVALID_INPUT, message, problems=problems or [])


def too_large(size: int, limit: int) -> ConnectorError:
    """A request body over the limit: refused before anything reads it."""
    return ConnectorError(
        FailureClass.INVALID_INPUT,
        f"request body is {size} bytes; at most {limit} are accepted (split it, or send it through the queue)",
        api_status_override=413,
    )


def unauthenticated(message: str) -> ConnectorError:
    """The caller did not prove who it is."""
    return ConnectorError(FailureClass.UNAUTHENTICATED, message)


def forbidden(message: str) -> ConnectorError:
    """A known caller asked for a function or connection its entry in the webhook secret does not allow."""
    return ConnectorError(FailureClass.FORBIDDEN, message)


def vendor_rejected(message: str, vendor_status: int | None = None) -> ConnectorError:
    """The vendor refused the content; sending it again unchanged will not help."""
    return ConnectorError(FailureClass.VENDOR_REJECTED, message, vendor_status=vendor_status)


def rate_limited(message: str, retry_after: float, vendor_status: int | None = 429) -> ConnectorError:
    """The vendor's limit is used up for ``retry_after`` seconds."""
    return ConnectorError(FailureClass.RATE_LIMITED, message, vendor_status=vendor_status, retry_after=retry_after)


OUT_OF_TIME_RETRY_SECONDS = 1.0


def out_of_time() -> ConnectorError:
    """A record not tried because the invocation's time for it ran out (a slow table took it).

    Rate-limited, not transient: nothing failed, the capacity that ran out was the invocation's, as a vendor's
    window runs out. So it comes back in a second, with no backoff, no retry budget spent, and is never
    dead-lettered for waiting.
    """
    return rate_limited(
        "this invocation ran out of time before the record's turn; retrying",
        retry_after=OUT_OF_TIME_RETRY_SECONDS,
        vendor_status=None,
    )


def transient(
    message: str, vendor_status: int | None = None, retry_after: float | None = None, api_status: int = 502
) -> ConnectorError:
    """A failure that a later attempt may not meet (5xx, 503, connection trouble)."""
    return ConnectorError(
        FailureClass.TRANSIENT,
        message,
        vendor_status=vendor_status,
        retry_after=retry_after,
        api_status_override=api_status,
    )


def unknown_outcome(message: str) -> ConnectorError:
    """A request was sent and no answer came: the vendor may or may not have applied it."""
    return ConnectorError(FailureClass.UNKNOWN_OUTCOME, message)


def misconfiguration(message: str, vendor_status: int | None = None) -> ConnectorError:
    """A missing secret or credentials the vendor refuses: an operator has to act."""
    return ConnectorError(FailureClass.MISCONFIGURATION, message, vendor_status=vendor_status)


# How long a caller waits before trying again when an AWS dependency or the webhook secret is not available.
UNAVAILABLE_RETRY_SECONDS = 30.0


def service_unavailable() -> ConnectorError:
    """The function cannot check callers (no valid webhook secret) or start: every caller is told only to wait."""
    return ConnectorError(
        FailureClass.MISCONFIGURATION,
        "the service is unavailable right now; retry later",
        retry_after=UNAVAILABLE_RETRY_SECONDS,
        api_status_override=503,
    )


def unexpected(error: BaseException, doing: str) -> ConnectorError:
    """A failure for an exception of a type nobody expected: transient, named by its type only.

    Its message may carry data (a body, a credential), so it is not repeated; the stack is logged where it is caught.
    """
    return transient(f"unexpected {type(error).__name__} while {doing}")
