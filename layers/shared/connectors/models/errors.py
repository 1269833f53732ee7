"""The shared error model: what every API error reply and every dead-letter reason looks like."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from connectors.failures import ConnectorError, FieldProblem, invalid_input
from connectors.redact import redact

# Pydantic's wording for these is about Python, not about the vendor's payload.
_MESSAGES = {
    "extra_forbidden": "unknown field: not part of the vendor's schema",
    "missing": "required field is missing",
    "int_from_float": "must be an integer (ids are 64-bit and must not pass through floats)",
}


def field_path(loc: Sequence[int | str]) -> str:
    """``("body", "updates", 0, "status")`` as ``body.updates[0].status``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(root)"


def problems_from_errors(errors: Iterable[Mapping[str, Any]], prefix: Sequence[str] = ()) -> list[FieldProblem]:
    """Turn pydantic-style error dicts into field problems with readable messages."""
    problems = []
    for error in errors:
        loc = [*prefix, *error.get("loc", ())]
        kind = str(error.get("type"))
        if kind == "value_error" and "error" in error.get("ctx", {}):
            message = str(error["ctx"]["error"])
        else:
            message = _MESSAGES.get(kind, str(error.get("msg", "invalid value")))
        problems.append(FieldProblem(field=field_path(loc), message=message))
    return problems


def invalid_input_from(error: ValidationError, what: str, prefix: Sequence[str] = ()) -> ConnectorError:
    """An invalid-input failure naming every field pydantic refused in ``what``."""
    problems = problems_from_errors(error.errors(include_url=False, include_input=False), prefix)
    listed = "; ".join(f"{p.field}: {p.message}" for p in problems[:5])
    more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
    return invalid_input(f"invalid {what}: {listed}{more}", problems)


def invalid_json(field: str, reason: str, source: str) -> ConnectorError:
    """Invalid input for JSON refused at ``field`` (a path inside ``source``, or ``(root)``) for ``reason``."""
    where = source if field == "(root)" else f"{source}.{field}".replace(".[", "[")
    return invalid_input(f"invalid {where}: {reason}", [FieldProblem(where, reason)])


class ProblemBody(BaseModel):
    """One field problem in a reply."""

    field: str
    message: str


class ErrorBody(BaseModel):
    """The ``error`` member of every error reply."""

    failure: str
    message: str
    vendor_status: int | None = None
    retry_after: float | None = None
    problems: list[ProblemBody] = []


class ErrorResponse(BaseModel):
    """An API error reply; ``partial`` holds what was delivered before the failure, if anything."""

    error: ErrorBody
    partial: dict[str, Any] | None = None

    @classmethod
    def of(cls, failure: ConnectorError, partial: dict[str, Any] | None = None) -> ErrorResponse:
        """The reply for ``failure``, its messages redacted (a vendor's error text may echo a credential)."""
        return cls(
            error=ErrorBody(
                failure=failure.failure.value,
                message=redact(failure.message),
                vendor_status=failure.vendor_status,
                retry_after=failure.retry_after,
                problems=[ProblemBody(field=redact(p.field), message=redact(p.message)) for p in failure.problems],
            ),
            partial=partial,
        )
