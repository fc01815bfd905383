"""The docs and the README against the code: the layout page names every module, the
commands they quote parse, and the paths, module names and model format they cite exist.

(What the commands print, the contract's tables and the `mlflow models serve` line are held
by the tests of those parts: test_cli, test_schema, test_http, test_model_store.)
"""

from __future__ import annotations

import argparse
import ast
import re
import shlex
import unicodedata
from pathlib import Path

import pytest

from recommender.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "recommender"
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
README = ROOT / "README.md"
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)


def page_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def code_blocks(text: str) -> list[str]:
    return FENCE.findall(text)


def inline_code(text: str) -> list[str]:
    """The `spans` of a page's prose, fenced blocks left out (a span may wrap a line)."""
    prose = FENCE.sub("", text)
    return [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose)]


# --- the layout page ----------------------------------------------------------------------


def layout_names() -> set[str]:
    """The files and folders the layout page's tree names, as paths under src/recommender
    ("contract/", "contract/tables.py", "api.py"): a line's leading words ending in .py or
    /, under the folder the nearest less indented line opened."""
    text = (DOCS / "development" / "layout.md").read_text()
    tree = code_blocks(text)[0].splitlines()
    start = tree.index("src/recommender/")
    names: set[str] = set()
    folders: list[tuple[int, str]] = []  # (indent, folder) of the folders open above a line
    for line in tree[start + 1 :]:
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            break
        while folders and folders[-1][0] >= indent:
            folders.pop()
        prefix = "".join(folder for _, folder in folders)
        for word in line.split():
            if word.endswith("/"):
                names.add(prefix + word)
                folders.append((indent, word))
            elif word.endswith(".py"):
                names.add(prefix + word.rstrip(","))
            else:
                break
    return names


def existing_modules() -> set[str]:
    """Every package folder and public module file under src/recommender. Private `_`
    modules are left out: they are machinery the page may group on one line, and they
    come and go as fast paths do; the page names them all the same."""
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if "__pycache__" in relative.parts or any(p.startswith("_") for p in relative.parts[:-1]):
            continue
        if path.name == "__init__.py":
            if relative.parent != Path("."):
                found.add(f"{relative.parent}/")
        elif not path.name.startswith("_"):
            found.add(str(relative))
    return found


def test_the_layout_page_names_every_module_that_exists():
    names = layout_names()
    assert {"contract/", "api.py", "contract/tables.py", "_trees.py"} <= names  # read as meant
    missing = sorted(existing_modules() - names)
    assert not missing, f"docs/development/layout.md does not name {missing}"


def test_every_package_folder_on_the_layout_page_exists():
    folders = {name for name in layout_names() if name.endswith("/")}
    assert not sorted(f for f in folders if not (PACKAGE / f / "__init__.py").is_file())


# --- the API reference --------------------------------------------------------------------


def subpackages() -> list[str]:
    return sorted(
        p.parent.name for p in PACKAGE.glob("*/__init__.py") if not p.parent.name.startswith("_")
    )


def exported(module: Path) -> list[str] | None:
    """A module's __all__, or None where it has none."""
    for node in ast.parse(module.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(target, ast.Name) and target.id == "__all__" for target in targets):
            return list(ast.literal_eval(node.value))
    return None


@pytest.mark.parametrize("name", subpackages())
def test_each_subpackage_has_its_api_page(name):
    """A page renders the subpackage's facade: what its __all__ lists."""
    page = (DOCS / "api" / f"{name}.md").read_text()
    assert f"::: recommender.{name}\n" in page
    assert exported(PACKAGE / name / "__init__.py"), name
    assert "show_submodules: true" not in page


# --- commands, as the pages quote them ----------------------------------------------------


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings if o.startswith("--")} - {"--help"}


