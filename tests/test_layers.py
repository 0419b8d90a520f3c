"""The packages import one way: front ends (the CLI, the editor server, the benchmarks) above the
assistant, the assistant above the engine, the monitors' language-server client and the sandbox;
no module imports another that imports it back, directly or around a loop.

Read from the source with `ast` (nothing is imported). Imports under `if TYPE_CHECKING:` are for
annotations only and do not count; imports inside functions do.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("assistant", "benchmarks", "decoders", "lsp", "sandbox")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _typing_only(tree: ast.AST) -> set[int]:
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(inner) for statement in node.body for inner in ast.walk(statement))
    return skip


def _absolute(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _known(name: str) -> str | None:
    """The project module `name` is or lies in (None for other libraries)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text())
    skip = _typing_only(tree)
    targets = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, node)
            # `from . import x` names module x when there is one; else a name defined in `base`
            targets.update(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names)
    return {known for t in targets if (known := _known(t)) and known != module}


GRAPH = {module: _imports(module) for module in MODULES}


def _package(module: str) -> str:
    return module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph`, as the nodes around it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        graph.setdefault(_package(module), set()).update(p for t in targets if (p := _package(t)) != _package(module))
    return graph


def _importers(of: str) -> dict[str, set[str]]:
    return {m: {t for t in ts if t == of or t.startswith(of + ".")} for m, ts in GRAPH.items()}


def test_the_reader_sees_the_projects_imports():
    # The check below means something only if the graph is the real one.
    assert "assistant.cli.main" in MODULES and "decoders.engine" in MODULES
    assert "lsp.server" in GRAPH["assistant.cli.main"]
    assert "decoders.engine" in GRAPH["decoders.loop"]


def test_the_cycle_finder_finds_loops():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b", "c"}, "b": {"c"}}) is None


def test_no_module_imports_itself_back():
    assert _cycle(GRAPH) is None, " -> ".join(_cycle(GRAPH) or [])


def test_no_package_imports_itself_back():
    graph = _package_graph()
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_front_ends_sit_above_the_assistant():
    core = {m for m in MODULES if _package(m) == "assistant"}
    for front in ("lsp", "benchmarks", "assistant.cli"):
        users = {m: ts for m, ts in _importers(front).items() if m in core and ts}
        assert not users, f"the assistant imports {front}: {users}"


def test_the_engine_and_the_analysis_client_import_nothing_above_them():
    above = ("assistant", "lsp", "benchmarks")
    for low in ("decoders", "sandbox", "assistant.analysis"):
        for module, targets in GRAPH.items():
            if module == low or module.startswith(low + "."):
                wrong = {t for t in targets if t.split(".")[0] in above and not (t == low or t.startswith(low + "."))}
                assert not wrong, f"{module} imports {wrong}"
