"""The shape of the package: rooms import one way with no cycle, the core stays pure, units
stay readable, public names say what they promise. These read the source; apart from
importing the packages' __init__ to check what they offer, they run nothing."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "recommender"

# The rooms (a subpackage, or a top-level module) and the rooms each may import: data flows
# from the contract through features and models to scores; the edges (io, datasets, mlops,
# engines, serving, api, cli) read, write, serve and resolve models around that core.
ROOMS: dict[str, set[str]] = {
    "errors": set(), "config": set(), "_trees": set(), "_libc": set(),
    "contract": {"errors"},
    "features": {"contract", "_trees"},
    "modeling": {"features", "contract", "errors", "_trees"},
    "scoring": {"modeling", "features", "contract", "errors"},
    "io": {"contract", "errors", "_libc"},
    "datasets": {"io", "contract", "config", "errors"},
    "mlops": {"modeling", "io", "contract", "config", "errors", "_libc"},
    "api": {"datasets", "modeling", "scoring", "mlops", "contract", "config", "errors"},
    "engines": {"api", "scoring", "mlops", "io", "contract", "config", "errors", "_libc",
                "_trees"},
    "serving": {"api", "engines", "scoring", "mlops", "contract", "config", "errors", "_trees"},
    "cli": {"api", "engines", "serving", "datasets", "scoring", "mlops", "io", "contract",
            "config", "errors"},
}  # fmt: skip

# The pure core: frames and fitted models in, frames out. No disk, no MLflow, no processes.
PURE_ROOMS = ("contract", "features", "modeling", "scoring")
IMPURE_MODULES = {"os", "sys", "pathlib", "shutil", "tempfile", "subprocess", "multiprocessing",
                  "threading", "signal", "socket", "pickle", "joblib", "mlflow", "pyspark",
                  "fastapi", "uvicorn", "io", "glob", "fcntl"}  # fmt: skip
IMPURE_CALLS = {"open", "read_csv", "read_parquet", "read_excel", "read_json", "to_csv",
                "to_parquet", "to_excel", "to_json", "savefig", "read_text",
                "write_text"}  # fmt: skip
MAX_FUNCTION_LINES = 60


def modules() -> dict[str, Path]:
    """Every module by dotted name under the package (a package by its own name)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        if name != "__init__":
            found[name.removesuffix(".__init__")] = path
    return found


def room(module: str) -> str:
    return module.split(".")[0]


def _typing_only(tree: ast.AST) -> set[int]:
    return {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for node in ast.walk(block)
    }


def project_imports(path: Path, typing: bool = False) -> set[str]:
    """The recommender modules `path` imports anywhere, function-level imports included
    (TYPE_CHECKING blocks too with `typing`): `from package import module` imports that
    module."""
    tree = ast.parse(path.read_text())
    typing_only, known = set() if typing else _typing_only(tree), modules()
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names}
            inner = {name for name in submodules if name.removeprefix("recommender.") in known}
            names |= inner or {node.module}
    local = {name.removeprefix("recommender.") for name in names if name.startswith("recommender.")}
    return local & set(known)


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules it imports (for type checking too): each named one, and, from
    outside a package, the package's __init__ that Python runs first."""
    graph = {}
    for name, path in modules().items():
        edges = set()
        for imported in project_imports(path, typing=True):
            edges.add(imported)
            parts = imported.split(".")
            edges |= {".".join(parts[:n]) for n in range(1, len(parts))
                      if not name.startswith(".".join(parts[:n]) + ".")}  # fmt: skip
        graph[name] = edges - {name}
    return graph


def test_every_room_is_declared():
    assert {room(m) for m in modules()} == set(ROOMS)


@pytest.mark.parametrize("module", sorted(modules()))
def test_a_module_imports_only_the_rooms_its_room_may(module: str):
    others = {room(m) for m in project_imports(modules()[module])} - {room(module)}
    assert others <= ROOMS[room(module)], (
        f"{module} imports {sorted(others - ROOMS[room(module)])}, which {room(module)} may not"
    )


