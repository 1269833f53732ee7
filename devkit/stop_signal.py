"""Serving until stopped: the main thread waits for SIGINT (Ctrl-C) or SIGTERM."""

from __future__ import annotations

import signal
import time


def wait_for_stop_signal(poll_seconds: float = 0.2) -> int:
    """Block until SIGINT or SIGTERM arrives and return its number; the earlier handlers are back on return.

    The handlers only append to a list and the main thread polls it. A handler that called ``Event.set()`` could
    deadlock: it runs in the main thread, which may be holding that Event's lock inside ``Event.wait()`` just then.
    """
    received: list[int] = []
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    for signum in previous:
        signal.signal(signum, lambda number, _frame: received.append(number))
    try:
        while not received:
            time.sleep(poll_seconds)  # a signal cuts the sleep short; its handler has run when the loop checks
    finally:
        # A second Ctrl-C during the shutdown that follows interrupts it, as usual.
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return received[0]
