"""``python -m devkit.sandbox``: serve the sandbox until SIGTERM/SIGINT, announcing the URL as one JSON line."""

from __future__ import annotations

import argparse
import json
import signal
import sys

from devkit.sandbox.server import start_sandbox

_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m devkit.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default 0)")
    parser.add_argument("--seed", type=int, default=0, help="seed for faults and shuffling (default 0)")
    args = parser.parse_args(argv)
    # Blocked before the server threads start so they inherit the mask and only sigwait() sees the signals.
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    sandbox = start_sandbox(seed=args.seed, host=args.host, port=args.port)
    print(json.dumps({"url": sandbox.url}), flush=True)
    signal.sigwait(_STOP_SIGNALS)
    sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
