"""The code's layout: no import cycles between the modules of adc/, baselines/, benchmarks/ and workflow/scripts/.

The import graph is built from the source with ``ast``: every ``import`` and ``from ... import``
statement, at module level or inside a function, relative imports resolved; ``from pkg import name``
points at ``pkg.name`` when that is a module, else at ``pkg``. Importing ``a.b.c`` also runs
``a/__init__`` and ``a/b/__init__``; those implicit edges are left out (package ``__init__`` files
import nothing heavy and are in the graph through their own explicit imports).
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TREES = ("adc", "baselines", "benchmarks", "workflow/scripts")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_modules(root: Path = ROOT, trees=TREES) -> dict[str, Path]:
    out = {}
    for tree in trees:
        for path in sorted((root / tree).rglob("*.py")):
            out[module_name(path) if root == ROOT else ".".join(path.relative_to(root).with_suffix("").parts)] = path
    return out


def _target(name: str, modules) -> str | None:
    """The longest prefix of ``name`` that is one of ``modules``."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        candidate = ".".join(parts[:i])
        if candidate in modules:
            return candidate
    return None


def imports_of(module: str, path: Path, modules) -> set[str]:
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    edges = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module
            names = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in modules else prefix for a in node.names]
        else:
            continue
        for n in names:
            t = _target(n, modules)
            if t is not None and t != module:
                edges.add(t)
    return edges


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    return {m: imports_of(m, p, modules) for m, p in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (iterative DFS, deterministic order)."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = dict.fromkeys(graph, WHITE)
    for start in sorted(graph):
        if color[start] != WHITE:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        color[start] = GREY
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                color[node] = BLACK
                stack.pop()
            elif color.get(child, BLACK) == GREY:
                path = [n for n, _ in stack]
                return path[path.index(child):] + [child]
            elif color.get(child) == WHITE:
                color[child] = GREY
                stack.append((child, iter(sorted(graph[child]))))
    return None


def test_the_import_graph_has_no_cycle():
    modules = source_modules()
    assert {"adc.core.step", "adc.runtime.loop", "baselines.topk", "benchmarks.run", "workflow.scripts.figures"} \
        <= set(modules)
    graph = import_graph(modules)
    assert "adc.core.methods" in graph["adc.double_compression.method"]      # the graph sees real edges
    assert "adc.runtime.loop" in graph["adc.runtime.cli"]                      # (function-level ones too)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def write_tree(tmp_path, files: dict[str, str]) -> dict[str, Path]:
    for name, text in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return {".".join(Path(n).with_suffix("").parts).removesuffix(".__init__"): tmp_path / n for n in files}


@pytest.mark.parametrize("files, cycle", [
    ({"pkg/__init__.py": "", "pkg/a.py": "from pkg import b\n", "pkg/b.py": "def f():\n    from . import a\n"},
     ["pkg.a", "pkg.b", "pkg.a"]),                                              # function-level, relative
    ({"pkg/__init__.py": "", "pkg/sub/__init__.py": "", "pkg/sub/x.py": "from ..y import f\n",
      "pkg/y.py": "import pkg.sub.x as x\n"}, ["pkg.sub.x", "pkg.y", "pkg.sub.x"]),   # level-2 relative import
    ({"pkg/__init__.py": "", "pkg/a.py": "from pkg.b import g\n", "pkg/b.py": "import os\n"}, None),
])
def test_the_cycle_finder_finds_a_planted_cycle(tmp_path, files, cycle):
    modules = write_tree(tmp_path, files)
    assert find_cycle(import_graph(modules)) == cycle


def test_the_docs_state_the_run_counts_the_configs_give():
    import yaml

    from adc import pipeline
    from adc.report import analyses
    config_doc = (ROOT / "config" / "README.md").read_text()
    figs_doc = (ROOT / "paper_figs" / "README.md").read_text()
    default = yaml.safe_load((ROOT / "config" / "default.yaml").read_text())
    paper = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    assert f"({len(pipeline.expand_runs(default))} with the methods registered today)" in config_doc
    assert f"| {len(pipeline.expand_runs(paper))} |" in config_doc
    for which in ("default", "paper"):
        counts = {name.replace("_", " ") if name == "grid_search" else name: len(a.runs())
                  for name, a in analyses.load(which).items()}
        total = sum(counts.values())
        parts = ", ".join(f"{name} {n}" for name, n in counts.items())
        assert f"| {total}: {parts} |" in config_doc, (which, total, parts)
        flat = " ".join(figs_doc.split())
        assert f"{total} " in flat and all(f"{name} {n}" in flat for name, n in counts.items()), (which, counts)
