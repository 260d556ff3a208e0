"""The architecture stays visible: lower layers never import upper ones (nets and losses know nothing of
methods; methods know nothing of metrics, callbacks, the CLI or the leaderboard)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ZOO = Path(__file__).resolve().parent.parent / "zoo"
#: package (or module) -> what it may not import
FORBIDDEN = {
    "nets": ("zoo.methods", "zoo.metrics", "zoo.callbacks", "zoo.cli", "zoo.lightning_cli", "zoo.data", "zoo.weights"),
    "losses.py": ("zoo.methods", "zoo.metrics", "zoo.nets", "zoo.data"),
    "distributions.py": ("zoo.methods", "zoo.metrics", "zoo.nets", "zoo.data"),
    "methods": ("zoo.metrics", "zoo.callbacks", "zoo.cli", "zoo.lightning_cli", "zoo.weights", "zoo.pretrained"),
    "data": ("zoo.methods", "zoo.metrics", "zoo.callbacks", "zoo.cli", "zoo.lightning_cli"),
}


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("part", FORBIDDEN)
def test_no_upward_imports(part):
    files = [ZOO / part] if part.endswith(".py") else sorted((ZOO / part).rglob("*.py"))
    assert files
    bad = {f"{f.relative_to(ZOO)} imports {m}" for f in files for m in imports(f)
           if any(m == x or m.startswith(x + ".") for x in FORBIDDEN[part])}
    assert not bad, sorted(bad)
