"""ConstructionOnline change-order update: the command model and the connection secret.

Only the 27 properties the seed allows may be sent; values travel as strings, money and quantities as the
exact decimal text they came in, dates as YYYY-MM-DD.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, HttpUrl, SecretStr, model_validator

from connectors.models.common import DEFAULT_CONNECTION, ConnectionName, Int32Id

CONDITIONS = {"pending": 0, "approved": 1, "rejected": 2, "draft": 3}
_DECIMAL_TEXT = re.compile(r"^-?\d+(\.\d+)?$")

MAX_VALUE_CHARS = 2048
"""Characters of one property's value: the whole coInfo travels in a query string that IIS caps at 2048 bytes by
default (the client refuses longer ones), so no longer value could ever be sent."""

MAX_MONEY_DIGITS = 28
"""Digits of a money or quantity value. The API is .NET: System.Decimal holds a 96-bit integer (just under 8e28)
scaled by 0 to 28 decimal places, so every decimal of 28 digits is held exactly and some of 29 are not."""
_TOO_MANY_DIGITS = f"must have at most {MAX_MONEY_DIGITS} digits: ConstructionOnline holds amounts as .NET decimals"


def _decimal_text(value: Any) -> str:
    # A JSON number arrives as a Decimal (exact_json) or an int; a string must already be decimal text.
    if isinstance(value, bool):
        raise ValueError("must be a decimal number, not a boolean")
    if isinstance(value, Decimal | int):
        text = _plain_number(value, MAX_MONEY_DIGITS)
        if text is None:
            raise ValueError(_TOO_MANY_DIGITS)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise ValueError("must be a decimal number or its text")
    if not _DECIMAL_TEXT.match(text):
        raise ValueError("must be a decimal number such as 340.99")
    if _held_digits(text) > MAX_MONEY_DIGITS:
        raise ValueError(_TOO_MANY_DIGITS)
    return text


def _held_digits(text: str) -> int:
    # What System.Decimal holds: leading zeros are not, every fraction digit is (it sets the scale).
    whole, _, fraction = text.removeprefix("-").partition(".")
    return len(whole.lstrip("0")) + len(fraction)


def _plain_number(value: Decimal | int, max_digits: int) -> str | None:
    """``value`` written out without an exponent; None, unwritten, when that takes more than ``max_digits`` digits.

    1e100000000 written out is a hundred million characters: its length is known from the exponent beforehand.
    """
    if isinstance(value, int):
        return str(value) if abs(value) < 10**max_digits else None
    _, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):  # NaN or Infinity: a few letters, refused by whoever reads them
        return format(value, "f")
    written = len(digits) + exponent if exponent >= 0 else max(len(digits), -exponent)
    return format(value, "f") if written <= max_digits else None


def _iso_date(value: Any) -> str:
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise ValueError("must be a date YYYY-MM-DD")


def _condition(value: Any) -> str:
    if isinstance(value, str) and value.strip().lower() in CONDITIONS:
        return str(CONDITIONS[value.strip().lower()])
    if isinstance(value, int) and not isinstance(value, bool) and value in CONDITIONS.values():
        return str(value)
    if isinstance(value, str) and value.strip() in {str(v) for v in CONDITIONS.values()}:
        return value.strip()
    raise ValueError("must be 0-3 or one of pending, approved, rejected, draft")


def _text(value: Any) -> str:
    # Types the sources do not document are passed on as text, the way the vendor receives every value.
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        raise ValueError("must be a string or a number")
    if isinstance(value, Decimal | int):
        text = _plain_number(value, MAX_VALUE_CHARS)
        if text is None:
            raise ValueError(f"must be at most {MAX_VALUE_CHARS} characters written out")
        return text
    return str(value)


Money = Annotated[str, Field(max_length=MAX_VALUE_CHARS), BeforeValidator(_decimal_text)]
IsoDate = Annotated[str, BeforeValidator(_iso_date)]
Condition = Annotated[str, BeforeValidator(_condition)]
Text = Annotated[str, Field(max_length=MAX_VALUE_CHARS), BeforeValidator(_text)]


class CoInfo(BaseModel):
    """The properties to change; any key outside the seed's 27 is refused by name."""

    model_config = ConfigDict(extra="forbid")

    NUMBER: Text | None = None
    DETAILS: Text | None = None
    CONDITION: Condition | None = None
    COST_MONEY: Money | None = None
    DATE_CLOSED: IsoDate | None = None
    NOTES: Text | None = None
    REASONING: Text | None = None
    PRICE: Money | None = None
    QTY: Money | None = None
    UNIT_NAME: Text | None = None
    SUBTITLE: Text | None = None
    IMAGE_ID: Text | None = None
    URL: Text | None = None
    SUBSTANTIAL_COMMENCEMENT: Text | None = None
    MULTIPLIER: Money | None = None
    MARKUP: Money | None = None
    MARKUP_TYPE: Text | None = None
    DATE_SUBMITTED: IsoDate | None = None
    GCCO: Text | None = None
    QBO_INVOICE_ID: Text | None = None
    ACCT_INVOICE_ID: Text | None = None
    SUBCATIDS: Text | None = None
    CONIDS: Text | None = None
    USERIDS: Text | None = None
    QB_ACTUALS: Money | None = None
    QB_COMMITTED: Money | None = None
    QB_INVOICED: Money | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> CoInfo:
        # A null is not sent (wire() leaves it out): properties that are all null would be an empty update.
        if not self.wire():
            raise ValueError("coInfo must set at least one property to a value (nulls are not sent)")
        return self

    def wire(self) -> dict[str, str]:
        """The given properties only, every value a string, as the vendor expects."""
        return {name: value for name, value in self.model_dump(exclude_unset=True).items() if value is not None}


