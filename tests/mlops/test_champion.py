"""The champion is what is served: a refused retrain changes nothing that scores, the local
champion folder is written only by a promotion, `champion` shows the history and `--set`
moves the champion by hand. Here against the default local store (sqlite); test_team.py
runs the same against a PostgreSQL-backed tracking server."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import CAMPAIGN, evidence_of, write_retrain_data

from recommender.cli import main
from recommender.mlops.signature import as_model_input

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def histories(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_retrain_data(tmp_path_factory.mktemp("histories"))


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder with the default settings: sqlite store, models/ in it."""
    for name in ("MLFLOW_TRACKING_URI", "CREATOR_RECOMMENDER_MODEL", "CREATOR_RECOMMENDER_HOME",
                 "CREATOR_RECOMMENDER_MODEL_DIR", "CREATOR_RECOMMENDER_CHAMPION_DIR"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "campaign.json").write_text(json.dumps(CAMPAIGN))
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> str:
    """The command's output; asserts its exit code."""
    done = main(list(args))
    out, err = capsys.readouterr()
    assert done == code, (out + err)[-3000:]
    return out + err


def score(capsys: pytest.CaptureFixture[str], creators: Path, out: str) -> bytes:
    printed = run(capsys, "score", "--creators", str(creators), "--campaign", "campaign.json",
                  "--out", out)  # fmt: skip
    assert "scoring with version" in printed
    return Path(out).read_bytes()


def lineage(folder: Path) -> dict[str, str]:
    return json.loads((folder / "lineage.json").read_text())


@pytest.mark.slow
def test_a_refused_retrain_changes_nothing_served_and_set_rolls_back(
    workspace: Path, histories: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
):
    real, shuffled = histories
    creators = real / "creators.csv"
    assert "version 1 is the first champion" in run(capsys, "train", "--data", str(real))
    assert lineage(workspace / "models" / "champion")["version"] == "1"
    before = score(capsys, creators, "before.csv")
    summary = json.loads((workspace / "before.summary.json").read_text())
    assert summary["model"]["version"] == "1" and summary["model"]["run_id"]
    assert summary["model"]["model_format"] and summary["model"]["trained_at"]

    trained = run(capsys, "train", "--data", str(shuffled))
    assert re.search(r"challenger v2 .* over champion v1 on \d+ campaigns.*: .*kept v1", trained)
    assert lineage(workspace / "models" / "latest")["version"] == "2"  # kept for inspection
    assert lineage(workspace / "models" / "champion")["version"] == "1"
    assert score(capsys, creators, "after.csv") == before  # byte for byte
    run(capsys, "plan", "--creators", str(creators), "--campaign", "campaign.json",
        "--budget", "2000")  # fmt: skip
    planned = json.loads((workspace / "plan.summary.json").read_text())["model"]
    assert planned == {**summary["model"], "source": str(workspace / "models" / "champion")}

    # By hand, forward to the refused version, then back: each move recorded as such.
    moved = run(capsys, "champion", "--set", "2")
    assert "warning" not in moved
    assert "version 2 is champion now, set by hand (was version 1)" in moved
    assert score(capsys, creators, "forced.csv") != before
    run(capsys, "champion", "--set", "1")
    assert score(capsys, creators, "rolled_back.csv") == before
    shown = run(capsys, "champion").splitlines()
    assert shown[0].startswith("champion: creator-recommender version 1")
    assert shown[1] == f"served by default: {workspace / 'models' / 'champion'}"
    history = shown[shown.index("promotions, oldest first:") + 2 :]
    assert [line.split()[:2] for line in history] == [["1", "1"], ["2", "2"], ["3", "1"]]
    assert "gate" in history[0]
    assert re.search(
        r"[+-]\d\.\d\d \[[+-]\d\.\d\d, [+-]\d\.\d\d\] vs baseline on 20 campaigns", history[0]
    )
    assert all("hand" in line and "set by hand" in line for line in history[1:])
    fingerprint = history[0].split()[-1]
    assert len(fingerprint) == 16 and history[2].split()[-1] == fingerprint  # version 1's data


