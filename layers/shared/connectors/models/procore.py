"""Procore PCO sync: the command model, the connection secret and the sync response."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    SecretStr,
    field_serializer,
    field_validator,
    model_validator,
)

from connectors.models.common import CODE_CHARS, DEFAULT_CONNECTION, Code, ConnectionName, LongText, VendorId

MAX_SYNC_ITEMS = 1000
"""Procore's limit of updates per sync call."""

MAX_COMMAND_UPDATES = 10 * MAX_SYNC_ITEMS
"""Updates one request or message may carry. The operation splits them into sync calls of MAX_SYNC_ITEMS; ten
calls' worth bounds the work one command can ask for, and a larger set goes as several commands."""


class PcoStatus(StrEnum):
    """The eleven PCO statuses Procore accepts."""

    DRAFT = "draft"
    NOT_PRICING = "not_pricing"
    PRICING = "pricing"
    PENDING = "pending"
    REVISED = "revised"
    PROCEEDING = "proceeding"
    NOT_PROCEEDING = "not_proceeding"
    NO_CHARGE = "no_charge"
    APPROVED = "approved"
    REJECTED = "rejected"
    VOID = "void"


def _to_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("date-time needs a time zone (Z or an offset): Procore stores UTC")
    return value.astimezone(UTC)


def _parse_date(value: Any) -> Any:
    # Procore stores a malformed date as null without an error, so anything not clearly a date is refused here.
    # Strings go through the ISO parser, not pydantic's, which reads a number or a string of digits as seconds
    # since 1970.
    if isinstance(value, str) and len(value) > 10:
        return _to_utc(datetime.fromisoformat(value)).date()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError("must be a date YYYY-MM-DD (or an ISO 8601 date-time with a time zone)") from None
    if value is None or isinstance(value, date):
        return value
    raise ValueError("must be a date YYYY-MM-DD (or an ISO 8601 date-time with a time zone) written as a string")


def _parse_date_time(value: Any) -> Any:
    if isinstance(value, str) and len(value) == 10:
        return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
    if isinstance(value, str):
        return _to_utc(datetime.fromisoformat(value))
    if value is None or isinstance(value, datetime):
        return value
    raise ValueError("must be an ISO 8601 date-time with a time zone (or a date YYYY-MM-DD) written as a string")


class ChangeOrderRequestRef(BaseModel):
    """``change_order_request`` of a PCO update (two-tier contract configuration)."""

    model_config = ConfigDict(extra="forbid")

    change_order_package_id: VendorId | None = None


class PcoUpdate(BaseModel):
    """One item of ``updates[]``: every attribute of the seed, plus ``id`` for updates by Procore id."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    id: VendorId | None = None
    origin_id: Annotated[str, Field(min_length=1, max_length=CODE_CHARS)] | None = None
    origin_data: LongText | None = None
    number: Code | None = None
    title: LongText | None = None
    description: LongText | None = None
    status: PcoStatus | None = None
    prime_change_event_id: VendorId | None = None
    commitment_change_event_id: VendorId | None = None
    change_order_request_id: VendorId | None = None
    change_order_request: ChangeOrderRequestRef | None = None
    currency_exchange_rate: Annotated[str, Field(max_length=CODE_CHARS, pattern=r"^\d+(\.\d+)?$")] | None = None
    schedule_impact_amount: Annotated[int, Field(strict=True, ge=-(2**31), le=2**31 - 1)] | None = None
    paid_date: date | None = None
    invoiced_date: date | None = None
    due_date: datetime | None = None

    _dates = field_validator("paid_date", "invoiced_date", mode="before")(_parse_date)
    _date_times = field_validator("due_date", mode="before")(_parse_date_time)

    @model_validator(mode="after")
    def _has_key(self) -> PcoUpdate:
        # Outcomes are matched back by origin_id (or id), and origin_id makes a resend an upsert, not a duplicate.
        if self.id is None and self.origin_id is None:
            raise ValueError("every update needs origin_id (or id): results are matched and retried by it")
        return self

    @field_serializer("due_date")
    def _utc_z(self, value: datetime | None) -> str | None:
        return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def key(self) -> tuple[str, str]:
        """How Procore finds this item: by ``id`` when given, else by ``origin_id``."""
        if self.id is not None:
            return ("id", str(self.id))
        return ("origin_id", str(self.origin_id))

    def wire(self) -> dict[str, Any]:
        """The attributes as Procore receives them: only those the caller gave, dates normalised."""
        return self.model_dump(mode="json", exclude_unset=True)


class PcoSyncBody(BaseModel):
    """The request body of Procore's sync endpoint, as the API route receives it."""

    model_config = ConfigDict(extra="forbid")

    updates: Annotated[list[PcoUpdate], Field(min_length=1, max_length=MAX_COMMAND_UPDATES)]

    @field_validator("updates")
    @classmethod
    def _unique_keys(cls, updates: list[PcoUpdate]) -> list[PcoUpdate]:
        seen: set[tuple[str, str]] = set()
        for update in updates:
            if update.key in seen:
                raise ValueError(f"{update.key[0]} {update.key[1]!r} appears twice: the outcome would be ambiguous")
            seen.add(update.key)
        return updates


class PcoSyncCommand(PcoSyncBody):
    """The Procore operation's one command model: the SQS message body, and the API request put together."""

    connection: ConnectionName = DEFAULT_CONNECTION
    company_id: VendorId
    project_id: VendorId
    contract_id: VendorId


class ProcoreConnection(BaseModel):
    """The ``<prefix>/procore/<connection>`` secret."""

    model_config = ConfigDict(extra="ignore")

    client_id: SecretStr
    client_secret: SecretStr
    auth_base_url: HttpUrl = HttpUrl("https://login.procore.com")
    api_base_url: HttpUrl = HttpUrl("https://api.procore.com")


class SyncResponse(BaseModel):
    """Procore's 200 answer: entities stored and items refused, in no documented order."""

    model_config = ConfigDict(extra="allow")

    entities: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
