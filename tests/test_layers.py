"""The architecture holds: the core (``polymix/``) imports no stage, no two top-level folders
import each other, and the stages form no cycle. ``polymix/cli.py`` is the one module allowed
to import everything (it is the command line on top of all of them)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("mix", "templates", "translate", "data_cards", "training", "flows")
TOP_LAYER = {ROOT / "polymix" / "cli.py"}


def _folder(module: str) -> str | None:
    """The top-level folder a ``polymix...`` module lives in (``polymix`` for the core)."""
    parts = module.split(".")
    if parts[0] != "polymix":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else "polymix"


def import_graph() -> dict[str, dict[str, set[str]]]:
    """folder -> imported folder -> the files that import it (every ``import`` anywhere in a file)."""
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for folder in ("polymix", *STAGES):
        for path in (ROOT / folder).rglob("*.py"):
            if path in TOP_LAYER:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
                elif isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                else:
                    continue
                for target in {_folder(m) for m in modules} - {None, folder}:
                    graph[folder][target].add(str(path.relative_to(ROOT)))
    return graph


def test_the_core_imports_no_stage():
    graph = import_graph()
    assert not graph["polymix"], {target: sorted(files) for target, files in graph["polymix"].items()}


def test_no_two_folders_import_each_other_and_stages_form_no_cycle():
    graph = {a: dict(targets) for a, targets in import_graph().items()}  # plain dicts: lookups must not add keys
    mutual = [(a, b, sorted(graph[a][b]), sorted(graph[b][a])) for a in graph for b in graph[a] if a < b and a in graph.get(b, {})]
    assert not mutual, mutual
    done, active = set(), []

    def visit(node: str) -> None:  # depth-first search; a node met again while active closes a cycle
        assert node not in active, f"import cycle: {' -> '.join(active[active.index(node):] + [node])}"
        if node in done:
            return
        active.append(node)
        for target in list(graph.get(node, {})):
            visit(target)
        active.pop()
        done.add(node)

    for folder in list(graph):
        visit(folder)


def test_the_check_sees_a_back_edge(tmp_path, monkeypatch):
    """The check is not vacuous: the real graph has the expected edges, and a core module importing a stage is seen."""
    graph = import_graph()
    assert "polymix" in graph["translate"] and "templates" in graph["mix"] and "translate" in graph["flows"]
    monkeypatch.setattr(Path, "rglob", lambda self, pattern: iter([tmp_path / "x.py"]) if self.name == "polymix" else iter([]))
    (tmp_path / "x.py").write_text("from polymix.training.loop import Trainer\n", encoding="utf-8")
    monkeypatch.setattr(Path, "relative_to", lambda self, other: self)
    assert import_graph()["polymix"] == {"training": {str(tmp_path / "x.py")}}
