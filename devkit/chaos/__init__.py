"""``make chaos``: thousands of records per function through the SQS path while the vendor sandbox misbehaves.

The records go through the real local stack (moto, the vendor sandbox, the local runtime); the sandbox injects
429s, 503s, 500s, timeouts, dropped connections and 2xx answers that break the contract (applied and not, token
routes too), takes each vendor down for longer than the old retry allowed, and expires tokens; producers send some
records twice. A ledger counted from the sandbox's stored state and request log, and from the dead-letter
queues, says per function what was sent, delivered, dead-lettered, lost and duplicated, how many valid records
were dead-lettered, and how many invocations failed (from the runtime's delivery log).

Versioned records (``--versioned``, 15% of the Procore and ConstructionOnline records by default) test order: an
older edit never overwrites a newer one. They come in groups of 2 to 4 edits of one object (a PCO by
``origin_id``, a seeded change order by ``ID``), each setting one to three properties to values of its own, queued
oldest first in separate batches a few milliseconds apart; the groups take turns between no producer version
(SentTimestamp decides, and such an edit is never sent twice, since a later copy would be a newer edit), counters
in ``Change-Order-Version`` and RFC 3339 date-times in it. Faults, retries and redeliveries reorder them. After
the queues drain, every versioned object must hold, for every property an edit set, the newest such edit's value
as the sandbox stores it; ``stale=N`` counts the objects that do not (Procore and ConstructionOnline only:
Primavera Cloud's batches create, unordered, and its ledger line has no ``stale``).

A versioned edit may be superseded (settled, never sent) or overwritten by a newer one, so its token says nothing
about its fate: it counts as delivered ("delivered or superseded", its object's state checked by ``stale``)
unless it is in the dead-letter queue (found by its body), where it counts as dead-lettered and, being valid, as
``valid_dead_lettered``. It is never counted lost or duplicated: ``lost`` and ``duplicated`` count the plain
records, one object each, as before.
"""
