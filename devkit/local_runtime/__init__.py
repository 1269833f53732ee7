"""The local Lambda runtime: the template's API routes and SQS event sources, served without Docker.

In-process: ``with LocalRuntime(stack, port=0) as runtime: runtime.api_url`` (``devkit.local_runtime.runtime``).
From a shell: ``python -m devkit.local_runtime`` (see ``__main__``). ``devkit.invoke`` runs its one invocation
on the same ``worker.Worker``; this package's modules are imported one by one so that it can.
"""
