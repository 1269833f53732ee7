"""Field types every vendor's command model shares."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

# A connection name is part of a Secrets Manager id: keep it to characters that cannot climb out of
# <prefix>/<vendor>/ (no slashes, no dots).
CONNECTION_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
ConnectionName = Annotated[str, Field(pattern=CONNECTION_PATTERN, description="Connection (secret) name")]
DEFAULT_CONNECTION = "default"

INT64_MAX = 2**63 - 1
_INT64_DIGITS = len(str(INT64_MAX))

CODE_CHARS = 255
"""Codes, numbers and keys. No vendor documents a length for these; 255 is the common column size (Procore's
origin_id is 255) and far beyond any code a person types or a system generates."""

TEXT_CHARS = 65_535
"""Names, titles, descriptions and opaque data. No vendor documents a length; 64 Ki characters (a TEXT column) is
more than a change order's description ever holds, and keeps one field from taking most of a 4 MiB request."""

Code = Annotated[str, Field(max_length=CODE_CHARS)]
"""A code, number or key: at most CODE_CHARS characters."""
LongText = Annotated[str, Field(max_length=TEXT_CHARS)]
"""A name, title or description: at most TEXT_CHARS characters."""


def _exact_integer(value: Any) -> Any:
    # JSON producers in JavaScript lose precision above 2^53, so a digit string is accepted as well;
    # floats and booleans are refused rather than rounded.
    if isinstance(value, bool | float):
        raise ValueError("must be an integer id (a JSON integer or a string of digits), not a float or boolean")
    if isinstance(value, str):
        digits = value.strip()
        if not digits.isdecimal():  # isdigit() would pass "²", which int() cannot read
            raise ValueError("must be an integer id (a JSON integer or a string of digits)")
        # More digits than 2^63 - 1 has (leading zeros aside) is out of range: refused before int() reads it.
        if len(digits.lstrip("0")) > _INT64_DIGITS:
            raise ValueError(f"must be a 64-bit integer id (at most {INT64_MAX})")
        return int(digits)
    return value


# The bounds come before the validator: placed after it, pydantic writes them into JSON Schema as "ge"/"le",
# which no JSON Schema reader knows. The upper bound is exclusive at 2^63 rather than inclusive at 2^63 - 1 (the
# same integers): OpenAPI tools hold bounds as binary floats, and 2^63 is one they keep exact.
VendorId = Annotated[int, Field(ge=1, lt=INT64_MAX + 1), BeforeValidator(_exact_integer)]
"""A vendor's 64-bit id: exact integers only."""

INT32_MAX = 2**31 - 1
Int32Id = Annotated[int, Field(ge=1, le=INT32_MAX), BeforeValidator(_exact_integer)]
"""A vendor's 32-bit id (ConstructionOnline binds ids to System.Int32): exact integers only."""
