"""JSON that keeps money exact: numbers with a fraction are read as Decimal and written back digit for digit.

``json`` reads such numbers as binary floats and cannot write a Decimal as a number; pydantic's JSON parser
goes through floats too. Vendors that take money as JSON numbers (Oracle's Cost) get it through these.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


def loads_exact(text: str | bytes) -> Any:
    """Parse JSON with every non-integer number as a Decimal (integers stay exact ints)."""
    return json.loads(text, parse_float=Decimal)


def dumps_exact(value: Any) -> str:
    """Write JSON with Decimals as plain numbers (no exponent, no rounding)."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("JSON has no NaN or Infinity")
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps_exact(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps_exact(item) for item in value) + "]"
    return json.dumps(value, allow_nan=False)
