"""``make chaos``: thousands of records per function through the SQS path while the vendor sandbox misbehaves.

The records go through the real local stack (moto, the vendor sandbox, the local runtime); the sandbox injects
429s, 503s, 500s, timeouts, dropped connections (applied and not) and expires tokens, and producers send some
records twice. A ledger counted from the sandbox's stored state and request log, and from the dead-letter
queues, says per function what was sent, delivered, dead-lettered, lost and duplicated.
"""
