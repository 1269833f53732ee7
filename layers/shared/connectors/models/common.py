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


def _exact_integer(value: Any) -> Any:
    # JSON producers in JavaScript lose precision above 2^53, so a digit string is accepted as well;
    # floats and booleans are refused rather than rounded.
    if isinstance(value, bool | float):
        raise ValueError("must be an integer id (a JSON integer or a string of digits), not a float or boolean")
    if isinstance(value, str):
        if not value.strip().isdigit():
            raise ValueError("must be an integer id (a JSON integer or a string of digits)")
        return int(value)
    return value


# The bounds come before the validator: placed after it, pydantic writes them into JSON Schema as "ge"/"le",
# which no JSON Schema reader knows. The upper bound is exclusive at 2^63 rather than inclusive at 2^63 - 1 (the
# same integers): OpenAPI tools hold bounds as binary floats, and 2^63 is one they keep exact.
VendorId = Annotated[int, Field(ge=1, lt=INT64_MAX + 1), BeforeValidator(_exact_integer)]
"""A vendor's 64-bit id: exact integers only."""
