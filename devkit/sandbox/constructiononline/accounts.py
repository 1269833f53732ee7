"""ConstructionOnline credentials: accounts (email, password, API key) and the Basic header parser."""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from typing import Final

from devkit.sandbox.messages import Request

BUILTIN_EMAIL: Final = "sandbox@example.com"
BUILTIN_PASSWORD: Final = "sandbox-password"  # noqa: S105 - published dev-only credential
BUILTIN_API_KEY: Final = "sandbox-api-key"


@dataclass(frozen=True)
class Account:
    """One ConstructionOnline login and the API key issued to it."""

    email: str
    password: str
    api_key: str


class AccountRegistry:
    """Accounts by email (case-insensitive, as logins are). Not thread-safe: the caller holds its lock."""

    def __init__(self) -> None:
        self._accounts: dict[str, Account] = {}
        self.register(Account(BUILTIN_EMAIL, BUILTIN_PASSWORD, BUILTIN_API_KEY))

    def register(self, account: Account) -> None:
        """Add an account or replace the password and key of the one with the same email."""
        self._accounts[account.email.casefold()] = account

    def authenticate(self, request: Request) -> Account | None:
        """The account whose Basic credentials and ``APIKey`` header the request carries, or None."""
        credentials = basic_credentials(request)
        api_key = request.header("apikey")
        if credentials is None or api_key is None:
            return None
        email, password = credentials
        account = self._accounts.get(email.casefold())
        if account is None:
            return None
        # Both compared in full (no short-circuit) so timing does not tell which one was wrong.
        password_ok = hmac.compare_digest(account.password.encode(), password.encode())
        key_ok = hmac.compare_digest(account.api_key.encode(), api_key.encode())
        return account if password_ok and key_ok else None


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """``(user, password)`` from ``Authorization: Basic <base64>`` (scheme case-insensitive), or None.

    UTF-8 is tried first, then ISO-8859-1, which the vendor's own C# sample uses to encode the pair.
    """
    scheme, _, encoded = (request.header("authorization") or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        return None
    try:
        pair = raw.decode("utf-8")
    except UnicodeDecodeError:
        pair = raw.decode("iso-8859-1")
    user, colon, password = pair.partition(":")
    return (user, password) if colon else None
