"""``make chaos``: thousands of records per function through the SQS path while the vendor sandbox misbehaves.

The records go through the real local stack (moto, the vendor sandbox, the local runtime); the sandbox injects
429s, 503s, 500s, timeouts, dropped connections and 2xx answers that break the contract (applied and not, token
routes too), takes each vendor down for longer than the old retry allowed, and expires tokens; producers send some
records twice. A ledger counted from the sandbox's stored state and request log, and from the dead-letter
queues, says per function what was sent, delivered, dead-lettered, lost and duplicated, how many valid records
were dead-lettered, and how many invocations failed (from the runtime's delivery log).
"""
