"""The status route: what became of a change order, asked by the key it was sent under.

Each function answers for its own ledger on ``GET /deliveries/<vendor>?key=...&connection=...``, behind the same
caller checks as its other routes (``adapters.api``): a caller reaches it only for the functions and connections
its entry allows, and finds only what was sent on that connection, or its own API requests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.params import Query
from botocore.exceptions import BotoCoreError, ClientError

from connectors.adapters.api import MAX_KEY_CHARS, replay_keys, route_caller
from connectors.adapters.sqs_delivery import ledger_keys
from connectors.deliveries import DeliveryStatus, ReplyReader, now_utc, status_of
from connectors.failures import (
    UNAVAILABLE_RETRY_SECONDS,
    ConnectorError,
    FailureClass,
    FieldProblem,
    service_unavailable,
    transient,
)
from connectors.idempotency import Idempotency
from connectors.models.common import DEFAULT_CONNECTION, ConnectionName
from connectors.observability import aws_error_name, logger

DeliveryKey = Annotated[
    str,
    Query(
        min_length=1,
        max_length=MAX_KEY_CHARS,
        description=(
            "The key the change order was sent under: its Idempotency-Key (header or SQS message attribute), else "
            "the SQS message id or the request's webhook-id"
        ),
    ),
]


def add_status_route(
    app: APIGatewayRestResolver,
    path: str,
    idempotency_of: Callable[[], Idempotency | None],
    replies: ReplyReader,
) -> None:
    """Serve ``GET path`` on ``app``: the status of a key in the ledger ``idempotency_of()`` gives for the request.

    ``replies`` reads a stored API reply, as for its receipt.
    """

    @app.get(path)
    def delivery_status(
        key: DeliveryKey, connection: Annotated[ConnectionName, Query()] = DEFAULT_CONNECTION
    ) -> DeliveryStatus:
        """What became of the change order sent under ``key``: in progress, delivered, waiting, dead-lettered."""
        return find_status(idempotency_of(), route_caller(app), connection, key, replies)


def find_status(
    idempotency: Idempotency | None,
    caller: str,
    connection: str,
    key: str,
    replies: ReplyReader,
) -> DeliveryStatus:
    """The status of ``key``: a queued record of ``connection``, else an API request ``caller`` sent under it.

    Raises a 404 (naming the key) when the ledger holds neither, a 503 when it cannot be read.
    """
    if idempotency is None:  # no table configured: nothing is recorded to answer from
        raise service_unavailable()
    try:
        queued = idempotency.records.find(ledger_keys(connection, key))
        sent = None if queued is not None else idempotency.find_reply(replay_keys(caller, key))
    except (BotoCoreError, ClientError) as error:
        logger.warning("the delivery ledger could not be read", extra={"error": aws_error_name(error)})
        raise transient(
            "the delivery ledger is unavailable; retry later", retry_after=UNAVAILABLE_RETRY_SECONDS, api_status=503
        ) from None
    if queued is not None:
        return status_of(queued, "sqs", key, connection, replies, now_utc())
    if sent is not None:
        return status_of(sent, "api", key, connection, replies, now_utc())
    message = (
        f"no change order is known under this key on connection {connection!r} (records are kept for the "
        "idempotency expiry, and an API request's only for the caller that sent it)"
    )
    raise ConnectorError(
        FailureClass.INVALID_INPUT, message, problems=[FieldProblem("query.key", message)], api_status_override=404
    )
