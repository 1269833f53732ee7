"""Lambda's SQS event source mapping for one queue: long polling, a batching window, partial batch failures.

Visibility, receive counts and the redrive policy stay the queue's own: the poller never overrides the queue's
visibility timeout, and a message received more than maxReceiveCount times is moved to the dead-letter queue
by SQS itself on the next receive.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from devkit.aws import LocalQueue
from devkit.local_runtime.deliveries import DeliveryLog
from devkit.local_runtime.pool import RuntimeStopped
from devkit.local_runtime.worker import Invocation
from devkit.queue_delivery import (
    SQS_BATCH_LIMIT,
    delete_records,
    failed_message_ids,
    receive_records,
    release_records,
)
from devkit.template import SqsEventSource

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# SQS long polls for 20 seconds at most.
MAX_WAIT_SECONDS = 20
# ReceiveMessage calls in flight at once while a batch fills: Lambda's event source mapping starts with five
# pollers per queue, so a backlog fills a batch of hundreds in a second rather than ten records per round trip.
PARALLEL_RECEIVES = 5
# Within the last second of a batching window (WaitTimeSeconds counts whole seconds): a quick poll this often.
_QUICK_POLL_SECONDS = 0.1
_RETRY_AFTER_ERROR_SECONDS = 2.0


class QueuePoller:
    """Polls one queue on a thread of its own and invokes the function with each batch."""

    def __init__(
        self,
        function: str,
        source: SqsEventSource,
        queue: LocalQueue,
        sqs: SQSClient,
        invoke: Callable[[dict[str, Any]], Invocation],
        deliveries: DeliveryLog,
        wait_seconds: int,
        stopping: threading.Event,
    ) -> None:
        self._function = function
        self._source = source
        self._queue = queue
        self._sqs = sqs
        self._invoke = invoke
        self._deliveries = deliveries
        self._wait_seconds = wait_seconds
        self._stopping = stopping
        self._thread = threading.Thread(target=self._run, name=f"local-runtime-sqs-{queue.name}", daemon=True)
        self._receivers = ThreadPoolExecutor(PARALLEL_RECEIVES, thread_name_prefix=f"{self._thread.name}-receive")

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def join(self) -> None:
        """Wait for the thread and its receives to end once ``stopping`` is set (at most one long poll)."""
        if self._thread.is_alive():
            self._thread.join()
        self._receivers.shutdown()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._deliver_one_batch()
            except (BotoCoreError, ClientError) as error:
                if not self._stopping.is_set():
                    self._deliveries.line(f"sqs {self._function} {self._queue.name}: polling failed: {error}")
                    self._stopping.wait(_RETRY_AFTER_ERROR_SECONDS)

    def _deliver_one_batch(self) -> None:
        records = self._collect_batch()
        if not records:
            return
        event = {"Records": records}
        started = time.monotonic()
        try:
            invocation = self._invoke(event)
        except RuntimeStopped:
            release_records(self._sqs, self._queue.url, records)  # for the next run, not after the visibility timeout
            return
        latency_ms = (time.monotonic() - started) * 1000
        failed = failed_message_ids(
            event, invocation.succeeded, invocation.payload, self._source.function_response_types
        )
        delete_records(self._sqs, self._queue.url, [r for r in records if r["messageId"] not in failed])
        if self._stopping.is_set() and not invocation.succeeded:  # stopped halfway: as if never handed over
            release_records(self._sqs, self._queue.url, records)
        self._deliveries.sqs(self._function, self._queue.name, len(records), len(failed), latency_ms, invocation)

    def _collect_batch(self) -> list[dict[str, Any]]:
        """Long-poll for a first message, then collect until the batch is full or the batching window passes."""
        batch_size = self._source.batch_size
        records = self._receive(batch_size, self._wait_seconds)
        window_ends = time.monotonic() + self._source.maximum_batching_window_seconds
        while records and len(records) < batch_size and not self._stopping.is_set():
            remaining = window_ends - time.monotonic()
            if remaining <= 0:
                break
            more = self._receive_in_parallel(batch_size - len(records), int(remaining))
            records += more
            if not more and remaining < 1:
                self._stopping.wait(min(remaining, _QUICK_POLL_SECONDS))
        return records

    def _receive_in_parallel(self, room: int, wait_seconds: int) -> list[dict[str, Any]]:
        """Up to ``room`` records from ReceiveMessage calls in flight at once, once every call has returned."""
        records: list[dict[str, Any]] = []
        for more in self._receivers.map(lambda wanted: self._receive(wanted, wait_seconds), split_room(room)):
            records += more
        return records

    def _receive(self, wanted: int, wait_seconds: int) -> list[dict[str, Any]]:
        return receive_records(
            self._sqs,
            self._queue.url,
            self._queue.arn,
            min(wanted, SQS_BATCH_LIMIT),
            min(wait_seconds, MAX_WAIT_SECONDS),
        )


def split_room(room: int) -> list[int]:
    """The MaxNumberOfMessages of each call in flight: at most ten, and together no more than ``room``.

    Asking for more than the batch has room for would receive messages the batch cannot take: they would stay
    invisible until their visibility timeout, or count as a receive towards the dead-letter queue.
    """
    calls = min(PARALLEL_RECEIVES, math.ceil(room / SQS_BATCH_LIMIT))
    return [min(SQS_BATCH_LIMIT, room - call * SQS_BATCH_LIMIT) for call in range(calls)]
