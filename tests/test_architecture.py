"""The shape of the package: layers import one way, units stay readable, public names say
what they promise. These read the source; they run nothing."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "recommender"

# files -> schema -> features -> models -> scores -> files: a module may import its own
# layer and those below, never one above (function-level imports included).
LAYERS = {
    "_trees": 0, "config": 0, "errors": 0, "contract.headers": 0, "_libc": 0,
    "engines._forkserver": 0, "contract.numbers": 0, "contract.tables": 0,
    "contract._cells": 1, "contract.accounts": 1, "contract._keyset": 1, "contract._frames": 1,
    "contract.pairs": 1, "contract.duplicates": 1, "contract.validation": 1, "contract": 1,
    "io": 1, "io.paths": 1, "io._csv": 1, "io._xlsx": 1, "io._json": 1, "io._formulas": 1,
    "io.writers": 1, "io._atomic": 1, "io.outputs": 1, "io.readers": 1, "engines._memory": 1,
    "features": 2, "modeling.evaluation": 2, "datasets.simulate": 2, "datasets.real": 2,
    "datasets": 2, "datasets.files": 2,
    "modeling": 3, "modeling._lgbm": 3, "modeling.lift": 3, "modeling.ranker": 3,
    "modeling.estimator": 3, "modeling.training": 3,
    "mlops": 4, "mlops.model_store": 4, "scoring.explain": 4, "scoring.plots": 4,
    "scoring": 5,
    "scoring.planning": 6, "engines._spill": 6, "engines._worker": 6,
    "engines": 7, "engines.local": 7, "mlops.champion": 7, "mlops.tracking": 7,
    "mlops.tracking_server": 7, "api": 7, "datasets.feedback": 7,
    "serving": 7, "serving.app": 7, "mlops.pyfunc_model": 7, "engines.spark": 7,
    "cli": 8,
}  # fmt: skip
MAX_FUNCTION_LINES = 60


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        if name != "__init__":
            found[name.removesuffix(".__init__")] = path
    return found


def project_imports(path: Path) -> set[str]:
    """The recommender modules `path` imports anywhere (TYPE_CHECKING blocks aside)."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for node in ast.walk(block)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            # `from package import module` imports that module; `from module import name`,
            # the module
            submodules = {f"{node.module}.{alias.name}" for alias in node.names}
            inner = {name for name in submodules if name.removeprefix("recommender.") in LAYERS}
            names |= inner or {node.module}
    local = {name.removeprefix("recommender.") for name in names}
    return local & set(LAYERS)


def test_every_module_has_a_layer():
    assert set(modules()) == set(LAYERS)


@pytest.mark.parametrize("module", sorted(LAYERS))
def test_imports_go_one_way(module: str):
    upward = {
        imported
        for imported in project_imports(modules()[module])
        if LAYERS[imported] > LAYERS[module]
    }
    assert not upward, f"{module} (layer {LAYERS[module]}) imports {upward} from above"


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
