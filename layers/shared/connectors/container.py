"""The collaborators of one warm Lambda container, built on first use and reused across invocations.

Each function supplies how to build its vendor client for a connection; everything else (settings,
secrets, the pooled HTTP client, SQS, the caller verifier) is the same for every function.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

import httpx
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from botocore.config import Config
from pydantic import BaseModel

from connectors.adapters.sqs_receipts import QueueReceipts
from connectors.adapters.sqs_settings import QueueClient, QueueSettings, RetryBudget
from connectors.aws_session import aws_session
from connectors.deliveries import ReplyReader
from connectors.failures import FieldProblem, invalid_input
from connectors.idempotency import PARALLEL_TABLE_WRITES, Idempotency
from connectors.limiter import TABLE_CLIENT_CONFIG, Budget, Limiter, connection_limiter
from connectors.order import ObjectMarks
from connectors.receipts import ReceiptPublisher
from connectors.secrets import SecretNotFound, SecretStore
from connectors.settings import Settings, load_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    from connectors.adapters.api import ApiSettings
    from connectors.auth.webhook import CallerVerifier

# botocore's defaults wait 60 s to connect and to read: past the function's timeout, so a Secrets Manager or DynamoDB
# that hangs would end the invocation before the adapter could answer 503 or keep the record for a retry.
# A receipt is put after its delivery is settled: a slow bus must cost the invocation little (what it does not
# take is kept on the queue, connectors.receipts).
RECEIPTS_CLIENT_CONFIG = Config(connect_timeout=1, read_timeout=2, retries={"mode": "standard", "max_attempts": 2})
DEPENDENCY_CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3})
# botocore keeps 10 connections per client: the claims and marks written side by side beyond that each opened and
# dropped a connection of their own, which more than doubled the time 1,500 order marks took.
TABLE_WRITES_CLIENT_CONFIG = DEPENDENCY_CLIENT_CONFIG.merge(Config(max_pool_connections=PARALLEL_TABLE_WRITES))
# What ``Container.renew`` drops, to be built again from the new session on first use.
_RENEWED = ("_dynamodb", "idempotency", "marks", "receipts", "_events")
# Where an API request's routes find the container: the resolver's context (Powertools clears it after each
# request it resolves; a refused request leaves it for the next one to overwrite).
_ROUTE_CONTEXT_KEY = "container"
# Every AWS service a container makes a client for (aws_session lists no other).
AWS_SERVICES = ("dynamodb", "events", "secretsmanager", "sqs")


class LazyQueueClient:
    """The SQS client, made on its first call.

    API requests never use it and most batches settle through the partial batch response alone (it only requeues
    and dead-letters), so a cold start should not pay the ~100 ms that building a boto3 client costs.
    """

    def __init__(self, make: Callable[[], QueueClient]) -> None:
        self._make = make
        self._client: QueueClient | None = None
        self._lock = threading.Lock()

    def _get(self) -> QueueClient:
        with self._lock:
            if self._client is None:
                self._client = self._make()
            return self._client

    def send_message_batch(self, **arguments: Any) -> Any:
        """boto3's ``send_message_batch``."""
        return self._get().send_message_batch(**arguments)

    def send_message(self, **arguments: Any) -> Any:
        """boto3's ``send_message``."""
        return self._get().send_message(**arguments)

    def change_message_visibility_batch(self, **arguments: Any) -> Any:
        """boto3's ``change_message_visibility_batch``."""
        return self._get().change_message_visibility_batch(**arguments)


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
        sqs: QueueClient | None = None,
    ) -> None:
        self.function = function
        self.vendor = vendor
        self.settings = settings or load_settings()
        # One session for every AWS client: botocore loads its endpoint and model files once per session.
        self._aws, self._models = aws_session(AWS_SERVICES)
        self.secrets = secrets or self._secret_store()
        self.http = http or httpx.Client(follow_redirects=False)
        self.sqs: QueueClient = sqs or LazyQueueClient(lambda: self._aws.client("sqs"))
        self._build_client = build_client
        self._clients: dict[str, Client] = {}
        self._lock = threading.Lock()

    def _secret_store(self) -> SecretStore:
        client = self._aws.client("secretsmanager", config=DEPENDENCY_CLIENT_CONFIG)
        return SecretStore(SecretsProvider(boto3_client=client), max_age=self.settings.secrets_max_age)

    def warm(self) -> None:
        """Build every AWS client a request may use (SnapStart's snapshot then holds their loaded models)."""
        _ = self.idempotency, self.marks, self.receipts, self._events
        self.sqs = self._aws.client("sqs")

    def renew(self) -> None:
        """Make anew what copies restored from one SnapStart snapshot must not share.

        AWS clients (credentials and connections), the HTTP client's pooled connections, the vendor clients (their
        tokens and rate-limit state) and every cached secret; the random generator is reseeded. The new AWS session
        keeps the old one's loaded model files, so the clients are rebuilt without reading them again.
        """
        with self._lock:
            self._aws, self._models = aws_session(AWS_SERVICES, self._models)
            for name in _RENEWED:
                self.__dict__.pop(name, None)
            self.secrets = self._secret_store()
            self.http.close()
            self.http = httpx.Client(follow_redirects=False)
            self.sqs = LazyQueueClient(lambda: self._aws.client("sqs"))
            self._clients.clear()
        random.seed()

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
    def _dynamodb(self) -> Any:
        return self._aws.client("dynamodb", config=TABLE_WRITES_CLIENT_CONFIG)

    @cached_property
    def idempotency(self) -> Idempotency | None:
        """Idempotency records in the table the template gives (None when there is none, as in unit tests)."""
        table = self.settings.idempotency_table
        if table is None:
            return None
        return Idempotency(self.function, table, self.settings.idempotency_expires_after_seconds, self._dynamodb)

    @cached_property
    def marks(self) -> ObjectMarks | None:
        """The per-object order marks, beside the idempotency records (None without a table: no ordering)."""
        table = self.settings.idempotency_table
        return None if table is None else ObjectMarks(self.function, table, self._dynamodb)

    def limiter(self, connection: str, budgets: Sequence[Budget]) -> Limiter:
        """``connection``'s request budgets and vendor pauses, shared through the rate limit table when there is one."""
        return connection_limiter(
            self.settings.rate_limit_table,
            self.vendor,
            connection,
            budgets,
            lambda: self._aws.client("dynamodb", config=TABLE_CLIENT_CONFIG),
        )

    def verifier(self) -> CallerVerifier:
        """Checks API callers against the webhook secret."""
        # Imported here: only API requests check callers, and a container that only gets batches never loads them.
        from connectors.auth.webhook import CallerVerifier, load_callers

        name = self.settings.webhook_secret_name
        return CallerVerifier(lambda: load_callers(self.secrets.get_json(name), name))

    @cached_property
    def receipts(self) -> QueueReceipts:
        """Where this function's delivery receipts go; published nowhere when the template names no bus."""
        publisher = ReceiptPublisher(lambda: self._events, self.settings.delivery_event_bus)
        return QueueReceipts(publisher, self.function, self.vendor)

    @cached_property
    def _events(self) -> Any:
        return self._aws.client("events", config=RECEIPTS_CLIENT_CONFIG)

    def api_settings(self, replies: ReplyReader) -> ApiSettings:
        """What this function's API requests are checked against, where their replies and receipts go.

        ``replies`` reads a delivered request's reply body, for its receipt.
        """
        from connectors.adapters.api import ApiSettings

        return ApiSettings(
            self.verifier(),
            self.function,
            self.settings.max_request_bytes,
            self.idempotency,
            receipts=self.receipts,
            replies=replies,
            sqs=self.sqs,
            queue_url=self.settings.queue_url,
        )

    def queue_settings(self) -> QueueSettings:
        """Where this function's records come from and where its dead letters go."""
        return QueueSettings(
            function=self.function,
            queue_url=self.settings.queue_url,
            dead_letter_queue_url=self.settings.dead_letter_queue_url,
            max_receive_count=self.settings.max_receive_count,
            retry=RetryBudget(
                seconds=self.settings.retry_budget_seconds,
                backoff_base=self.settings.retry_backoff_base_seconds,
                backoff_cap=self.settings.retry_backoff_cap_seconds,
            ),
        )


def hand_to_routes(app: APIGatewayRestResolver, container: Container[Any]) -> None:
    """Give ``container`` to the routes ``app`` resolves next."""
    app.context[_ROUTE_CONTEXT_KEY] = container


def routes_container(app: APIGatewayRestResolver) -> Container[Any]:
    """The container handed to the routes of the request ``app`` is resolving."""
    return cast(Container[Any], app.context[_ROUTE_CONTEXT_KEY])