def quoted_commands(text: str) -> list[str]:
    """The `creator-recommender ...` lines of a page's code blocks, continuation lines
    joined, prompts and trailing comments and `&` left out."""
    lines = []
    for block in code_blocks(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.removeprefix("$ ").strip()
            if line.startswith("creator-recommender "):
                words = shlex.split(line, comments=True)
                lines.append(shlex.join(w for w in words if w != "&"))
    return lines


def is_synopsis(line: str) -> bool:
    """A usage line ([--out FILE]...) rather than an example to run."""
    return "[" in line or "|" in line


@pytest.mark.parametrize("path", [README, *PAGES], ids=page_id)
def test_the_commands_quoted_parse(path):
    """Examples parse with the command's own parser; usage lines name only its options."""
    commands = subcommands()
    for line in quoted_commands(path.read_text()):
        words = shlex.split(line)
        assert words[1] in commands, line
        if is_synopsis(line):
            named = set(re.findall(r"--[a-z][a-z-]*", line))
            assert named <= options(commands[words[1]]), (line, named - options(commands[words[1]]))
        else:
            try:
                build_parser().parse_args(words[1:])
            except SystemExit:
                pytest.fail(f"{page_id(path)}: does not parse: {line}")


def test_the_commands_page_has_every_command_and_option():
    text = (DOCS / "commands.md").read_text()
    synopses: dict[str, set[str]] = {}
    for line in filter(is_synopsis, quoted_commands(text)):
        command = shlex.split(line)[1]
        synopses.setdefault(command, set()).update(re.findall(r"--[a-z][a-z-]*", line))
    for command, parser in subcommands().items():
        assert f"\n## {command}\n" in text, command
        assert options(parser) <= synopses.get(command, set()), command


# --- what the pages cite ------------------------------------------------------------------

CITED_PATH = re.compile(r"(src|tests|benchmarks|examples|notebooks|docs)/[\w./-]*")


@pytest.mark.parametrize("path", [README, *PAGES], ids=page_id)
def test_the_paths_cited_exist(path):
    cited = [span for span in inline_code(path.read_text()) if CITED_PATH.fullmatch(span)]
    assert not [span for span in cited if not (ROOT / span).exists()]


def names_defined(module: Path) -> set[str]:
    """The names a module defines or imports (under TYPE_CHECKING too), or lists in __all__
    (a facade that imports its names on first use)."""
    names: set[str] = set()
    statements = list(ast.parse(module.read_text()).body)
    while statements:
        node = statements.pop()
        if isinstance(node, (ast.If, ast.Try)):  # if TYPE_CHECKING:, try: import ...
            statements += [*node.body, *node.orelse, *getattr(node, "finalbody", [])]
            statements += [s for h in getattr(node, "handlers", []) for s in h.body]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names | set(exported(module) or [])


def resolves(dotted: str) -> bool:
    """Whether recommender.a.b.name names a module, or a name that module has."""
    parts = dotted.split(".")[1:]
    folder = PACKAGE
    for i, part in enumerate(parts):
        if (folder / part / "__init__.py").is_file():
            folder = folder / part
            continue
        if (folder / f"{part}.py").is_file():
            module, rest = folder / f"{part}.py", parts[i + 1 :]
        else:
            module, rest = folder / "__init__.py", parts[i:]
        return not rest or rest[0] in names_defined(module)
    return True


@pytest.mark.parametrize("path", [README, *PAGES], ids=page_id)
def test_the_module_names_cited_exist(path):
    cited = [s for s in inline_code(path.read_text()) if re.fullmatch(r"recommender(\.\w+)+", s)]
    assert not [name for name in cited if not resolves(name)]


def test_the_model_format_cited_is_the_models():
    from recommender.modeling.estimator import MODEL_FORMAT

    cited = {
        page_id(path): re.findall(r"\bformat (\d+)\b", " ".join(path.read_text().split()))
        for path in [README, *PAGES]
    }
    assert cited[page_id(README)]  # the README says which
    assert {n for found in cited.values() for n in found} == {str(MODEL_FORMAT)}, cited


def heading_ids(text: str) -> set[str]:
    """The anchors Markdown's table of contents gives a page's headings."""
    ids = set()
    for heading in re.findall(r"^#+ (.+)$", FENCE.sub("", text), re.M):
        plain = unicodedata.normalize("NFKD", heading).encode("ascii", "ignore").decode()
        plain = re.sub(r"[^\w\s-]", "", plain.replace("`", "")).strip().lower()
        ids.add(re.sub(r"[-\s]+", "-", plain))
    return ids


def test_the_readmes_links_lead_somewhere():
    """mkdocs checks the pages' links; the README's are checked here."""
    links = re.findall(r"\]\(([^)\s]+)\)", README.read_text())
    assert any(link.startswith("docs/") for link in links)
    for link in links:
        if re.match(r"[a-z]+:", link):
            continue
        target, _, anchor = link.partition("#")
        assert (ROOT / target).exists(), link
        if anchor:
            assert anchor in heading_ids((ROOT / target).read_text()), link
