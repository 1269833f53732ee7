"""JSON that keeps Oracle's money exact: fractions are read as Decimal and written back without a float."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Final

# Beyond this many fraction digits a Decimal is written in exponent form, so "1e-999999999" does not expand
# into a billion zeros; plain-written numbers never come near it.
_MAX_PLAIN_FRACTION_DIGITS: Final = 1000


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def loads_exact(body: bytes) -> object:
    """Parse strict JSON (no NaN/Infinity) with every number that has a fraction or exponent as a Decimal.

    Raises ValueError when the body is not JSON.
    """
    return json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)


def dumps_exact(value: object) -> str:
    """Write JSON with Decimals as JSON numbers, digit for digit as they were parsed ("0.10" stays "0.10")."""
    if isinstance(value, Decimal):
        return _number_text(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(key))}:{dumps_exact(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps_exact(item) for item in value) + "]"
    return json.dumps(value, allow_nan=False)


def _number_text(value: Decimal) -> str:
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int):  # NaN/Infinity: loads_exact never produces them
        raise ValueError("JSON has no NaN or Infinity")
    # str() would write 0.0000001 as 1E-7; "f" keeps a plain-written number exactly as it was written.
    if -_MAX_PLAIN_FRACTION_DIGITS <= exponent <= 0:
        return format(value, "f")
    return str(value)  # exponent form, e.g. 1.5E+3: valid JSON, same value
