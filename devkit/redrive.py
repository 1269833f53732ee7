"""Redrive a function's dead letters back to its queue, once their cause is fixed.

In AWS this is SQS's own message move task (StartMessageMoveTask from the DLQ to its source queue). The local
emulator has no move tasks, so against it the messages are moved the way the task moves them: body and
message attributes as they are (the producer's Idempotency-Key included), then deleted from the DLQ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# ReceiveMessage returns ten at most; an empty long poll of this many seconds ends the move.
_RECEIVE_MAX = 10
_EMPTY_WAIT_SECONDS = 1


@dataclass(frozen=True)
class QueuePair:
    """A function's queue and the dead-letter queue its RedrivePolicy names."""

    queue_url: str
    queue_arn: str
    dead_letter_url: str
    dead_letter_arn: str


def start_move_task(sqs: Any, pair: QueuePair) -> str:
    """Start SQS's message move task from the DLQ to the queue (AWS); return the task handle."""
    answer = sqs.start_message_move_task(SourceArn=pair.dead_letter_arn, DestinationArn=pair.queue_arn)
    return str(answer["TaskHandle"])


def move_messages(sqs: Any, pair: QueuePair, limit: int | None = None) -> int:
    """Move up to ``limit`` messages (all by default) from the DLQ to the queue as the move task does; the count."""
    moved = 0
    while limit is None or moved < limit:
        wanted = _RECEIVE_MAX if limit is None else min(_RECEIVE_MAX, limit - moved)
        answer = sqs.receive_message(
            QueueUrl=pair.dead_letter_url,
            MaxNumberOfMessages=wanted,
            MessageAttributeNames=["All"],
            WaitTimeSeconds=_EMPTY_WAIT_SECONDS,
        )
        messages = answer.get("Messages", [])
        if not messages:
            break
        for message in messages:
            sent: dict[str, Any] = {"QueueUrl": pair.queue_url, "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                sent["MessageAttributes"] = message["MessageAttributes"]
            sqs.send_message(**sent)
            # Deleted only once its copy is on the queue: a crash in between duplicates, never loses.
            sqs.delete_message(QueueUrl=pair.dead_letter_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    return moved