def test_no_champion_yet_is_one_line(workspace: Path, capsys: pytest.CaptureFixture[str]):
    (workspace / "c.csv").write_text("creator_id,platform,followers,avg_likes,avg_comments,niche\n"
                                     "a,instagram,1000,50,2,pet\n")  # fmt: skip
    out = run(capsys, "score", "--creators", "c.csv", "--campaign", "campaign.json", code=1)
    assert out.count("\n") == 1 and "no champion yet" in out and "Traceback" not in out
    assert "champion --set VERSION" in out and not (workspace / "scored.csv").exists()


def test_set_refuses_a_version_the_registry_does_not_have(
    workspace: Path, capsys: pytest.CaptureFixture[str]
):
    out = run(capsys, "champion", "--set", "7", code=1)
    assert out.strip().splitlines()[-1] == (
        f"error: creator-recommender has no version '7' in sqlite:///{workspace / 'mlflow.db'}"
    )
    assert "no champion yet" in run(capsys, "champion")


def test_the_champion_folder_is_refused_before_training_if_it_holds_other_files(
    workspace: Path, histories: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
):
    (workspace / "models" / "champion").mkdir(parents=True)
    (workspace / "models" / "champion" / "notes.txt").write_text("mine")
    out = run(capsys, "train", "--data", str(histories[0]), code=1)
    assert "models/champion: holds files that are not a model (notes.txt)" in out
    assert "held-out" not in out  # nothing was trained


