"""Validation of one item of a PCO sync request, and Procore's lenient date parsing."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Final

STATUSES: Final = frozenset(
    {
        "draft",
        "not_pricing",
        "pricing",
        "pending",
        "revised",
        "proceeding",
        "not_proceeding",
        "no_charge",
        "approved",
        "rejected",
        "void",
    }
)
_INTEGERS: Final = frozenset(
    {"prime_change_event_id", "commitment_change_event_id", "schedule_impact_amount", "change_order_request_id"}
)
_STRINGS: Final = frozenset({"currency_exchange_rate", "description", "number", "origin_data", "origin_id", "title"})
_DATES: Final = frozenset({"paid_date", "invoiced_date"})
_DATE_TIMES: Final = frozenset({"due_date"})
_CHANGE_ORDER_REQUEST_INTEGERS: Final = frozenset({"change_order_package_id"})
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1

_DATE_RE: Final = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_DATE_TIME_RE: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?"
)

FieldErrors = dict[str, list[str]]


def _integer_error(value: object, *, nullable: bool = True) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, int) or isinstance(value, bool):  # JSON true/false are not integers
        return "must be an integer"
    if not _INT64_MIN <= value <= _INT64_MAX:
        return "must fit in a 64-bit integer"
    return None


def parse_item(item: Mapping[str, object]) -> tuple[dict[str, object], FieldErrors]:
    """Check one sync item. Returns the attributes to store (dates normalised) and the field errors.

    ``null`` is accepted for every attribute except ``id`` and ``status`` and clears it. Malformed dates are
    not errors: like Procore they become null.
    """
    attributes: dict[str, object] = {}
    errors: FieldErrors = {}
    for name, value in item.items():
        error: str | None = None
        if name == "id":
            error = _integer_error(value, nullable=False)
        elif name in _INTEGERS:
            error = _integer_error(value)
        elif name in _STRINGS:
            error = None if value is None or isinstance(value, str) else "must be a string"
        elif name == "status":
            error = None if isinstance(value, str) and value in STATUSES else "is not included in the list"
        elif name in _DATES:
            value = parse_date(value)
        elif name in _DATE_TIMES:
            value = parse_date_time(value)
        elif name == "change_order_request":
            errors.update(_change_order_request_errors(value))
        else:
            error = "is not a recognized attribute"
        if error is not None:
            errors[name] = [error]
        attributes[name] = value
    return attributes, errors


def _change_order_request_errors(value: object) -> FieldErrors:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        return {"change_order_request": ["must be an object"]}
    errors: FieldErrors = {}
    for name, nested in value.items():
        path = f"change_order_request.{name}"
        if name not in _CHANGE_ORDER_REQUEST_INTEGERS:
            errors[path] = ["is not a recognized attribute"]
        elif (error := _integer_error(nested)) is not None:
            errors[path] = [error]
    return errors


def parse_date(value: object) -> str | None:
    """A ``date`` attribute: ``YYYY-MM-DD`` or an ISO 8601 date-time (its date as written); else None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if match := _DATE_RE.fullmatch(text):
        parsed = _date(*match.groups())
        return parsed.isoformat() if parsed else None
    moment = _date_time(text)
    return moment.date().isoformat() if moment else None


def parse_date_time(value: object) -> str | None:
    """A ``date-time`` attribute as ``YYYY-MM-DDTHH:MM:SSZ`` in UTC; a plain date means midnight UTC.

    A date-time without an offset is read as UTC. Anything unparseable gives None.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if match := _DATE_RE.fullmatch(text):
        parsed = _date(*match.groups())
        return f"{parsed.isoformat()}T00:00:00Z" if parsed else None
    moment = _date_time(text)
    if moment is None:
        return None
    try:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 falls before year 1 in UTC
        return None


def _date(year: str, month: str, day: str) -> date | None:
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


def _date_time(text: str) -> datetime | None:
    """Parse an ISO 8601 date-time keeping its own offset (UTC when it has none)."""
    match = _DATE_TIME_RE.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, _zulu, sign, offset_hours, offset_minutes = match.groups()
    try:
        zone = UTC
        if sign:
            offset = timedelta(hours=int(offset_hours), minutes=int(offset_minutes))
            zone = timezone(-offset if sign == "-" else offset)
        return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), tzinfo=zone)
    except ValueError:
        return None
