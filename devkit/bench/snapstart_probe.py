"""Child side of ``devkit.bench.snapstart``: one cold init and one restore of it in this fresh process.

    python -m devkit.bench.snapstart_probe PACKAGE.MODULE.FUNCTION

Only the standard library is imported before the clock starts. Prints ``{"cold_ms": ..., "restored_ms": ...}``:
the import of the handler, its container and every AWS client built (what SnapStart's snapshot holds), then the
``register_after_restore`` hook's work and the AWS clients rebuilt after it.
"""

from __future__ import annotations

import importlib
import json
import sys
import time

from devkit.bench.lambda_site import confine


def main(argv: list[str]) -> None:
    """Run the probe and print its line."""
    [handler] = argv
    confine()
    started = time.perf_counter()
    module = handler.rpartition(".")[0]
    importlib.import_module(module)
    # Each function package keeps its warm-container collaborators in <package>.runtime.runtime().
    container = importlib.import_module(f"{module.partition('.')[0]}.runtime").runtime()
    container.warm()
    built = time.perf_counter()
    container.renew()
    container.warm()
    restored = time.perf_counter()
    print(json.dumps({"cold_ms": (built - started) * 1000, "restored_ms": (restored - built) * 1000}))


if __name__ == "__main__":
    main(sys.argv[1:])
