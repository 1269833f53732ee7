"""DynamoDB's on-demand capacity units, from the size of each item a request writes or reads.

As AWS bills them: a write is one write request unit per 1 KB (rounded up) of the item, the larger of its size
before and after the write (a delete: the item deleted; a conditional write that fails still consumes them); a
strongly consistent read is one read request unit per 4 KB, an eventually consistent one half that; a
transactional request costs twice. An item's size is the sum of its attribute names and values, sized as
DynamoDB's developer guide describes ("Item sizes and formats").
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from typing import Any

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
_CONTAINER_OVERHEAD = 3  # a map or list: 3 bytes, plus 1 byte per element
_NUMBER_OVERHEAD = 1


def value_size(value: Mapping[str, Any]) -> int:
    """The bytes one typed attribute value (``{"S": ...}``, ``{"M": {...}}``, ...) takes in an item."""
    [(kind, content)] = value.items()
    if kind == "S":
        return len(str(content).encode())
    if kind == "N":
        return _number_size(str(content))
    if kind == "B":
        return len(_binary(content))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(member).encode()) for member in content)
    if kind == "NS":
        return sum(_number_size(str(member)) for member in content)
    if kind == "BS":
        return sum(len(_binary(member)) for member in content)
    if kind == "M":
        return _CONTAINER_OVERHEAD + sum(1 + len(name.encode()) + value_size(v) for name, v in content.items())
    if kind == "L":
        return _CONTAINER_OVERHEAD + sum(1 + value_size(member) for member in content)
    raise ValueError(f"not a DynamoDB attribute value type: {kind}")


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """The bytes an item (attribute name -> typed value) takes: every name and value."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size_bytes: int, *, transactional: bool = False) -> int:
    """Write request units of one item write: one per KB, rounded up, at least one; twice in a transaction."""
    units = max(1, math.ceil(size_bytes / WRITE_UNIT_BYTES))
    return 2 * units if transactional else units


def read_units(size_bytes: int, *, consistent: bool, transactional: bool = False) -> float:
    """Read request units of one item read: one per 4 KB (at least one), half if eventually consistent."""
    units = max(1, math.ceil(size_bytes / READ_UNIT_BYTES))
    if transactional:
        return 2.0 * units
    return float(units) if consistent else units / 2


def _number_size(text: str) -> int:
    # About one byte per two significant digits, plus one; leading and trailing zeroes do not count.
    digits = text.lstrip("-").replace(".", "").strip("0") or "0"
    return math.ceil(len(digits) / 2) + _NUMBER_OVERHEAD


def _binary(content: Any) -> bytes:
    return content if isinstance(content, bytes) else base64.b64decode(str(content))