@pytest.mark.slow
@pytest.mark.parametrize("when", ["fold 1/", "held-out campaigns"])  # training; logging
def test_a_train_killed_midway_leaves_the_champion_as_it_was(
    workspace: Path, histories: tuple[Path, Path], capsys: pytest.CaptureFixture[str], when: str
):
    real = histories[0]
    run(capsys, "train", "--data", str(real))
    champion, latest = workspace / "models" / "champion", workspace / "models" / "latest"
    served, last = (champion / "MLmodel").read_text(), (latest / "MLmodel").read_text()
    command = [sys.executable, str(ROOT / "train.py"), "--data", str(real), "--seed", "3"]
    process = subprocess.Popen(command, cwd=workspace, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith(when):
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert seen[-1].startswith(when), "".join(seen)  # killed where meant, not after the end
    assert (champion / "MLmodel").read_text() == served
    assert (latest / "MLmodel").read_text() == last
    assert lineage(champion)["version"] == "1"
    assert sorted(p.name for p in (workspace / "models").iterdir()) == ["champion", "latest"]
    shown = run(capsys, "champion")
    assert shown.startswith("champion: creator-recommender version 1")
    assert "warning" not in shown


@pytest.mark.slow
def test_the_http_service_serves_the_champion_and_follows_a_promotion(
    workspace: Path, histories: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
):
    from helpers import free_port, wait_until_up

    real, shuffled = histories
    run(capsys, "train", "--data", str(real))
    run(capsys, "train", "--data", str(shuffled))
    port = free_port()
    process = subprocess.Popen([sys.executable, str(ROOT / "serve.py"), "http", "--port",
                                str(port)], cwd=workspace)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    body = {"campaign": CAMPAIGN, "creators": [
        {"creator_id": "a", "platform": "instagram", "followers": 5000, "avg_likes": 300,
         "avg_comments": 12, "niche": "pet"}]}  # fmt: skip
    try:
        wait_until_up(f"{base}/health", process)
        health = requests.get(f"{base}/health", timeout=10).json()
        assert health["ready"] is True and health["model"]["version"] == "1"
        assert health["model"]["source"] == str(workspace / "models" / "champion")
        assert {"run_id", "model_format", "trained_at"} <= set(health["model"])
        answer = requests.post(f"{base}/score", json=body, timeout=30)
        assert answer.headers["X-Model-Version"] == "1"
        assert answer.json()["model"]["version"] == "1"
        run(capsys, "champion", "--set", "2")
        time.sleep(0.05)
        answer = requests.post(f"{base}/score", json=body, timeout=30)
        assert answer.headers["X-Model-Version"] == "2" and answer.json()["model"]["version"] == "2"
        assert answer.headers["X-Model-Run"] == answer.json()["model"]["run_id"]
        planned = requests.post(f"{base}/plan", json={**body, "budget_usd": 1000}, timeout=30)
        assert planned.json()["summary"]["model"]["version"] == "2"
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_an_mlflow_error_leaves_the_champion_code_as_one_line(workspace: Path):
    from mlflow.exceptions import MlflowException

    from recommender.errors import SettingError
    from recommender.mlops.champion import store_errors

    @store_errors
    def server_fails() -> None:
        raise MlflowException("INTERNAL_ERROR: the database went away\n  (a long trace)")

    with pytest.raises(SettingError) as caught:
        server_fails()
    store = f"sqlite:///{workspace / 'mlflow.db'}"
    assert str(caught.value).startswith(f"the tracking store {store}: INTERNAL_ERROR: the da")
    assert "\n" not in str(caught.value)


def test_the_gate_judges_over_a_champion_that_cannot_load_not_one_out_of_reach(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
):
    """An unloadable champion (an older release's, its files gone) is no rival: the new
    version is promoted. A store that did not answer says nothing of the champion: the
    gate stops in one line and the champion stays."""
    from mlflow import MlflowClient

    from recommender.errors import ModelNotFound, ModelUnreachable, SettingError
    from recommender.mlops import champion, tracking

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{workspace / 'team.db'}")
    tracking.set_tracking()
    client = MlflowClient()
    client.create_registered_model(champion.MODEL_NAME)
    run = client.create_run(tracking.use_experiment("gate"))
    for _ in range(3):
        client.create_model_version(champion.MODEL_NAME, f"{run.info.artifact_uri}/m",
                                    run.info.run_id)  # fmt: skip

    def unreachable(version: str) -> Any:
        raise ModelUnreachable("models:/creator-recommender/1: cannot load the model: refused")

    def too_old(version: str) -> Any:
        raise ModelNotFound("trained by an older version of this package; retrain it")

    first = champion.champion_gate("1", evidence_of(0.5), lambda v: evidence_of(0.0))
    assert first.promote and first.line.startswith("version 1 is the first champion")
    with pytest.raises(SettingError, match=r"the champion could not be judged: .*refused"):
        champion.champion_gate("2", evidence_of(0.1), unreachable)
    assert champion.champion_version(client) == "1"
    decided = champion.champion_gate("3", evidence_of(0.1), too_old)
    assert decided.promote
    assert "champion version 1 could not be evaluated (trained by an older" in decided.line
    assert champion.champion_version(client) == "3"
    assert [e["version"] for e in champion.promotion_history(client)] == ["1", "3"]


def register_twice(trained: Any) -> None:
    """Versions 1 and 2 of the registered model in the workspace's store (one model)."""
    import mlflow

    from recommender.mlops import tracking
    from recommender.mlops.model_store import save_model

    tracking.set_tracking()
    tracking.use_experiment("registered")
    example = as_model_input(trained.test, rows=3)
    for _ in range(2):
        with tempfile.TemporaryDirectory() as tmp, mlflow.start_run():
            save_model(trained.recommender, Path(tmp) / "recommender.joblib")
            mlflow.pyfunc.log_model(
                name="model", registered_model_name=tracking.MODEL_NAME,
                **tracking._model_kwargs(Path(tmp) / "recommender.joblib", example),
            )  # fmt: skip


@pytest.mark.slow
def test_a_champion_set_killed_midway_leaves_staging_the_next_set_removes(
    workspace: Path, trained: Any, capsys: pytest.CaptureFixture[str]
):
    register_twice(trained)
    run(capsys, "champion", "--set", "1")
    models = workspace / "models"
    command = [sys.executable, "-m", "recommender.cli", "champion", "--set", "2"]
    process = subprocess.Popen(command, cwd=workspace, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    staging: list[str] = []
    while process.poll() is None and not staging:
        staging = [p.name for p in models.iterdir() if p.name.startswith(".champion.")]
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert staging, "the run ended before it staged the champion folder"
    assert [p.name for p in models.iterdir() if p.name.startswith(".")] == staging  # left
    assert lineage(models / "champion")["version"] == "1"
    assert "is champion now" in run(capsys, "champion", "--set", "2")
    assert sorted(p.name for p in models.iterdir()) == ["champion"]
    assert lineage(models / "champion")["version"] == "2"
