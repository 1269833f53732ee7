"""Auth headers cached per connection and renewed once when the vendor answers 401.

Every vendor's auth is a ``fetch`` that turns the connection secret into request headers (a token request
for OAuth-style vendors, the stored credentials for static ones). ``fresh=True`` asks it to read the secret
again, not from cache: after a refusal the credentials may have been rotated.
"""

from __future__ import annotations

import base64
import math
import threading
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from connectors.failures import ConnectorError, FailureClass, misconfiguration, transient
from connectors.http import vendor_message
from connectors.redact import remember

# Renew this long before a token expires, so it never runs out between check and use.
EXPIRY_MARGIN_SECONDS = 60.0


@dataclass(frozen=True)
class Issued:
    """Headers to send, and until when (monotonic seconds) they are good."""

    headers: Mapping[str, str]
    expires_at: float = math.inf


Fetch = Callable[[bool], tuple[Mapping[str, str], float | None]]
"""``fetch(fresh) -> (headers, lifetime in seconds or None for credentials that do not expire)``."""


def request_token(vendor: str, send: Callable[[], httpx.Response]) -> dict[str, Any]:
    """Call a token endpoint through ``send`` and return its JSON; map its failures to their classes.

    A 429 or 5xx is transient; any other refusal means the connection's credentials are wrong (a
    misconfiguration, which ``CachedAuth`` answers by reading the secret again once).
    """
    try:
        response = send()
    except httpx.TransportError as error:
        raise transient(f"{vendor} token endpoint unreachable ({type(error).__name__})") from None
    if response.status_code >= 500 or response.status_code == 429:
        raise transient(f"{vendor} token endpoint answered {response.status_code}", response.status_code)
    if response.status_code != 200:
        raise misconfiguration(
            f"{vendor} refused the connection's credentials: {vendor_message(response)}",
            vendor_status=response.status_code,
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        # A proxy's or maintenance page's 200, most likely: a later attempt may meet the real endpoint.
        raise transient(f"{vendor} token endpoint answered 200 with a body that is not a JSON object", 200)
    return body


def token_field(vendor: str, body: Mapping[str, Any], *names: str) -> str:
    """The token in a token endpoint's JSON, under the first of ``names`` it has.

    A reply without one is a misconfiguration (wrong endpoint or grant for the connection). The error names the
    field, never the body: it may hold other credentials.
    """
    for name in names:
        value = body.get(name)
        if isinstance(value, str) and value:
            return value
    raise misconfiguration(f"{vendor} token endpoint answered 200 without {' or '.join(names)}")


def token_lifetime(body: Mapping[str, Any], *names: str) -> float:
    """Seconds the token is good for, from the first of ``names`` that is a non-negative number (or its text).

    Missing or unusable (text that is no number, negative, not finite), it is 0: the token serves the call at
    hand and is asked for again next time. The token itself is good, so failing the delivery would be wrong, and a
    guessed lifetime could outlast it.
    """
    for name in names:
        value = body.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            continue
        try:
            seconds = float(value)
        except (ValueError, OverflowError):
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return 0.0


def basic_authorization(username: str, password: str) -> str:
    """An HTTP Basic ``Authorization`` value (UTF-8, as httpx sends it), remembered for redaction."""
    value = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    remember(value)
    return value


class CachedAuth(httpx.Auth):
    """httpx auth for one connection: cached headers, renewed (secret re-read) once after a 401."""

    def __init__(self, fetch: Fetch, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._clock = clock
        self._issued: Issued | None = None
        self._refused = False
        self._lock = threading.Lock()  # one renewal in flight at a time

    def current(self) -> Issued:
        """Headers good for at least ``EXPIRY_MARGIN_SECONDS`` more."""
        with self._lock:
            if self._issued is None or self._clock() >= self._issued.expires_at:
                self._issued = self._renew()
            return self._issued

    def invalidate(self, issued: Issued) -> None:
        """Forget ``issued`` after the vendor refused it (unless another call has replaced it already)."""
        with self._lock:
            if self._issued is issued:
                self._issued = None
                self._refused = True

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        """httpx's hook: send with the cached headers; on 401 renew them and send once more."""
        issued = self.current()
        request.headers.update(issued.headers)
        response = yield request
        if response.status_code == 401:
            self.invalidate(issued)
            request.headers.update(self.current().headers)
            yield request

    def _renew(self) -> Issued:
        try:
            headers, lifetime = self._fetch(self._refused)
        except ConnectorError as failure:
            if failure.failure is not FailureClass.MISCONFIGURATION or self._refused:
                raise
            # Refused with the cached secret: it may have been rotated since, so read it once more.
            headers, lifetime = self._fetch(True)
        self._refused = False
        remember(*headers.values())  # a vendor may echo them in an error text
        expires_at = math.inf if lifetime is None else self._clock() + max(0.0, lifetime - EXPIRY_MARGIN_SECONDS)
        return Issued(dict(headers), expires_at)
