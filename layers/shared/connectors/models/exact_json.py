"""JSON that keeps money exact, read within bounds that a hostile producer cannot push past.

``json`` reads numbers with a fraction as binary floats and cannot write a Decimal as a number; pydantic's JSON
parser goes through floats too. Vendors that take money as JSON numbers (Oracle's Cost) get it through these.

``loads_exact`` refuses what would exhaust the stack or memory before anything large is built: nesting is
measured by a linear scan before parsing, and each number's size is checked before it is converted. String
lengths and member counts get a generic backstop; the real per-field limits are the vendor models'.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from itertools import accumulate
from typing import Any

from connectors.models.errors import field_path

MAX_DEPTH = 32
"""Nesting levels of arrays and objects: the deepest command (command, items, an item, its cost object) uses four."""

MAX_NUMBER_DIGITS = 40
"""Digits in one number: a 64-bit id has 19; the models' money at most 38."""

MAX_EXPONENT = 400
"""Largest exponent either way: a double written by any producer (JavaScript, Java) needs at most 324."""

MAX_STRING_CHARS = 1024 * 1024
"""Characters in one string or member name: a quarter of the largest request (4 MiB); model fields stop at 64 Ki."""

MAX_MEMBERS = 100_000
"""Items of one array or members of one object: ten times the longest list a model takes (10,000 updates)."""

# A string of more than MAX_STRING_CHARS takes that many characters between its quotes (escapes only lengthen
# it); a container of more than MAX_MEMBERS takes two characters per member. Shorter texts cannot break either.
_SHORTEST_OVERSIZED_TEXT = min(MAX_STRING_CHARS + 3, 2 * MAX_MEMBERS + 3)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_SCAN_CHUNK = 4096


class JsonInputError(ValueError):
    """JSON refused for its shape or size, not its syntax: where (``field``) and why (``reason``).

    ``field`` is a path such as ``items[3].changeOrderSovCost.total``, or ``(root)`` for the document as a whole.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(field, reason)
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


@dataclass(frozen=True, slots=True)
class _Refused:
    """Stands in for a number the parser's hooks would not build; the walk after parsing reports where it is."""

    reason: str


# Tuples, not unions: isinstance builds nothing per call, and the walk makes one call per value.
_CONTAINERS = (dict, list)
_CHECKED_SCALARS = (str, _Refused)


def loads_exact(text: str | bytes) -> Any:
    """Parse JSON with every non-integer number as a Decimal (integers stay exact ints), within bounds.

    Raises ``JsonInputError`` for bytes that are not UTF-8, nesting deeper than ``MAX_DEPTH``, a number with more
    than ``MAX_NUMBER_DIGITS`` digits or an exponent beyond ``MAX_EXPONENT``, NaN or Infinity, and (as a backstop)
    a string longer than ``MAX_STRING_CHARS`` or a container of more than ``MAX_MEMBERS``. JSON syntax errors
    raise ``json.JSONDecodeError``; both are ValueErrors.
    """
    if isinstance(text, bytes):
        try:
            # JSON between systems is UTF-8 (RFC 8259); a byte order mark is tolerated, as the standard allows.
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise JsonInputError("(root)", f"the bytes are not UTF-8 text (byte {error.start})") from None
    if _nests_too_deep(text):
        raise JsonInputError("(root)", f"nested deeper than {MAX_DEPTH} levels")
    refused: list[_Refused] = []  # per call: vendor answers are parsed on several threads at once
    value = json.loads(
        text,
        parse_int=partial(_integer, refused),
        parse_float=partial(_fraction, refused),
        parse_constant=partial(_not_a_number, refused),
    )
    if refused or len(text) >= _SHORTEST_OVERSIZED_TEXT:
        problem = _first_problem(value)
        if problem is not None:
            loc, reason = problem
            raise JsonInputError(field_path(loc), reason)
    return value


