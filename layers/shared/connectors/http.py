"""Vendor HTTP plumbing on httpx: timeouts, retries with backoff, rate-limit waits, error classes.

One ``VendorHttp`` serves one vendor connection (its rate-limit pause is that connection's). It never waits
or retries past the invocation's deadline: when the time is not there it raises the failure with the wait
that was needed, and the trigger decides (an API 429/503 with Retry-After, a queued record made invisible).
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from connectors.deadline import Deadline
from connectors.failures import (
    ConnectorError,
    FailureClass,
    misconfiguration,
    rate_limited,
    transient,
    unknown_outcome,
    vendor_rejected,
)
from connectors.limiter import Limiter, LocalLimiter
from connectors.observability import metrics

# Transport errors raised before a single byte of the request left: a retry cannot duplicate anything.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_MESSAGE_LIMIT = 500


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one vendor call."""

    attempts: int = 4
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    timeout: float = 10.0
    connect_timeout: float = 3.0
    minimum_attempt_time: float = 1.0
    rate_limit_fallback: float = 8.0
    """Seconds to wait after a 429 that says neither Retry-After nor X-Rate-Limit-Reset."""
    wait_from_body: Callable[[httpx.Response], float | None] | None = None
    """For vendors that say how long to wait only in a 429's body."""


# A sender that slept this long for its slot reads the pauses every container recorded before it goes.
FRESH_PAUSE_AFTER_SECONDS = 1.0


