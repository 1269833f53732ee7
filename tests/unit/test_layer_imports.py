"""Imports inside the layer go one way: entry → container → adapters → operation plumbing → vendor plumbing → base."""

import ast
from pathlib import Path

LAYER = Path(__file__).resolve().parents[2] / "layers" / "shared"

# Higher imports lower (or its own rank), never the other way.
RANKS = {
    "connectors.entry": 5,
    "connectors.snapstart": 5,
    "connectors.container": 4,
    "connectors.adapters": 3,
    "connectors.operation": 2,
    "connectors.order": 2,
    "connectors.idempotency": 2,
    "connectors.deliveries": 2,
    "connectors.receipts": 2,
    "connectors.auth": 1,
    "connectors.aws_session": 1,
    "connectors.http": 1,
    "connectors.limiter": 1,
    "connectors.secrets": 1,
    "connectors.models": 0,
    "connectors.failures": 0,
    "connectors.failure_log": 0,
    "connectors.observability": 0,
    "connectors.redact": 0,
    "connectors.deadline": 0,
    "connectors.settings": 0,
}


def rank(module: str) -> int:
    prefixes = [prefix for prefix in RANKS if module == prefix or module.startswith(prefix + ".")]
    assert prefixes, f"{module} has no place in RANKS: say which layer it belongs to"
    return RANKS[max(prefixes, key=len)]


def layer_imports(path: Path) -> set[str]:
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("connectors"):
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names if alias.name.startswith("connectors"))
    return imported


def test_no_layer_module_imports_one_above_it():
    upward: list[str] = []
    for path in sorted((LAYER / "connectors").rglob("*.py")):
        module = ".".join(path.relative_to(LAYER).with_suffix("").parts).removesuffix(".__init__")
        if module == "connectors":
            continue
        upward.extend(f"{module} imports {name}" for name in layer_imports(path) if rank(name) > rank(module))
    assert upward == []
