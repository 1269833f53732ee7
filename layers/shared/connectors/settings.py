"""The functions' configuration, read from the environment when first needed (never at import time)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    """Environment variables the template sets on every function."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    connection_secret_prefix: str = Field("change-order-connectors", alias="CONNECTION_SECRET_PREFIX")
    queue_url: str | None = Field(None, alias="QUEUE_URL")
    dead_letter_queue_url: str | None = Field(None, alias="DEAD_LETTER_QUEUE_URL")
    max_receive_count: int = Field(50, ge=1, alias="MAX_RECEIVE_COUNT")
    # A transient failure is retried for this long after the record's first receive: a vendor outage of an hour
    # dead-letters nothing. Backoff doubles from the base up to the cap (SQS keeps a message invisible 12 h at most).
    retry_budget_seconds: int = Field(7200, ge=1, alias="RETRY_BUDGET_SECONDS")
    retry_backoff_base_seconds: float = Field(10.0, gt=0, alias="RETRY_BACKOFF_BASE_SECONDS")
    retry_backoff_cap_seconds: float = Field(900.0, gt=0, le=12 * 60 * 60, alias="RETRY_BACKOFF_CAP_SECONDS")
    secrets_max_age: int = Field(300, ge=0, alias="POWERTOOLS_PARAMETERS_MAX_AGE")
    # API Gateway takes 10 MB and Lambda 6 MB; well under both, and far over 1000 Procore updates.
    max_request_bytes: int = Field(4 * 1024 * 1024, ge=1, alias="MAX_REQUEST_BYTES")
    vendor_timeout_seconds: float = Field(10.0, gt=0, alias="VENDOR_TIMEOUT_SECONDS")
    vendor_batch_size: int = Field(100, ge=1, alias="VENDOR_BATCH_SIZE")
    vendor_concurrency: int = Field(4, ge=1, le=64, alias="VENDOR_CONCURRENCY")
    vendor_max_requests_per_second: float | None = Field(None, gt=0, alias="VENDOR_MAX_REQUESTS_PER_SECOND")
    rate_limit_table: str | None = Field(None, alias="RATE_LIMIT_TABLE")
    idempotency_table: str | None = Field(None, alias="IDEMPOTENCY_TABLE")
    # Where every record's final outcome is published (connectors.receipts); none: receipts are not published.
    delivery_event_bus: str | None = Field(None, alias="DELIVERY_EVENT_BUS")
    # A completed key is remembered for a day: longer than any redelivery, DLQ redrive excepted.
    idempotency_expires_after_seconds: int = Field(24 * 60 * 60, ge=60, alias="IDEMPOTENCY_EXPIRES_AFTER_SECONDS")

    @property
    def webhook_secret_name(self) -> str:
        """Where the webhook signing keys and bearer tokens are kept."""
        return f"{self.connection_secret_prefix}/webhook"

    def connection_secret_name(self, vendor: str, connection: str) -> str:
        """``<prefix>/<vendor>/<connection>``."""
        return f"{self.connection_secret_prefix}/{vendor}/{connection}"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``environ`` (the process environment by default)."""
    return Settings.model_validate(dict(os.environ if environ is None else environ))
