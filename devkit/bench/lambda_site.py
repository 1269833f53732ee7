"""Child side of the probes: import only what a function could import in Lambda.

The probes run in this repository's virtualenv, which also holds the development tools. Some packages import
more when more is installed: httpx loads its command line (click, rich, pygments: about 150 ms) only when those
are importable. Lambda has the standard library, the function's code and layers (PYTHONPATH) and, of installed
packages, only what the layer installs, so ``confine()`` refuses the others, as Lambda would. The parent names
the packages the layer installs in ``PACKAGES_VARIABLE`` (``cold_start.layer_packages``).

Standard library only, and only modules the interpreter has loaded already, so that nothing is imported here
that the timed import would otherwise pay for.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys

# typing and collections.abc are not loaded yet when a probe starts; mypy reads this name as typing's.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from types import ModuleType

PACKAGES_VARIABLE = "BENCH_LAMBDA_PACKAGES"


def confine(environment: Mapping[str, str] = os.environ) -> None:
    """Refuse imports of installed packages Lambda would not have, when the parent named the ones it has."""
    named = environment.get(PACKAGES_VARIABLE)
    if named:
        installed = [entry for entry in sys.path if os.path.basename(entry) == "site-packages"]
        sys.meta_path.insert(0, LambdaSite(named.split(","), installed))


class LambdaSite:
    """A finder that finds nothing itself and refuses a top-level package installed here but not in the layer.

    The standard library and the function's code and layers (PYTHONPATH) are not installed packages.
    """

    def __init__(self, packages: Iterable[str], installed: Sequence[str]) -> None:
        self._allowed = frozenset(packages)
        self._installed = list(installed)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        """None (the other finders look) unless ``fullname`` is an installed package outside the layer."""
        if path is not None or fullname in self._allowed:
            return None
        if importlib.machinery.PathFinder.find_spec(fullname, self._installed) is None:
            return None
        raise ModuleNotFoundError(f"No module named {fullname!r} (not in the function's layer)", name=fullname)
