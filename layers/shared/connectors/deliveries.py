"""What became of a change order: the state the idempotency ledger records under its key.

A queued record's ledger item is its claim while it is sent, then its ``Settlement``: delivered (with the vendor's
ids), waiting to retry (with the last error and when), or dead-lettered (with the reason). An API request's item
is Powertools' stored reply. ``status_of`` reads either as the ``DeliveryStatus`` the status route answers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import STATUS_CONSTANTS, DataRecord
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.failures import ConnectorError
from connectors.models.errors import ErrorBody, ErrorResponse

# A record whose change order holds many objects keeps this many of their vendor ids in the ledger: each 1 KB of
# item is a write unit; the receipt carries them all.
STORED_VENDOR_IDS = 100


class DeliveryState(StrEnum):
    """Where a change order is on its way to the vendor."""

    IN_PROGRESS = "in_progress"
    DELIVERED = "delivered"
    WAITING_TO_RETRY = "waiting_to_retry"
    DEAD_LETTERED = "dead_lettered"
    REFUSED = "refused"
    """An API request answered with a final 4xx: the caller must change it before sending it again."""


class Settlement(BaseModel):
    """What the ledger keeps of a record once an attempt is over: stored as its idempotency record's data."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    state: DeliveryState
    at: datetime | None = Field(default=None, description="When this state was recorded (UTC), if known")
    attempts: int | None = Field(default=None, description="Deliveries of the record so far, this one included")
    vendor_ids: list[dict[str, Any]] = Field(
        default=[], description=f"What the vendor assigned or matched, per item (at most {STORED_VENDOR_IDS})"
    )
    vendor_ids_total: int | None = Field(default=None, description="How many there were, when more than are kept")
    superseded: bool = Field(default=False, description="Not sent: newer edits had already set all it carried")
    error: ErrorBody | None = Field(default=None, description="The last failure, in the shared error model")
    retry_at: datetime | None = Field(default=None, description="When the next attempt is due, if known (UTC)")

    @classmethod
    def delivered(
        cls,
        vendor_ids: list[dict[str, Any]],
        attempts: int | None,
        now: datetime | None,
        *,
        superseded: bool = False,
        refused: ErrorBody | None = None,
    ) -> Settlement:
        """A delivered record, keeping at most ``STORED_VENDOR_IDS`` of its vendor ids; ``refused`` says why items
        inside it were refused, when the vendor took the rest."""
        kept = vendor_ids[:STORED_VENDOR_IDS]
        total = len(vendor_ids) if len(vendor_ids) > len(kept) else None
        return cls(
            state=DeliveryState.DELIVERED,
            at=now,
            attempts=attempts,
            vendor_ids=kept,
            vendor_ids_total=total,
            superseded=superseded,
            error=refused,
        )

    def stored(self) -> dict[str, Any]:
        """What the ledger stores (as JSON) in the record's data."""
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=True)


class DeliveryStatus(Settlement):
    """The status route's answer for a key."""

    key: str = Field(description="The key asked about")
    trigger: Literal["sqs", "api"] = Field(description="How the change order came: the queue or the API")
    connection: str | None = Field(
        description="The vendor connection it goes to (a queued record's; an API request's is not recorded)"
    )


def _nothing_refused(body: Any) -> ConnectorError | None:
    return None


@dataclass(frozen=True)
class ReplyReader:
    """What a function's delivered (2xx) API reply says, for its receipt and its status."""

    vendor_ids: Callable[[Any], list[dict[str, Any]]]
    """The ids the vendor assigned or matched, per item, that the reply body names."""
    refused: Callable[[Any], ConnectorError | None] = _nothing_refused
    """Why items inside the reply were refused while the vendor took the rest (Procore's 200 with item
    ``errors``), or None."""

    def error(self, body: Any) -> ErrorBody | None:
        """The refused items' error in the shared model (redacted), or None when the reply refused nothing."""
        failure = self.refused(body)
        return ErrorResponse.of(failure).error if failure is not None else None


def now_utc() -> datetime:
    """The time a settlement records."""
    return datetime.now(UTC)


def status_of(
    record: DataRecord,
    trigger: Literal["sqs", "api"],
    key: str,
    connection: str,
    replies: ReplyReader,
    now: datetime,
) -> DeliveryStatus:
    """``record`` (a ledger item of ``trigger``) as the status of ``key``.

    A claim still held is in progress; one whose invocation ended without settling it is waiting for the queue to
    hand the record out again. An API request's stored reply is delivered (2xx, with what ``replies`` reads from its
    body) or refused (a final 4xx); a retryable reply is never stored.
    """
    base = {"key": key, "trigger": trigger, "connection": connection if trigger == "sqs" else None}
    stored = _settlement(record.response_data) if trigger == "sqs" else None
    if stored is not None:
        return DeliveryStatus(**base, **stored.model_dump())
    if record.status == STATUS_CONSTANTS["COMPLETED"] and trigger == "api":
        return _api_status(record, base, replies)
    if record.status == STATUS_CONSTANTS["COMPLETED"]:  # settled before settlements were kept
        return DeliveryStatus(**base, state=DeliveryState.DELIVERED)
    held_until = record.in_progress_expiry_timestamp
    if held_until is not None and held_until > now.timestamp() * 1000:
        return DeliveryStatus(**base, state=DeliveryState.IN_PROGRESS)
    error = ErrorBody(
        failure="unknown_outcome",
        message="the invocation sending it ended before it recorded an outcome; the queue hands it out again",
    )
    return DeliveryStatus(**base, state=DeliveryState.WAITING_TO_RETRY, error=error)


def _settlement(data: str | None) -> Settlement | None:
    if not data:
        return None
    try:
        return Settlement.model_validate_json(data)
    except ValidationError:
        return None  # an item written before settlements were kept ("{}")


def _api_status(record: DataRecord, base: dict[str, Any], replies: ReplyReader) -> DeliveryStatus:
    # Powertools keeps the reply, not when it was given: ``at`` stays unknown.
    reply = json.loads(record.response_data or "{}")
    body = json.loads(reply.get("body") or "null")
    if int(reply.get("statusCode", 500)) < 300:
        if body is None:
            kept = Settlement.delivered([], 1, None)
        else:
            kept = Settlement.delivered(replies.vendor_ids(body), 1, None, refused=replies.error(body))
        return DeliveryStatus(**base, **kept.model_dump())
    error = ErrorBody.model_validate(body["error"]) if isinstance(body, dict) and "error" in body else None
    return DeliveryStatus(**base, state=DeliveryState.REFUSED, attempts=1, error=error)