def _nests_too_deep(text: str) -> bool:
    """Whether arrays and objects nest deeper than ``MAX_DEPTH``, found in linear time without recursion."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    # With escaped backslashes and then escaped quotes removed (left to right, as a parser pairs them), every quote
    # opens or closes a string, so every other piece between quotes lies outside strings. A backslash outside a
    # string is a syntax error at which json stops, so the pieces agree with json up to where it reads.
    unescaped = text.replace("\\\\", "").replace('\\"', "")
    brackets = _NOT_A_BRACKET.sub("", "".join(unescaped.split('"')[::2]))
    depth = 0
    # A chunk at a time: a deep document is refused within the chunk where it passes the limit, not after a full pass.
    for start in range(0, len(brackets), _SCAN_CHUNK):
        levels = list(accumulate(map(_DEPTH_STEP.__getitem__, brackets[start : start + _SCAN_CHUNK]), initial=depth))
        if max(levels) > MAX_DEPTH:
            return True
        depth = levels[-1]
    return False


def _refuse(refused: list[_Refused], reason: str) -> _Refused:
    marker = _Refused(reason)
    refused.append(marker)
    return marker


def _integer(refused: list[_Refused], token: str) -> int | _Refused:
    digits = len(token) - token.startswith("-")
    if digits > MAX_NUMBER_DIGITS:
        return _refuse(refused, f"a number with {digits} digits (at most {MAX_NUMBER_DIGITS})")
    return int(token)


def _fraction(refused: list[_Refused], token: str) -> Decimal | _Refused:
    mantissa, _, exponent = token.lower().partition("e")
    digits = len(mantissa) - ("-" in mantissa) - ("." in mantissa)
    if digits > MAX_NUMBER_DIGITS:
        return _refuse(refused, f"a number with {digits} digits (at most {MAX_NUMBER_DIGITS})")
    magnitude = exponent.lstrip("+-").lstrip("0")
    # The length test comes first so that a thousand-digit exponent is never converted.
    if len(magnitude) > len(str(MAX_EXPONENT)) or int(magnitude or "0") > MAX_EXPONENT:
        shown = exponent if len(exponent) <= 20 else f"{exponent[:20]}..."
        return _refuse(refused, f"exponent {shown} is out of range (at most {MAX_EXPONENT} either way)")
    return Decimal(token)


def _not_a_number(refused: list[_Refused], token: str) -> _Refused:
    return _refuse(refused, f"{token} is not a JSON number")


def _first_problem(value: Any) -> tuple[tuple[str | int, ...], str] | None:
    """Where a refused number, an over-long string or an oversized container is, and why; None if nowhere.

    Iterative (an explicit stack), so no nesting reaches Python's recursion limit.
    """
    if not isinstance(value, dict | list):
        problem = _scalar_problem(value)
        return None if problem is None else ((), problem)
    containers: list[tuple[dict[str, Any] | list[Any], tuple[str | int, ...]]] = [(value, ())]
    while containers:
        node, loc = containers.pop()
        if len(node) > MAX_MEMBERS:
            members = (
                f"an object with {len(node)} members" if isinstance(node, dict) else f"an array of {len(node)} items"
            )
            return loc, f"{members} (at most {MAX_MEMBERS})"
        if isinstance(node, dict) and max(map(len, node), default=0) > MAX_STRING_CHARS:
            return loc, f"a member name longer than {MAX_STRING_CHARS} characters"
        for key, child in node.items() if isinstance(node, dict) else enumerate(node):
            if isinstance(child, _CONTAINERS):
                containers.append((child, (*loc, key)))
            elif isinstance(child, _CHECKED_SCALARS) and (problem := _scalar_problem(child)) is not None:
                return (*loc, key), problem
    return None


def _scalar_problem(value: Any) -> str | None:
    if isinstance(value, _Refused):
        return value.reason
    if isinstance(value, str) and len(value) > MAX_STRING_CHARS:
        return f"a string of {len(value)} characters (at most {MAX_STRING_CHARS})"
    return None


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
