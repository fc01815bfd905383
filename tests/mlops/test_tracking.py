"""MLflow: `creator-recommender train` logs, registers, gates and exports; the exported and
registered models score as the library does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import CAMPAIGN

from recommender.cli import main
from recommender.contract import cross_pairs, pair_frame
from recommender.datasets.simulate import generate_market, write_market
from recommender.mlops.model_store import load_model
from recommender.mlops.signature import as_model_input
from recommender.mlops.tracking import (
    ENDED_TAG,
    OWNER_TAG,
    end_abandoned_runs,
    export_model,
    metric_key,
)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("train")
    write_market(generate_market(n_creators=1_500, n_campaigns=20, seed=2), folder / "data")
    return folder


def train(workspace: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["train", *args])
    out, err = capsys.readouterr()
    assert code == 0, err[-2000:]
    return code, out


@pytest.mark.slow
def test_train_registers_exports_and_gates(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{workspace / 'mlflow.db'}")
    model_dir = workspace / "model"
    args = ("--data", str(workspace / "data"), "--model-dir", str(model_dir), "--experiment", "t")
    _, out = train(workspace, capsys, *args)
    assert "held-out campaigns, noise-free truth:" in out
    for row in ("model", "random", "most_followers", "highest_engagement", "niche_then_engagement"):
        assert f"\n{row} " in out
    assert "model / best baseline on ndcg_roi@10:" in out
    assert "version 1 is the first champion" in out
    assert (model_dir / "MLmodel").is_file()
    assert (workspace / "mlruns").is_dir()  # artifacts beside the tracking database

    _, second = train(workspace, capsys, *args)
    # same data, same model: the same predictions, so no improvement to credit
    assert "challenger v2 +0.00 [+0.00, +0.00] NDCG@10 over champion v1" in second
    assert "kept v1" in second

    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{workspace / 'mlflow.db'}")
    client = MlflowClient()
    assert str(client.get_model_version_by_alias("creator-recommender", "champion").version) == "1"
    run = client.get_run(client.get_model_version("creator-recommender", "2").run_id)
    assert run.data.tags["promoted"] == "false"
    assert len(run.data.tags["data_fingerprint"]) == 16
    assert "model.ndcg_roi_at_10" in run.data.metrics
    assert "niche_then_engagement.ndcg_roi_at_10" in run.data.metrics
    assert "lift_loss.huber.oof_ndcg_roi_at_10" in run.data.metrics
    # The gate's comparison: on the run (numbers, a JSON record, the evidence per campaign)
    gate = run.data.metrics
    assert gate["gate.versus_champion.estimate"] == 0 and gate["gate.versus_champion.campaigns"] > 0
    assert gate["gate.versus_best_baseline.low"] <= gate["gate.versus_best_baseline.high"]
    record = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/champion_gate.json")
    assert record["versus_champion"]["campaigns"] == gate["gate.versus_champion.campaigns"]
    assert record["level"] == 0.9 and record["best_baseline"] in run.data.tags["champion_gate"]
    by_campaign = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert "evidence_by_campaign.json" in by_campaign
    # ... and in the promotion history, for the promotion it decided (version 1's first)
    from recommender.mlops.champion import promotion_history

    (first,) = promotion_history(client)
    assert first["evidence"]["versus_best_baseline"]["campaigns"] > 0
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert artifacts == {"plots/feature_importance.png", "plots/ndcg_by_k.png",
                         "plots/lift_calibration.png"}  # fmt: skip

    # The exported directory is a working MLflow model that agrees with the library.
    data = workspace / "data"
    creators, campaigns = pd.read_csv(data / "creators.csv"), pd.read_csv(data / "campaigns.csv")
    outcomes = pd.read_csv(data / "outcomes.csv").head(30)
    pairs = pair_frame(creators, campaigns, outcomes[["campaign_id", "creator_id"]])
    from_mlflow = mlflow.pyfunc.load_model(str(model_dir)).predict(as_model_input(pairs))
    from_library = load_model(model_dir).predict(pairs)
    pd.testing.assert_series_equal(
        from_mlflow["expected_roi"].reset_index(drop=True),
        from_library["expected_roi"].reset_index(drop=True),
    )

    # Scoring from the registry gives what the library gives for the same version:
    # model_dir holds version 2's export, and @champion resolves to version 1.
    import recommender

    campaign = {"campaign_id": "k", "niche": "pet"}
    by_version = recommender.score(creators.head(30), campaign, "models:/creator-recommender/2")
    by_dir = recommender.score(creators.head(30), campaign, model_dir)
    assert by_version["score"].tolist() == by_dir["score"].tolist()
    champion = recommender.load_model("models:/creator-recommender@champion")
    first = recommender.load_model("models:/creator-recommender/1")
    pd.testing.assert_frame_equal(champion.predict(pairs), first.predict(pairs))


def test_model_input_has_the_signatures_columns_and_types(trained):
    example = as_model_input(trained.test, rows=3)
    assert len(example) == 3 and example.columns[0] == "campaign_id"
    assert example["followers"].dtype == float
    assert not pd.api.types.is_numeric_dtype(example["campaign_niche"])
    assert metric_key("ndcg_roi@10") == "ndcg_roi_at_10"


COUNTS = ["followers", "following", "recent_posts", "recent_sponsored_posts"]


def test_the_mlflow_model_takes_counts_as_integers_or_floats(model_dir: Path, market):
    """Counts are integers in the contract (int64 as pandas reads a file), floats where one
    is missing: MLflow's pyfunc scores both as the library does, and names a value that is
    no number."""
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    pairs = cross_pairs(market.creators.head(20), pd.DataFrame([CAMPAIGN]))
    integers = pairs.assign(**{c: pairs[c].fillna(0).astype("int64") for c in COUNTS})
    floats = integers.astype({c: float for c in COUNTS})
    with_gaps = floats.assign(following=np.nan)
    served = mlflow.pyfunc.load_model(str(model_dir))
    library = load_model(model_dir)
    for frame in (integers, floats, with_gaps):
        np.testing.assert_allclose(served.predict(frame)["score"], library.predict(frame)["score"])
    assert served.predict(integers)["score"].tolist() == served.predict(floats)["score"].tolist()
    with pytest.raises(MlflowException, match="column followers: 'many' is not a number"):
        served.predict(integers.astype({"followers": object}).assign(followers="many"))


class Died(Exception):
    """Stands for the process dying at that point (kill -9, power cut)."""


def model_uuid(model_dir: Path) -> str:
    """The id MLflow gives each saved model: tells one export from another."""
    line = next(x for x in (model_dir / "MLmodel").read_text().splitlines() if "model_uuid" in x)
    return line.split(":", 1)[1].strip()


@pytest.mark.slow
@pytest.mark.parametrize("swap", ["exchange", "two_renames"])
def test_an_export_that_dies_midway_leaves_a_loadable_model(
    trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, swap: str
):
    """Dying right after the first step of replacing the model folder leaves a model at the
    target: the new one (one atomic exchange), or the previous one, put back by the next
    load where the system can only rename (two renames, the previous copy kept beside)."""
    from recommender.mlops import model_store

    target, example = tmp_path / "latest", as_model_input(trained.test, rows=3)
    export_model(trained.recommender, example, target)
    previous = model_uuid(target)
    if swap == "exchange":
        exchange = model_store._libc.exchange

        def exchange_then_die(new: Path, old: Path) -> bool:
            if not exchange(new, old):
                pytest.skip("this system cannot swap two folders in one step")
            raise Died

        monkeypatch.setattr(model_store._libc, "exchange", exchange_then_die)
    else:
        monkeypatch.setattr(model_store._libc, "exchange", lambda new, old: False)
        rename, renamed = Path.rename, []

        def rename_once_then_die(self: Path, to: Path) -> Path:
            if renamed:
                raise Died
            renamed.append(self)
            return rename(self, to)

        monkeypatch.setattr(Path, "rename", rename_once_then_die)
    with pytest.raises(Died):
        export_model(trained.recommender, example, target)
    monkeypatch.undo()
    assert isinstance(load_model(target), type(trained.recommender))
    assert (model_uuid(target) == previous) == (swap == "two_renames")
    export_model(trained.recommender, example, target)  # and the next export works
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest"]  # nothing left beside it


# A small tracked train, as a user's script runs it: `recommender.train(..., track=True)`.
TRACKED_TRAIN = """
from recommender.modeling.training import TrainConfig
from recommender.datasets.simulate import generate_market
from recommender.api import train

