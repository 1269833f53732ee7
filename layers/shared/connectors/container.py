"""The collaborators of one warm Lambda container, built on first use and reused across invocations.

Each function supplies how to build its vendor client for a connection; everything else (settings,
secrets, the pooled HTTP client, SQS, the caller verifier) is the same for every function.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cached_property
from typing import Any

import boto3
import httpx
from pydantic import BaseModel

from connectors.auth.webhook import CallerVerifier, WebhookCredentials
from connectors.failures import FieldProblem, invalid_input
from connectors.idempotency import Idempotency
from connectors.secrets import SecretNotFound, SecretStore
from connectors.settings import Settings, load_settings
from connectors.triggers import QueueSettings


class Container[Client]:
    """Settings, secrets, one pooled HTTP client, SQS, idempotency, and one vendor client per connection."""

    def __init__(
        self,
        function: str,
        vendor: str,
        build_client: Callable[[Container[Client], str], Client],
        settings: Settings | None = None,
        secrets: SecretStore | None = None,
        http: httpx.Client | None = None,
        sqs: Any = None,
    ) -> None:
        self.function = function
        self.vendor = vendor
        self.settings = settings or load_settings()
        self.secrets = secrets or SecretStore(max_age=self.settings.secrets_max_age)
        self.http = http or httpx.Client(follow_redirects=False)
        self.sqs = sqs or boto3.client("sqs")
        self._build_client = build_client
        self._clients: dict[str, Client] = {}
        self._lock = threading.Lock()

    def client(self, connection: str) -> Client:
        """The vendor client for ``connection``, with its own auth cache and rate-limit state."""
        with self._lock:
            client = self._clients.get(connection)
            if client is None:
                client = self._clients[connection] = self._build_client(self, connection)
            return client

    def connection_secret[M: BaseModel](self, connection: str, model: type[M]) -> Callable[[bool], M]:
        """A reader of ``<prefix>/<vendor>/<connection>``; ``True`` bypasses the cache."""
        name = self.settings.connection_secret_name(self.vendor, connection)

        def read(fresh: bool) -> M:
            try:
                return self.secrets.get_model(name, model, force=fresh)
            except SecretNotFound:
                # The request chose the connection: one that does not exist is the caller's mistake to fix.
                message = f"no {self.vendor} connection named {connection!r} is configured (secret {name})"
                raise invalid_input(message, [FieldProblem("connection", "no such connection is configured")]) from None

        return read

    @cached_property
    def idempotency(self) -> Idempotency | None:
        """Idempotency records in the table the template gives (None when there is none, as in unit tests)."""
        table = self.settings.idempotency_table
        if table is None:
            return None
        return Idempotency(
            self.function, table, self.settings.idempotency_expires_after_seconds, boto3.client("dynamodb")
        )

    def verifier(self) -> CallerVerifier:
        """Checks API callers against the webhook secret."""
        name = self.settings.webhook_secret_name
        return CallerVerifier(lambda: self.secrets.get_model(name, WebhookCredentials))

    def queue_settings(self) -> QueueSettings:
        """Where this function's records come from and where its dead letters go."""
        return QueueSettings(
            function=self.function,
            queue_url=self.settings.queue_url,
            dead_letter_queue_url=self.settings.dead_letter_queue_url,
            max_receive_count=self.settings.max_receive_count,
        )
