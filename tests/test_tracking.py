"""MLflow: `creator-recommender train` logs, registers, gates and exports; the exported and
registered models score as the library does."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from recommender.cli import main
from recommender.model_store import load_model
from recommender.schema import pair_frame
from recommender.simulate import generate_market, write_market
from recommender.tracking import as_model_input, metric_key


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
    assert "version 2 does not beat champion version 1" in second  # same data, same model

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
