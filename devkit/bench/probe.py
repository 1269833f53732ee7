"""Child side of the cold-start bench: time one import-and-init in this fresh process, print one JSON line.

    python -m devkit.bench.probe handler PACKAGE.MODULE.FUNCTION   # import the handler, build its container
    python -m devkit.bench.probe modules NAME [NAME ...]          # import these modules only

Only the standard library is imported before the clock starts. The line is
``{"ms": ..., "init_ms": ..., "files": [...]}``: ``init_ms`` is the part spent building the container after the
imports; the files are those of every module loaded (the parent reads the imports of the function's own modules
from them).
"""

from __future__ import annotations

import importlib
import json
import sys
import time

from devkit.bench.lambda_site import confine


def main(argv: list[str]) -> None:
    """Run one probe and print its line."""
    mode, *names = argv
    confine()
    started = time.perf_counter()
    if mode == "handler":
        [handler] = names
        module = handler.rpartition(".")[0]
        importlib.import_module(module)
        imported = time.perf_counter()
        # Each function package keeps its warm-container collaborators in <package>.runtime.runtime().
        importlib.import_module(f"{module.partition('.')[0]}.runtime").runtime()
    else:
        for name in names:
            importlib.import_module(name)
        imported = time.perf_counter()
    finished = time.perf_counter()
    files = sorted({str(module.__file__) for module in list(sys.modules.values()) if getattr(module, "__file__", None)})
    timings = {"ms": (finished - started) * 1000, "init_ms": (finished - imported) * 1000}
    print(json.dumps({**timings, "files": files}))


if __name__ == "__main__":
    main(sys.argv[1:])
