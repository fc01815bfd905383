"""A plain install (not editable, no extras), used from an empty folder as a data scientist
would.

The wheel is built from the checkout and installed into a fresh virtual environment
outside it, beside exactly the distributions pip would install with it: its
requirements without extras, theirs, and so on, linked from the test environment (so
the test needs no download) and nothing else, neither the dev tools nor PySpark.
Then `creator-recommender` simulates, trains, scores and plans from an empty folder,
nothing is written into the installed package, and `score --engine spark` names the
extra to install in one line.
"""

from __future__ import annotations

import email.parser
import importlib.metadata
import os
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import Distribution, distribution
from pathlib import Path, PurePosixPath

import pandas as pd
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGN = '{"campaign_id": "launch", "niche": "pet", "objective": "sales"}'
NEEDS_PYSPARK = (
    "error: the Spark engine needs PySpark: pip install 'creator-recommender[spark]' "
    "(and Java 17)\n"
)


def files_under(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def requirements_of(wheel: Path) -> list[str]:
    """The wheel's Requires-Dist lines."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(archive.read(name).decode())
    return metadata.get_all("Requires-Dist") or []


def what_pip_installs(requirements: list[str]) -> list[Distribution]:
    """The test environment's distributions that pip would install for `requirements` (no
    extras of ours): each requirement's, then theirs, with the extras each asks of the
    next (psycopg[binary]); every version must satisfy what asks for it."""
    found: dict[str, Distribution] = {}
    expanded: set[tuple[str, str]] = set()  # (distribution, extra): requirements followed
    queue = [(Requirement(line), "") for line in requirements]
    while queue:
        requirement, asker_extra = queue.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": asker_extra}):
            continue
        name = canonicalize_name(requirement.name)
        found.setdefault(name, distribution(name))
        assert requirement.specifier.contains(found[name].version, prereleases=True), (
            f"the test environment's {name} {found[name].version} is not {requirement}"
        )
        for extra in {"", *requirement.extras} - {e for n, e in expanded if n == name}:
            expanded.add((name, extra))
            queue += [(Requirement(line), extra) for line in found[name].requires or []]
    return list(found.values())


def site_files(dist: Distribution) -> set[PurePosixPath]:
    """The files pip put into site-packages for `dist` (its scripts and headers aside)."""
    assert dist.files is not None, f"{dist.metadata['Name']} lists no files"
    return {PurePosixPath(file) for file in dist.files if file.parts[0] != ".."}


def link_into(site: Path, distributions: list[Distribution]) -> None:
    """What pip installed for `distributions` into the test environment's site-packages, as
    links in `site`: a folder no other distribution has a file in as one link, a folder
    shared with one (__pycache__/, a namespace such as google/) as a real folder of
    links, so that nothing of another distribution shows through."""
    installed = {Path(str(dist.locate_file(""))).resolve() for dist in distributions}
    assert len(installed) == 1, f"the test environment's packages are in {installed}"
    source = installed.pop()
    names = {canonicalize_name(dist.metadata["Name"]) for dist in distributions}
    ours = set().union(*map(site_files, distributions))
    theirs = set().union(*(
        site_files(dist) for dist in importlib.metadata.distributions()
        if canonicalize_name(dist.metadata["Name"]) not in names
        and Path(str(dist.locate_file(""))).resolve() == source
    ))  # fmt: skip
    shared = {folder for file in theirs for folder in file.parents}

    def link(folder: PurePosixPath) -> None:
        (site / folder).mkdir(exist_ok=True)
        for child in {file.relative_to(folder).parts[0] for file in ours if folder in file.parents}:
            path = folder / child
            if path in shared:
                link(path)
            else:
                (site / path).symlink_to(source / path)

    link(PurePosixPath("."))


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment holding the built wheel of this checkout and what a plain
    `pip install` of it brings, nothing more."""
    base = tmp_path_factory.mktemp("install")
    source = base / "source"  # the files a wheel is built from, so the checkout stays clean
    source.mkdir()
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "-q", "--no-deps", "--wheel-dir", str(base / "wheels"),
                    str(source)], check=True, capture_output=True)  # fmt: skip
    wheel = next((base / "wheels").glob("creator_recommender-*.whl"))
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    link_into(site, what_pip_installs(requirements_of(wheel)))
    python = ["--python", str(venv / "bin" / "python")]
    install = [*python, "install", "-q", "--no-deps", "--no-index"]
    subprocess.run([*pip, *install, str(wheel)], check=True, capture_output=True)
    checked = subprocess.run([*pip, *python, "check"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout  # every requirement there, in its version
    return venv


@pytest.mark.slow
def test_the_installed_command_works_from_an_empty_folder(fresh: Path, tmp_path: Path):
    site = next((fresh / "lib").glob("python3*/site-packages"))
    before = files_under(site / "recommender")
    work = tmp_path / "work"
    work.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CREATOR_RECOMMENDER_", "MLFLOW_", "PYTHON", "VIRTUAL_ENV"))
    }
    env |= {"PATH": f"{fresh / 'bin'}{os.pathsep}/usr/bin:/bin",
            "XDG_CACHE_HOME": str(tmp_path / "cache")}  # fmt: skip

    def run(*args: str) -> str:
        done = subprocess.run(["creator-recommender", *args], cwd=work, env=env,
                              capture_output=True, text=True, timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    where = "import recommender; print(recommender.__file__)"
    located = subprocess.run(["python", "-c", where], cwd=work, env=env, capture_output=True,
                             text=True, check=True)  # fmt: skip
    assert Path(located.stdout.strip()).is_relative_to(site)
    absent = "import importlib.util as u; print([u.find_spec(m) for m in ('pyspark', 'py4j')])"
    looked = subprocess.run(["python", "-c", absent], cwd=work, env=env, capture_output=True,
                            text=True, check=True)  # fmt: skip
    assert looked.stdout == "[None, None]\n"  # a plain install leaves PySpark out

    run("simulate", "--creators", "800", "--campaigns", "12")
    trained = run("train", "--data", "data/demo")
    assert "version 1 is the first champion" in trained
    (work / "campaign.json").write_text(CAMPAIGN)
    scored = run("score", "--creators", "data/demo/creators.csv", "--campaign", "campaign.json")
    assert "800 creator rows: 800 scored rows" in scored
    planned = run("plan", "--creators", "data/demo/creators.csv", "--campaign", "campaign.json",
                  "--budget", "2000")  # fmt: skip
    assert "plan for launch" in planned
    on_spark = subprocess.run(["creator-recommender", "score", "--engine", "spark", "--creators",
                               "data/demo/creators.csv", "--campaign", "campaign.json"],
                              cwd=work, env=env, capture_output=True, text=True)  # fmt: skip
    assert (on_spark.returncode, on_spark.stdout, on_spark.stderr) == (1, "", NEEDS_PYSPARK)
    assert not (work / "scored.parquet").exists()

    # Every default landed in the working folder ...
    for name in ("data/demo/creators.csv", "models/latest/MLmodel", "mlflow.db", "mlruns",
                 "scored.csv", "scored.rejects.csv", "plan.csv", "plan.summary.json"):  # fmt: skip
        assert (work / name).exists(), name
    assert len(pd.read_csv(work / "scored.csv")) == 800
    # ... and nothing in the installed package: compiled tree walkers go to the user's cache.
    assert files_under(site / "recommender") == before
    assert any((tmp_path / "cache" / "creator-recommender" / "numba").rglob("*.nbi"))
