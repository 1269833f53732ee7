"""Dev-only vendor sandbox: a loopback HTTP server that imitates the vendors' APIs strictly.

Start it in-process with ``start_sandbox()`` or as ``python -m devkit.sandbox``; steer it through the control
API under ``/_sandbox/``.
"""

from devkit.sandbox.server import RunningSandbox, start_sandbox

__all__ = ["RunningSandbox", "start_sandbox"]
