"""Procore's lenient date parsing, unit by unit."""

import pytest

from devkit.sandbox.procore.pco_attributes import parse_date, parse_date_time


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("2024-05-01", "2024-05-01"),
        ("2024-05-01T00:00:00Z", "2024-05-01"),
        ("2024-05-01T23:30:00-05:00", "2024-05-01"),
        ("2024-02-30", None),
        ("2024-5-1", None),
        ("01/05/2024", None),
        ("", None),
        (20240501, None),
        (None, None),
    ],
)
def test_parse_date(raw: object, stored: str | None) -> None:
    assert parse_date(raw) == stored


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("2018-08-26T00:00:00Z", "2018-08-26T00:00:00Z"),
        ("2018-08-26", "2018-08-26T00:00:00Z"),
        ("2018-08-26T10:00:00+02:00", "2018-08-26T08:00:00Z"),
        ("2018-08-26T22:30:00-0330", "2018-08-27T02:00:00Z"),
        ("2018-08-26T10:00:00.123456Z", "2018-08-26T10:00:00Z"),
        ("2018-08-26 10:00", "2018-08-26T10:00:00Z"),
        ("2018-08-26T10:00:00", "2018-08-26T10:00:00Z"),
        ("2018-08-26T25:00:00Z", None),
        ("2018-08-26T10:00:00+24:00", None),
        ("0001-01-01T00:00:00+01:00", None),
        ("next tuesday", None),
        (1535241600, None),
    ],
)
def test_parse_date_time(raw: object, stored: str | None) -> None:
    assert parse_date_time(raw) == stored
