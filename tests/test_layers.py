"""Dependencies point one way: app -> protocol -> resources -> jobs -> runtime -> algorithms
(protocol also calls runtime directly; batch jobs serve through runtime).

``state`` (sqlite, blobs, ARNs, statuses), ``errors``, ``config`` and the strict JSON
parser ``protocol.bounds`` are the floor every layer stands on; ``algorithms`` imports
nothing from the project.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "chalicelib"

# layer -> project modules it may import (prefix match); everything else is a back-edge.
ALLOWED = {
    "algorithms": ("chalicelib.algorithms",),
    "errors": (),
    "config": (),
    "state": ("chalicelib.state", "chalicelib.config", "chalicelib.errors"),
    "jobs": ("chalicelib.jobs", "chalicelib.state", "chalicelib.algorithms",
             "chalicelib.errors", "chalicelib.config", "chalicelib.runtime",
             "chalicelib.resources.catalogue", "chalicelib.resources.schema_rules",
             "chalicelib.resources.use_cases", "chalicelib.resources.filter_grammar",
             "chalicelib.resources.filter_values", "chalicelib.protocol.bounds"),
    "runtime": ("chalicelib.runtime", "chalicelib.state", "chalicelib.algorithms",
                "chalicelib.errors", "chalicelib.config", "chalicelib.resources.catalogue",
                "chalicelib.resources.schema_rules", "chalicelib.resources.use_cases",
                "chalicelib.resources.filter_grammar", "chalicelib.resources.filter_values",
                "chalicelib.protocol.bounds"),
    "resources": ("chalicelib.resources", "chalicelib.state", "chalicelib.errors",
                  "chalicelib.config", "chalicelib.protocol.pagination",
                  "chalicelib.protocol.bounds"),
}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module if node.level == 0 else \
                ".".join(["chalicelib", *path.relative_to(PACKAGE).parts[:-1]][
                    :len(path.relative_to(PACKAGE).parts) - node.level + 1]
                         + [node.module])
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("chalicelib")}


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_no_back_edges(layer: str) -> None:
    target = PACKAGE / layer
    files = sorted(target.rglob("*.py")) if target.is_dir() else [target.with_suffix(".py")]
    assert files, layer
    bad = {f"{f.relative_to(PACKAGE)} imports {name}" for f in files for name in _imports(f)
           if not name.startswith(ALLOWED[layer])}
    assert not bad, sorted(bad)