class ChangeOrderUpdateCommand(BaseModel):
    """The ConstructionOnline operation's command model: ``{connection, id, coInfo}``."""

    model_config = ConfigDict(extra="forbid")

    connection: ConnectionName = DEFAULT_CONNECTION
    id: Int32Id
    coInfo: CoInfo = Field(description="Properties to change")


class RateWindow(BaseModel):
    """One of the vendor's limits per API key: ``requests`` in any span of ``seconds``.

    ``burst`` of them may go at once after a quiet spell; the rest are paced evenly through the window.
    """

    model_config = ConfigDict(extra="forbid")

    requests: int = Field(ge=1)
    seconds: int = Field(ge=1)
    burst: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _burst_within_the_window(self) -> RateWindow:
        if self.burst is not None and self.burst > self.requests:
            raise ValueError(f"burst ({self.burst}) cannot exceed requests ({self.requests})")
        return self

    @property
    def burst_or_default(self) -> int:
        """The burst the secret names, else a tenth of the window: a few edits land at once, a backlog keeps 90%."""
        return self.burst or max(1, self.requests // 10)


class RateLimits(BaseModel):
    """The four windows ConstructionOnline enforces per API key; null switches one off (a raised plan, a sandbox)."""

    model_config = ConfigDict(extra="forbid")

    hour: RateWindow | None = RateWindow(requests=500, seconds=3600)
    day: RateWindow | None = RateWindow(requests=10_000, seconds=86_400)
    week: RateWindow | None = RateWindow(requests=50_000, seconds=604_800)
    # 31 days: no calendar month and no 30-day span then holds more than the limit, whichever the vendor counts.
    month: RateWindow | None = RateWindow(requests=200_000, seconds=31 * 86_400)

    @model_validator(mode="after")
    def _windows_of_different_lengths(self) -> RateLimits:
        lengths = [window.seconds for window in self.windows()]
        if len(set(lengths)) != len(lengths):
            raise ValueError(f"each window needs its own length in seconds, not {lengths}")
        return self

    def windows(self) -> list[RateWindow]:
        """The windows switched on, shortest first."""
        return sorted((window for window in (self.hour, self.day, self.week, self.month) if window), key=_length)


def _length(window: RateWindow) -> int:
    return window.seconds


# The budget's keys before it had four windows: refused by name, so that an old secret does not quietly lose its limit.
_FORMER_BUDGET_KEYS = ("requests_per_window", "window_seconds", "burst")


class ConstructionOnlineConnection(BaseModel):
    """The ``<prefix>/constructiononline/<connection>`` secret."""

    model_config = ConfigDict(extra="ignore")

    email: SecretStr
    password: SecretStr
    api_key: SecretStr
    base_url: HttpUrl = HttpUrl("https://api.constructiononline.com")
    # Booked in every window at once, so that a sustained backlog is paced under all of them.
    rate_limits: RateLimits = Field(default_factory=RateLimits)

    @model_validator(mode="before")
    @classmethod
    def _no_former_budget_keys(cls, data: Any) -> Any:
        former = [key for key in _FORMER_BUDGET_KEYS if isinstance(data, dict) and key in data]
        if former:
            raise ValueError(f"{', '.join(former)} moved into rate_limits.hour (requests, seconds, burst)")
        return data
