"""The one flow every function's handler shares: an SQS batch or an API request, to the right adapter."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from connectors.adapters.sqs import handle_sqs_batch
from connectors.adapters.sqs_delivery import RecordInfo
from connectors.container import Container, hand_to_routes
from connectors.deadline import CLAIM_SHARE, Deadline
from connectors.deliveries import ReplyReader
from connectors.failure_log import caught_unexpected
from connectors.failures import service_unavailable
from connectors.operation import Attempt
from connectors.order import Outcome

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver


def is_sqs_event(event: Mapping[str, Any]) -> bool:
    """Whether ``event`` is an SQS batch (else it is treated as an API Gateway request)."""
    records = event.get("Records") or []
    return bool(records) and all(r.get("eventSource") == "aws:sqs" for r in records)


def handle_event[C: BaseModel, Client](
    event: dict[str, Any],
    context: LambdaContext,
    *,
    routes: Callable[[], APIGatewayRestResolver],
    runtime: Callable[[], Container[Client]],
    parse: Callable[[str], C],
    deliver: Callable[[Container[Client], list[C], Attempt], Sequence[Outcome]],
    replies: ReplyReader,
) -> dict[str, Any]:
    """Route ``event``: SQS batches through ``parse`` and ``deliver``; anything else to the API app ``routes()`` gives.

    ``replies`` reads a delivered API request's reply body, for its receipt.

    The container ``runtime`` builds is handed on: to ``deliver`` with each batch, to the app's routes with each
    request (``container.routes_container``). The API adapter and the routes are imported with the first request
    that needs them: a container that only gets batches never loads them.

    Never raises: a container that cannot be built (a bad setting) hands an SQS batch back whole, to be retried
    and then dead-lettered by the queue, and answers an API request with a 503.
    """
    sqs = is_sqs_event(event)
    try:
        container = runtime()
        idempotency = container.idempotency
    except Exception as error:
        caught_unexpected(error, "building the function's collaborators")
        if sqs:
            return {"batchItemFailures": [{"itemIdentifier": r.get("messageId", "")} for r in event["Records"]]}
        from connectors.adapters.api_replies import refusal

        return refusal(service_unavailable())
    if sqs:
        deadline = Deadline.for_batch(context)

        def process(commands: list[C], records: list[RecordInfo]) -> Sequence[Outcome]:
            attempt = Attempt(deadline, [r.redelivered for r in records], [r.version for r in records])
            return deliver(container, commands, attempt)

        response = handle_sqs_batch(
            event,
            parse,
            process,
            container.sqs,
            container.queue_settings(),
            ledger=idempotency.records if idempotency is not None else None,
            remaining_ms=context.get_remaining_time_in_millis(),
            claim_by=deadline.share(CLAIM_SHARE),
            receipts=container.receipts,
        )
        return dict(response)
    from connectors.adapters.api import handle_api_event

    app = routes()
    hand_to_routes(app, container)
    return handle_api_event(event, context, app, container.api_settings(replies))
