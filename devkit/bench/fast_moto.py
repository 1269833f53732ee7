"""moto's server as the devkit runs it: DynamoDB's writes atomic, SQS's costs independent of the queue's length.

Every local stack (tests, ``make run``, chaos, the bench) runs this server (``devkit.aws.start_moto``).

moto 5.2.5 checks a conditional write's condition and then applies it without a lock, while its server answers
requests on many threads: two conditional updates can both pass a check only one should pass, which DynamoDB never
allows (the rate limiter's bookings, the ledger's claims and the order marks all rely on it). One lock around the
DynamoDB backend's item operations gives back that guarantee; they are quick next to the HTTP around them.

moto 5.2.5 recomputes every queue attribute (three scans of the whole queue) for each message it sends and three
times for each message it receives (to read MessageRetentionPeriod), scans the queue twice for each receipt handle
it deletes, and reads the clock through datetime arithmetic inside those scans. Measured on this machine with
2,000 messages queued, sending ten took 360 ms and receiving ten 1.1 s: 10,000 queued records would take hours to
drain, and the bench would time the emulator instead of the functions. The SQS patches keep moto's behaviour and
change only how it finds things:

- the clock reads ``time.time()``, the value moto's datetime arithmetic computes;
- ``Queue.attributes`` is a mapping that computes the attribute that is read, so the message counts scan the
  queue only when a caller asks for them (GetQueueAttributes), not on every send and receive;
- a DeleteMessageBatch finds its messages in one pass over the queue instead of two per receipt handle.

``python -m devkit.bench.fast_moto -H HOST -p PORT`` runs ``moto.server`` with the patches applied, counting every
request it serves (``devkit.bench.aws_requests``).
"""

from __future__ import annotations

import datetime
import functools
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from moto import server
from moto.core.utils import camelcase_to_underscores, unix_time
from moto.dynamodb.models import DynamoDBBackend
from moto.sqs import models

from devkit.bench.aws_requests import CountingApplication


class QueueAttributes(Mapping[str, Any]):
    """moto's ``Queue.attributes`` as a mapping that computes each attribute when it is read."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue

    def _names(self) -> dict[str, None]:
        queue = self._queue
        names = list(queue.BASE_ATTRIBUTES)
        if queue.fifo_queue:
            names += queue.FIFO_ATTRIBUTES
        if queue.kms_master_key_id:
            names += queue.KMS_ATTRIBUTES
        return dict.fromkeys(names)

    def __getitem__(self, name: str) -> Any:
        if name not in self._names():
            raise KeyError(name)
        value = getattr(self._queue, camelcase_to_underscores(name))
        if name == "RedrivePolicy" and value:
            return json.dumps(value)
        return str(value).lower() if isinstance(value, bool) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())


def fast_unix_time(dt: datetime.datetime | None = None) -> float:
    """moto's ``unix_time``: seconds since the epoch of ``dt``, or of now read straight from the clock."""
    return time.time() if dt is None else unix_time(dt)


def fast_unix_time_millis(dt: datetime.datetime | None = None) -> float:
    """moto's ``unix_time_millis`` on top of ``fast_unix_time``."""
    return fast_unix_time(dt) * 1000.0


def delete_message_batch(
    backend: Any, queue_name: str, receipts: list[dict[str, Any]]
) -> tuple[list[str], list[dict[str, Any]]]:
    """moto's ``SQSBackend.delete_message_batch``, with one pass over the queue for the whole batch."""
    queue = backend.get_queue(queue_name)
    # The lock moto's sends append under: without it a send, or another delete, that lands during the pass is
    # undone when the pass puts back the messages it kept (the server is threaded).
    with queue._messages_lock:
        wanted = {receipt["ReceiptHandle"] for receipt in receipts} - queue.deleted_messages
        kept = []
        for message in queue._messages:
            if message.receipt_handle in wanted or not wanted.isdisjoint(message._old_receipt_handles):
                queue.pending_messages.discard(message)
                queue.deleted_messages.update(message.all_receipt_handles)
            else:
                kept.append(message)
        queue._messages = kept
    # As moto answers: a handle of a message deleted now or before succeeds, any other is invalid.
    success, errors = [], []
    for receipt in receipts:
        if receipt["ReceiptHandle"] in queue.deleted_messages:
            success.append(receipt["Id"])
        else:
            handle = receipt["ReceiptHandle"]
            message = f'The input receipt handle "{handle}" is not a valid receipt handle.'
            errors.append(
                {"Id": receipt["Id"], "SenderFault": True, "Code": "ReceiptHandleIsInvalid", "Message": message}
            )
    return success, errors


# The DynamoDB backend's operations on items: each one runs alone, as DynamoDB applies each request atomically.
_ITEM_OPERATIONS = ("put_item", "get_item", "update_item", "delete_item", "query", "scan", "transact_write_items")
_ITEMS_LOCK = threading.RLock()


def one_at_a_time(operation: Callable[..., Any]) -> Callable[..., Any]:
    """``operation`` run under the lock every DynamoDB item operation takes."""

    @functools.wraps(operation)
    def alone(*args: Any, **kwargs: Any) -> Any:
        with _ITEMS_LOCK:
            return operation(*args, **kwargs)

    return alone


def apply_patches() -> None:
    """Patch moto's DynamoDB and SQS models in this process (see the module docstring)."""
    for name in _ITEM_OPERATIONS:
        setattr(DynamoDBBackend, name, one_at_a_time(getattr(DynamoDBBackend, name)))
    vars(models).update(unix_time=fast_unix_time, unix_time_millis=fast_unix_time_millis)
    models.Queue.attributes = property(QueueAttributes)  # type: ignore[assignment]
    models.SQSBackend.delete_message_batch = delete_message_batch  # type: ignore[method-assign,assignment]


def main(argv: list[str] | None = None) -> None:
    """Run moto's server with the patches and the request counter (the arguments are moto.server's)."""
    apply_patches()
    server.DomainDispatcherApplication = CountingApplication  # type: ignore[attr-defined]
    server.main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
