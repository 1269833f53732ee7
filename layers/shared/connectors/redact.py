"""The one redaction step every reply, log record, dead-letter attribute and trace annotation passes through.

Two things are taken out, each replaced by ``[redacted]``:

- values this process learnt are secret: every value of a secret read (``SecretStore``) and every auth header
  issued (``CachedAuth``), in the forms a vendor could echo them (as is, JSON-escaped, URL-encoded, a header's
  credential without its scheme);
- anything shaped like a credential, known or not: ``Bearer <x>``, ``Basic <x>``, and the value after
  ``Authorization``, ``APIKey``, ``access_token``, ``client_secret``, ``password``, ... in headers, query strings,
  form bodies and JSON (``=``, ``:``, ``"key": "value"``, also JSON-escaped inside a string).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

MARKER = "[redacted]"

# Shorter values would take ordinary words and numbers out of every message; no credential is this short.
MIN_SECRET_LENGTH = 4

_SCHEMES = r"(?i:bearer|basic|digest)"
# A header value with its scheme: the credential alone is what a vendor most often echoes.
_SCHEMED_VALUE = re.compile(rf"^{_SCHEMES}\s+(\S+)$")
# ``Bearer <credential>``, unless the word after the scheme is prose ("bearer token not accepted", "Basic
# credentials"): a single plain word, capitalised at most, that no token character or ``.x`` continues.
_CREDENTIAL_AFTER_SCHEME = re.compile(
    rf"\b({_SCHEMES}\s+)(?![A-Za-z][a-z]*(?![A-Za-z0-9_~+/=-]|\.[A-Za-z0-9]))[A-Za-z0-9._~+/-]+=*"
)
# Names whose value is a credential (also inside longer ones: Proxy-Authorization, X-API-Key).
_CREDENTIAL_NAMES = (
    r"authorization|api[-_]?key|access[-_]?token|refresh[-_]?token|id[-_]?token|client[-_]?secret"
    r"|password|passwd|secret|token"
)
# ``key=value``, ``key: value``, ``"key": "value"`` and ``\"key\": \"value\"``. An Authorization value that
# starts with a scheme is left to the rule above, which keeps the scheme readable.
_CREDENTIAL_VALUE = re.compile(
    rf"(?i)\b({_CREDENTIAL_NAMES})\b(\\?[\"']?\s*[:=]\s*\\?[\"']?)(?!{_SCHEMES}(?![\w~+/=-]))[^\s\"'\\&,;<>(){{}}\[\]]+"
)

# Every name and scheme above contains one of these, lower-cased.
_CREDENTIAL_HINTS = ("auth", "key", "token", "secret", "passw", "bearer", "basic", "digest")


class Redactor:
    """Known secret values and credential shapes, taken out of text. Thread-safe."""

    def __init__(self) -> None:
        self._remembered: frozenset[str] = frozenset()
        self._known: frozenset[str] = frozenset()  # the remembered values and their echoed forms
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def remember(self, *values: str) -> None:
        """Treat ``values`` (and the forms a vendor could echo them in) as secret from now on."""
        new = {value for value in values if len(value) >= MIN_SECRET_LENGTH} - self._remembered
        if not new:  # values seen before: the common case, on every secret read from the cache
            return
        forms = {form for value in new for form in _echoed_forms(value)}
        with self._lock:
            known = self._known | forms
            # Longest first: the first alternative that matches wins, so a value containing another goes whole.
            self._pattern = re.compile("|".join(re.escape(value) for value in sorted(known, key=len, reverse=True)))
            self._known = known
            self._remembered |= new

    def redact(self, text: str) -> str:
        """``text`` without any known secret value or anything shaped like a credential."""
        pattern = self._pattern  # one read: remember() may swap it meanwhile
        if pattern is not None:
            text = pattern.sub(MARKER, text)
        # The shape rules are case-insensitive, which re runs slowly: most lines have no hint and skip them.
        lowered = text.lower()
        if any(hint in lowered for hint in _CREDENTIAL_HINTS):
            text = _CREDENTIAL_VALUE.sub(rf"\1\2{MARKER}", text)
            text = _CREDENTIAL_AFTER_SCHEME.sub(rf"\1{MARKER}", text)
        return text


def _echoed_forms(value: str) -> Iterator[str]:
    yield value
    yield json.dumps(value)[1:-1]
    yield json.dumps(value, ensure_ascii=False)[1:-1]
    yield quote(value, safe="")
    yield quote_plus(value)
    schemed = _SCHEMED_VALUE.match(value)
    if schemed and len(schemed[1]) >= MIN_SECRET_LENGTH:
        yield from _echoed_forms(schemed[1])


_registry = Redactor()


def remember(*values: str) -> None:
    """Treat ``values`` as secret in everything this process logs, answers or dead-letters from now on."""
    _registry.remember(*values)


# What no reply (JSON, which is UTF-8) or message attribute (XML 1.0) can carry: lone surrogates, the control codes
# but tab and newlines, and the two non-characters. Hostile input puts them in field names that errors repeat.
_UNSENDABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def redact(text: str) -> str:
    """``text`` without the secrets this process learnt or anything shaped like a credential, and sendable.

    Characters no reply or message attribute can carry are written as ``\\uXXXX`` escapes.
    """
    return _UNSENDABLE.sub(lambda found: f"\\u{ord(found[0]):04x}", _registry.redact(text))
