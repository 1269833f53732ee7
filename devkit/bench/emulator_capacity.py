"""How many DynamoDB writes a second the local emulator takes: the ceiling of the local path.

Every queued record costs two writes to the idempotency table (its claim, then done); against one moto process
these, not the vendor, bound the local throughput. Measured with as many writers as the functions' containers
run together (each sends its claims 16 at a time).
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from devkit.aws import dynamodb_client

_WRITERS = 16


def dynamodb_writes_per_second(endpoint_url: str, seconds: float = 3.0) -> float:
    """Conditional puts a second that ``_WRITERS`` threads get through the emulator in ``seconds``."""
    client = dynamodb_client(endpoint_url)
    table = f"bench-capacity-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    deadline = time.monotonic() + seconds

    def write(writer: int) -> int:
        count = 0
        while time.monotonic() < deadline:
            client.put_item(
                TableName=table,
                Item={"id": {"S": f"{writer}-{count}"}, "status": {"S": "INPROGRESS"}},
                ConditionExpression="attribute_not_exists(id)",
            )
            count += 1
        return count

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=_WRITERS) as pool:
        total = sum(pool.map(write, range(_WRITERS)))
    rate = total / (time.monotonic() - started)
    client.delete_table(TableName=table)
    return rate
