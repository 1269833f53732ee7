"""What every imitated vendor that hands out tokens shares: registered credentials, issued tokens, and reading
the ``Authorization`` header."""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from dataclasses import dataclass

from devkit.sandbox.messages import Request


@dataclass(frozen=True)
class IssuedToken:
    """A token and its owner (client or user); expired tokens are kept so requests using them still count."""

    owner: str
    expires_at: float

    def valid_at(self, now: float) -> bool:
        """Whether the token is still usable at ``now``."""
        return now < self.expires_at


class TokenRegistry:
    """Owners with their secrets, and the tokens issued to them. Not thread-safe: the caller holds its lock."""

    def __init__(self, builtin_owner: str, builtin_secret: str) -> None:
        self._secrets: dict[str, str] = {builtin_owner: builtin_secret}
        self._tokens: dict[str, IssuedToken] = {}

    def register(self, owner: str, secret: str) -> None:
        """Add an owner or replace its secret."""
        self._secrets[owner] = secret

    def authenticate(self, owner: str | None, secret: str | None) -> bool:
        """Whether the pair names a registered owner (compared in constant time)."""
        known = self._secrets.get(owner or "")
        return known is not None and secret is not None and hmac.compare_digest(known.encode(), secret.encode())

    def issue(self, owner: str, now: float, lifetime_seconds: int) -> str:
        """Issue a new random token for an authenticated owner."""
        token = secrets.token_urlsafe(32)
        self._tokens[token] = IssuedToken(owner, now + lifetime_seconds)
        return token

    def resolve(self, token: str | None) -> IssuedToken | None:
        """The token's record, expired or not; None for unknown tokens."""
        return self._tokens.get(token) if token else None

    def expire_all(self, now: float) -> int:
        """Make every issued token invalid from ``now`` on; return how many were still valid."""
        live = [token for token, issued in self._tokens.items() if issued.valid_at(now)]
        for token in live:
            self._tokens[token] = IssuedToken(self._tokens[token].owner, now)
        return len(live)


def _authorization(request: Request, scheme: str) -> str | None:
    found, _, value = (request.header("authorization") or "").strip().partition(" ")
    return (value.strip() or None) if found.lower() == scheme else None


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header (scheme case-insensitive), or None."""
    return _authorization(request, "bearer")


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """The (username, password) of an ``Authorization: Basic`` header, or None when absent or malformed."""
    encoded = _authorization(request, "basic")
    if encoded is None:
        return None
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, colon, password = decoded.partition(":")
    return (username, password) if colon else None
