"""A plain (not editable) install, used from an empty folder as a data scientist would.

The wheel is built from the checkout and installed into a fresh virtual environment
outside it. The fresh environment borrows the test environment's dependencies (a
.pth line) so that the test needs no download; the package itself comes only from
the wheel. Then `creator-recommender` simulates, trains, scores and plans from an
empty folder, and nothing is written into site-packages.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGN = '{"campaign_id": "launch", "niche": "pet", "objective": "sales"}'


def files_under(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment holding only the built wheel of this checkout."""
    base = tmp_path_factory.mktemp("install")
    source = base / "source"  # the files a wheel is built from, so the checkout stays clean
    source.mkdir()
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "-q", "--no-deps", "--wheel-dir", str(base / "wheels"),
                    str(source)], check=True, capture_output=True)  # fmt: skip
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(
        subprocess.run([str(venv / "bin" / "python"), "-c",
                        "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                       check=True, capture_output=True, text=True).stdout.strip()
    )  # fmt: skip
    (site / "test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = next((base / "wheels").glob("creator_recommender-*.whl"))
    install = ["--python", str(venv / "bin" / "python"), "install", "-q", "--no-deps", "--no-index"]
    subprocess.run([*pip, *install, str(wheel)], check=True, capture_output=True)
    return venv


@pytest.mark.slow
def test_the_installed_command_works_from_an_empty_folder(fresh: Path, tmp_path: Path):
    site = next((fresh / "lib").glob("python3*/site-packages"))
    before = files_under(site)
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

    run("simulate", "--creators", "800", "--campaigns", "12")
    trained = run("train", "--data", "data/demo")
    assert "version 1 is the first champion" in trained
    (work / "campaign.json").write_text(CAMPAIGN)
    scored = run("score", "--creators", "data/demo/creators.csv", "--campaign", "campaign.json")
    assert "800 creator rows: 800 scored rows" in scored
    planned = run("plan", "--creators", "data/demo/creators.csv", "--campaign", "campaign.json",
                  "--budget", "2000")  # fmt: skip
    assert "plan for launch" in planned

    # Every default landed in the working folder ...
    for name in ("data/demo/creators.csv", "models/latest/MLmodel", "mlflow.db", "mlruns",
                 "scored.csv", "scored.rejects.csv", "plan.csv", "plan.summary.json"):  # fmt: skip
        assert (work / name).exists(), name
    assert len(pd.read_csv(work / "scored.csv")) == 800
    # ... and nothing in the installed package: compiled tree walkers go to the user's cache.
    assert files_under(site) == before
    assert any((tmp_path / "cache" / "creator-recommender" / "numba").rglob("*.nbi"))