def test_the_rooms_import_one_way():
    """The rooms' own rule has no cycle, so no cycle between rooms can pass it."""
    assert not _cycle({name: set(allowed) for name, allowed in ROOMS.items()})


def test_no_import_cycle_at_all():
    """Module by module, function-level imports, imports for type checking and packages'
    __init__ included."""
    cycle = _cycle(import_graph())
    assert not cycle, " -> ".join(cycle)


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of `graph` (a list of nodes, the first repeated at its end), or []."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_the_cycle_finder_finds_cycles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


@pytest.mark.parametrize("module", sorted(m for m in modules() if room(m) in PURE_ROOMS))
def test_the_core_touches_no_disk_mlflow_or_processes(module: str):
    tree = ast.parse(modules()[module].read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
    }
    called = {
        node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
    }
    assert not imported & IMPURE_MODULES, f"{module} imports {imported & IMPURE_MODULES}"
    assert not called & IMPURE_CALLS, f"{module} calls {called & IMPURE_CALLS}"


@pytest.mark.parametrize(
    "package", sorted(m for m, p in modules().items() if p.name == "__init__.py")
)
def test_each_room_says_what_it_offers(package: str):
    """A subpackage's __init__ has a docstring and lists its public names in __all__, each
    of them there."""
    import importlib

    tree = ast.parse(modules()[package].read_text())
    assert ast.get_docstring(tree), f"{package} has no docstring"
    loaded = importlib.import_module(f"recommender.{package}")
    offered = getattr(loaded, "__all__", None)
    assert offered, f"{package} lists nothing in __all__"
    assert all(hasattr(loaded, name) for name in offered)


def test_the_tree_kernel_imports_nothing_of_the_project():
    assert project_imports(modules()["_trees"]) == set()


def functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def test_no_function_is_longer_than_a_screen():
    long = [
        f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({length} lines)"
        for path in modules().values()
        for node in functions(ast.parse(path.read_text()))
        if (length := (node.end_lineno or node.lineno) - node.lineno + 1) > MAX_FUNCTION_LINES
    ]
    assert not long


def public_definitions(body: list[ast.stmt], prefix: str = "") -> list[tuple[str, ast.AST]]:
    """Public functions, classes and methods of public classes (overload stubs aside)."""
    found: list[tuple[str, ast.AST]] = []
    for node in body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if node.name.startswith("_"):
            continue
        if any("overload" in ast.unparse(d) for d in getattr(node, "decorator_list", [])):
            continue
        found.append((prefix + node.name, node))
        if isinstance(node, ast.ClassDef):
            found += public_definitions(node.body, f"{prefix}{node.name}.")
    return found


def test_every_public_class_and_function_says_what_it_does():
    missing = [
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in [*modules().values(), PACKAGE / "__init__.py"]
        for name, node in public_definitions(ast.parse(path.read_text()).body)
        if not ast.get_docstring(node)  # type: ignore[arg-type]
    ]
    assert not missing


def test_docstrings_quote_no_timings():
    """Timings go stale: they live in benchmarks/ and docs/benchmarks.md."""
    import re

    timing = re.compile(r"\b\d+(\.\d+)?\s?(ms|s|seconds|microseconds)\b")
    quoted = []
    for path in modules().values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)):
                doc = ast.get_docstring(node) or ""
                quoted += [f"{path.name}: {m.group(0)}" for m in timing.finditer(doc)]
    assert not quoted


def test_nothing_is_found_from_the_package_location():
    """Defaults come from recommender.config (the working directory), never from __file__,
    except to read files shipped inside the package."""
    # tracking ships the package's own code inside each MLflow model; spark_engine hands
    # Spark the log settings shipped beside it.
    allowed = {"mlops.tracking", "engines.spark"}
    users = {
        name
        for name, path in modules().items()
        if "__file__" in path.read_text() and name not in allowed
    }
    assert not users