class VendorHttp:
    """Sends requests for one vendor connection with the retry rules of docs/architecture.md.

    Before every attempt it takes a slot from ``limiter`` (this process's own when none is given) and tells it
    of every pause the vendor asks for, so that a shared limiter holds all warm containers to one budget.
    """

    def __init__(
        self,
        client: httpx.Client,
        vendor: str,
        policy: RetryPolicy | None = None,
        *,
        limiter: Limiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._client = client
        self.vendor = vendor
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._jitter = jitter
        self._limiter = limiter or LocalLimiter(wall_clock=wall_clock)

    def book_ahead(self, requests: int, deadline: Deadline) -> None:
        """Book slots for ``requests`` requests about to be sent, at once (one write of a shared limiter)."""
        self._limiter.book_ahead(requests, within=deadline.remaining() - self.policy.minimum_attempt_time)

    def send(
        self,
        request: httpx.Request,
        deadline: Deadline,
        *,
        auth: httpx.Auth | None = None,
        idempotent: bool,
    ) -> httpx.Response:
        """Send ``request``, retrying what is safe to retry; return the first response that is not retried.

        ``idempotent`` says whether sending twice is harmless. When it is not, a request that may have
        reached the vendor without an answer raises an unknown-outcome failure instead of being resent.
        4xx answers other than 429 come back to the caller, who knows what they mean for its operation.
        """
        attempt = 0
        while True:
            attempt += 1
            self._require_time_for_an_attempt(deadline)
            self._wait_for_slot(deadline)
            self._require_time_for_an_attempt(deadline)  # the limiter's table and the wait took some of it
            timeout = min(self.policy.timeout, deadline.remaining())
            request.extensions["timeout"] = httpx.Timeout(
                timeout, connect=min(self.policy.connect_timeout, timeout)
            ).as_dict()
            started = time.perf_counter()
            try:
                response = self._client.send(request, auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT)
            except httpx.TransportError as error:
                _record_latency(started)
                failure = self._transport_failure(error, idempotent)
                self._back_off_or_raise(failure, attempt, deadline)
                continue
            _record_latency(started)
            refusal = self._status_failure(response)
            self._note_pause(response, refusal)
            if refusal is None:
                return response
            self._back_off_or_raise(refusal, attempt, deadline)

    def _transport_failure(self, error: httpx.TransportError, idempotent: bool) -> ConnectorError:
        kind = type(error).__name__
        if isinstance(error, _NOT_SENT):
            return transient(f"{self.vendor}: could not connect ({kind})", api_status=502)
        if not idempotent:
            raise unknown_outcome(f"{self.vendor}: the request was sent but no answer came ({kind})") from None
        status = 504 if isinstance(error, httpx.TimeoutException) else 502
        return transient(f"{self.vendor}: no answer ({kind})", api_status=status)

    def _status_failure(self, response: httpx.Response) -> ConnectorError | None:
        status = response.status_code
        if status == 429:
            wait = (
                self._retry_after(response)
                or self._until_reset(response)
                or (self.policy.wait_from_body and self.policy.wait_from_body(response))
                or self.policy.rate_limit_fallback
            )
            return rate_limited(f"{self.vendor}: rate limited: {vendor_message(response)}", retry_after=wait)
        if status == 503:
            return transient(
                f"{self.vendor}: unavailable: {vendor_message(response)}",
                vendor_status=status,
                retry_after=self._retry_after(response),
                api_status=503,
            )
        if status >= 500:
            return transient(f"{self.vendor}: server error {status}: {vendor_message(response)}", vendor_status=status)
        return None

    def _back_off_or_raise(self, failure: ConnectorError, attempt: int, deadline: Deadline) -> None:
        if failure.retry_after is not None:
            wait = failure.retry_after
        else:
            ceiling = min(self.policy.backoff_cap, self.policy.backoff_base * 2 ** (attempt - 1))
            wait = ceiling * self._jitter()  # full jitter: spread the retries of many containers
        if attempt >= self.policy.attempts or not deadline.allows(wait + self.policy.minimum_attempt_time):
            if failure.retry_after is None:
                failure.retry_after = round(wait, 3)
            raise failure
        if failure.failure is FailureClass.RATE_LIMITED:
            _record_rate_limit_wait(wait)
        self._sleep(wait)

    def _note_pause(self, response: httpx.Response, refusal: ConnectorError | None) -> None:
        # The limiter passes the vendor's pause on (to every container when it is shared). Remaining 0 means
        # the next call would be refused: pause until the window resets instead of spending it.
        if refusal is not None and refusal.failure is FailureClass.RATE_LIMITED:
            wait = refusal.retry_after
        elif response.headers.get("X-Rate-Limit-Remaining") == "0":
            wait = self._until_reset(response)
        else:
            return
        if wait:
            self._limiter.pause_until(self._wall_clock() + wait)

    def _require_time_for_an_attempt(self, deadline: Deadline) -> None:
        if deadline.remaining() < self.policy.minimum_attempt_time:
            raise transient(f"{self.vendor}: no time left in this invocation for another attempt", api_status=504)

    def _wait_for_slot(self, deadline: Deadline) -> None:
        while True:
            # Only a slot the request can still use before the deadline is booked: a later one would go to waste.
            slot = self._limiter.reserve(within=deadline.remaining() - self.policy.minimum_attempt_time)
            if not slot.booked:
                raise rate_limited(
                    f"{self.vendor}: no request slot left before this invocation's deadline",
                    retry_after=round(slot.wait, 3),
                    vendor_status=None,
                )
            if slot.wait <= 0:
                return
            _record_rate_limit_wait(slot.wait)
            self._sleep(slot.wait)
            # A pause that began while this sender slept voids its slot: wait the pause out, then book again. After
            # a long sleep any container's pause is read (a table read per request is small next to the wait);
            # after a short one this process's pauses are enough: one another container began in that second costs
            # a refused call, which pauses this process too, and a read per request cost the bench more.
            held = self._limiter.held(everywhere=slot.wait >= FRESH_PAUSE_AFTER_SECONDS)
            if held <= 0:
                return
            if not deadline.allows(held + self.policy.minimum_attempt_time):
                raise rate_limited(
                    f"{self.vendor}: paused by the vendor", retry_after=round(held, 3), vendor_status=None
                )
            _record_rate_limit_wait(held)
            self._sleep(held)

    def _retry_after(self, response: httpx.Response) -> float | None:
        value = response.headers.get("Retry-After")
        if value is None:
            return None
        if value.strip().isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            return None
        return max(0.0, when - self._wall_clock())

    def _until_reset(self, response: httpx.Response) -> float | None:
        value = response.headers.get("X-Rate-Limit-Reset", "")
        if not value.isdigit():
            return None
        return max(1.0, float(value) - self._wall_clock())


def _record_latency(started: float) -> None:
    """One vendor call's time, answered or not, for the dashboard's p50 and p99 (``VendorCallLatency``)."""
    metrics.add_metric(name="VendorCallLatency", unit="Milliseconds", value=(time.perf_counter() - started) * 1000)


def _record_rate_limit_wait(seconds: float) -> None:
    """Time a sender waits for a rate-limit slot or a vendor's pause (``RateLimitWaitSeconds``)."""
    metrics.add_metric(name="RateLimitWaitSeconds", unit="Seconds", value=seconds)


def vendor_message(response: httpx.Response) -> str:
    """The vendor's own error text from any of the shapes seen in the wild, shortened for logs and replies."""
    try:
        body: Any = response.json()
    except ValueError:
        return response.text.strip()[:_MESSAGE_LIMIT] or response.reason_phrase
    return _message_from(body)[:_MESSAGE_LIMIT] or response.reason_phrase


def _message_from(body: Any) -> str:
    if isinstance(body, str):
        return body
    if isinstance(body, list):
        return "; ".join(_message_from(item) for item in body)
    if not isinstance(body, dict):
        return str(body)
    for key in ("message", "Message", "error_description", "errors", "error", "detail"):
        if key in body:
            inner = body[key]
            if isinstance(inner, dict) and not ({"message", "Message"} & inner.keys()):
                return "; ".join(f"{field}: {_message_from(text)}" for field, text in inner.items())
            text = _message_from(inner)
            detail = body.get("MessageDetail")
            return f"{text} ({detail})" if detail else text
    return str(body)


def classify_refusal(vendor: str, response: httpx.Response) -> ConnectorError:
    """The failure class of a 4xx answer that was not retried (401/403: credentials; others: the content)."""
    status = response.status_code
    message = f"{vendor} answered {status}: {vendor_message(response)}"
    if status in (401, 403):
        return misconfiguration(message, vendor_status=status)
    return vendor_rejected(message, vendor_status=status)
