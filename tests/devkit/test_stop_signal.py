"""Serving until stopped: the wait for SIGINT or SIGTERM in the main thread."""

import os
import signal
import threading

import pytest

from devkit.stop_signal import wait_for_stop_signal


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_wait_ends_with_the_signal_and_puts_the_handlers_back(signum):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    threading.Timer(0.3, os.kill, (os.getpid(), signum)).start()
    assert wait_for_stop_signal(poll_seconds=0.05) == signum
    assert {s: signal.getsignal(s) for s in before} == before


def test_a_signal_as_the_wait_begins_is_not_lost():
    # The case that deadlocked Event.set() in a handler: the signal arrives as soon as the handler is in place.
    original = signal.getsignal(signal.SIGTERM)

    def kill_once_handled() -> None:
        while signal.getsignal(signal.SIGTERM) == original:
            pass
        os.kill(os.getpid(), signal.SIGTERM)

    for _ in range(50):
        threading.Thread(target=kill_once_handled).start()
        assert wait_for_stop_signal(poll_seconds=0.01) == signal.SIGTERM