market = generate_market(n_creators=600, n_campaigns=8, seed=4)
tables = {"creators": market.creators, "campaigns": market.campaigns, "outcomes": market.outcomes}
train(tables, options=TrainConfig(seed=0, folds=2, n_estimators=20), track=True,
      experiment="killed", progress=print)
"""


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A fresh sqlite tracking store in tmp_path (its tables made before any run starts);
    returns the environment a train run against it needs."""
    import mlflow
    from mlflow import MlflowClient

    for name in ("CREATOR_RECOMMENDER_MODEL", "CREATOR_RECOMMENDER_HOME",
                 "CREATOR_RECOMMENDER_MODEL_DIR", "CREATOR_RECOMMENDER_CHAMPION_DIR"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    MlflowClient().search_experiments()
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def running_run(process: subprocess.Popen[str], experiment: str) -> str:
    """The id of the run `process` logs in `experiment`, once it is RUNNING."""
    from mlflow import MlflowClient

    client, deadline = MlflowClient(), time.monotonic() + 600
    while process.poll() is None and time.monotonic() < deadline:
        found = client.get_experiment_by_name(experiment)
        if found is not None:
            running = client.search_runs([found.experiment_id], "attributes.status = 'RUNNING'")
            if running:
                return str(running[0].info.run_id)
        time.sleep(0.05)
    raise AssertionError(f"no RUNNING run seen; the train ended with {process.returncode}")


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_a_train_stopped_midway_leaves_no_run_running(
    store: dict[str, str], tmp_path: Path, signum: int
):
    """SIGTERM or Ctrl-C while the run logs: the run ends KILLED and the process stops as
    the signal asks. kill -9 cannot be caught: the next train ends that run FAILED."""
    from mlflow import MlflowClient

    command = [sys.executable, "-c", TRACKED_TRAIN]
    process = subprocess.Popen(command, cwd=tmp_path, env=store, text=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    run_id = running_run(process, "killed")
    process.send_signal(signum)
    assert process.wait(timeout=120) == -signum  # stopped by the signal, not an exit
    client = MlflowClient()
    if signum != signal.SIGKILL:
        assert client.get_run(run_id).info.status == "KILLED"
        return
    assert client.get_run(run_id).info.status == "RUNNING"
    subprocess.run(command, cwd=tmp_path, env=store, check=True, capture_output=True)
    ended = client.get_run(run_id)
    assert ended.info.status == "FAILED" and "was gone" in ended.data.tags[ENDED_TAG]
    statuses = [r.info.status for r in client.search_runs([ended.info.experiment_id])]
    assert sorted(statuses) == ["FAILED", "FINISHED"]


def test_only_runs_of_a_process_known_dead_are_ended(store: dict[str, str]):
    """Left RUNNING: by a live process (this one), by a process of another machine, and by
    a run this package did not start: all stay; the dead process's run alone is ended."""
    from mlflow import MlflowClient

    from recommender.mlops.model_store import this_machine, this_process

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    client = MlflowClient()
    experiment = client.create_experiment("abandoned")
    owners = {"live": this_process(), "elsewhere": f"other-host/1/2 pid {dead}",
              "dead": f"{this_machine()} pid {dead}"}  # fmt: skip
    runs = {name: client.create_run(experiment, tags={OWNER_TAG: owner}).info.run_id
            for name, owner in owners.items()}  # fmt: skip
    runs["untagged"] = client.create_run(experiment).info.run_id
    assert end_abandoned_runs(experiment) == [runs["dead"]]
    status = {name: client.get_run(run).info.status for name, run in runs.items()}
    assert status == {"live": "RUNNING", "elsewhere": "RUNNING", "dead": "FAILED",
                      "untagged": "RUNNING"}  # fmt: skip
