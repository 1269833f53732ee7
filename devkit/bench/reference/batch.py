"""The Powertools documentation's SQS batch pattern, one vendor call per record, made idempotent per record.

As the documentation's "Processing messages from SQS" and "Idempotency > Batch integration" examples write it:
a module-level ``BatchProcessor(event_type=EventType.SQS)``, a record handler decorated with
``idempotent_function(data_keyword_argument="record", ...)`` on a ``DynamoDBPersistenceLayer``, the message id as
the idempotency key (``IdempotencyConfig(event_key_jmespath="messageId")``), ``config.register_lambda_context``
and ``process_partial_response`` in the handler. Credentials come from Secrets Manager through
``parameters.get_secret``, cached for the container, under the name the real functions read
(``<CONNECTION_SECRET_PREFIX>/<vendor>/default``). A 429 raises, so the record is reported failed and SQS
delivers it again after the queue's visibility timeout: that is what the documented pattern does with any error.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

import httpx
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from devkit.bench.vendor_sessions import SESSIONS, Send

CONNECTION = "default"
# Where each vendor's connection secret keeps the base URL the calls go to.
_BASE_URL_FIELD = {"procore": "api_base_url", "prime": "base_url", "constructiononline": "base_url"}
_DEFAULT_VENDOR_TIMEOUT_SECONDS = "10"

Handler = Callable[[dict[str, Any], LambdaContext], PartialItemFailureResponse]


class VendorRateLimited(RuntimeError):
    """The vendor answered 429: the record fails and SQS delivers it again."""


def reference_handler(vendor: str) -> Handler:
    """The Lambda handler of the reference implementation for ``vendor`` (a key of ``SESSIONS``)."""
    processor = BatchProcessor(event_type=EventType.SQS)
    persistence = DynamoDBPersistenceLayer(table_name=os.environ["IDEMPOTENCY_TABLE"])
    config = IdempotencyConfig(event_key_jmespath="messageId")

    # Powertools' decorator factory is untyped; the record handler keeps its signature.
    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="record", persistence_store=persistence, config=config
    )
    def record_handler(record: SQSRecord) -> dict[str, Any]:
        response = _send(vendor)(json.loads(record.body))
        if response.status_code == 429:
            raise VendorRateLimited(f"{vendor} answered 429 for message {record.message_id}")
        response.raise_for_status()
        return {"status": response.status_code}

    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
        config.register_lambda_context(context)
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )

    return lambda_handler


@cache
def _send(vendor: str) -> Send:
    """The vendor session of this container: signed in once, at its first record."""
    prefix = os.environ["CONNECTION_SECRET_PREFIX"]
    secret: Mapping[str, Any] = parameters.get_secret(f"{prefix}/{vendor}/{CONNECTION}", transform="json")
    timeout = float(os.environ.get("VENDOR_TIMEOUT_SECONDS", _DEFAULT_VENDOR_TIMEOUT_SECONDS))
    client = httpx.Client(base_url=secret[_BASE_URL_FIELD[vendor]], timeout=timeout)
    send, _ = SESSIONS[vendor](client, secret)
    return send
