"""The trigger adapters: an API Gateway request or an SQS batch in, command outcomes out.

The operation decides nothing about triggers; these adapters apply the failure policy of ``connectors.failures``
to its outcomes, the same way for every function.
"""
