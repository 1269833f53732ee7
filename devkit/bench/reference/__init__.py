"""The reference implementation the bench compares the functions with (devkit only, never deployed).

Per vendor, the handler a competent engineer writes from the Powertools documentation: ``BatchProcessor`` and
``process_partial_response`` over the SQS batch, one vendor call per record, each record made idempotent with
``idempotent_function`` on the same DynamoDB table the functions use (``batch``). ``functions`` describes them to
the local runtime as functions of their own, on queues of their own with the real functions' event source settings.
"""
