"""Wiring of the training job: files -> validation -> training -> MLflow -> model directory.

train.py parses arguments and calls `run_training`; everything here is plain
Python so tests can call it too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from recommender import evaluate
from recommender.io import FORMATS, DataFileError, read_table
from recommender.modeling.training import TrainConfig, TrainResult, train
from recommender.validate import combined_rejects, load_tables, summarise

TABLE_NAMES = ("creators", "campaigns", "outcomes")
TRUTH_FILE = "expected_outcomes"


def find_table(folder: Path, name: str, required: bool = True) -> Path | None:
    """The one file called NAME.csv / .parquet / .jsonl in folder."""
    found = [folder / f"{name}{ext}" for ext in FORMATS if (folder / f"{name}{ext}").is_file()]
    if len(found) > 1:
        raise DataFileError(
            f"{folder}: more than one {name} file ({', '.join(p.name for p in found)})"
        )
    if not found:
        if required:
            raise DataFileError(f"{folder}: no {name} file (.csv, .parquet or .jsonl)")
        return None
    return found[0]


@dataclass(frozen=True)
class TrainingRun:
    result: TrainResult
    run_id: str
    version: str
    promoted: bool
    gate_message: str
    tracking_uri: str


def format_metrics(metrics: pd.DataFrame, truth: str) -> str:
    best_baseline = metrics.drop(index="model")[evaluate.GATE_METRIC].max()
    ratio = metrics.loc["model", evaluate.GATE_METRIC] / best_baseline
    table = metrics.to_string(float_format=lambda v: f"{v:.3f}", na_rep="-")
    return (
        f"held-out campaigns, {truth} truth:\n{table}\n"
        f"model / best baseline on {evaluate.GATE_METRIC}: {ratio:.2f}x"
    )


def run_training(
    data_dir: Path,
    model_dir: Path,
    project_root: Path,
    experiment: str = "creator-recommender",
    config: TrainConfig | None = None,
    say: Callable[[str], None] = print,
) -> TrainingRun:
    """Validate the data in data_dir, train, log to MLflow, export and gate the model."""
    config = config or TrainConfig()
    paths = {name: find_table(data_dir, name) for name in TABLE_NAMES}
    tables = load_tables(paths["creators"], paths["campaigns"], paths["outcomes"])  # type: ignore[arg-type]
    for line in summarise(tables):
        say(line)
    empty = [name for name, checked in tables.items() if checked.counts[0] == 0]
    if empty:
        raise DataFileError(f"{data_dir}: no valid rows in {', '.join(empty)}")
    truth_path = (
        find_table(data_dir / "truth", TRUTH_FILE, required=False)
        if (data_dir / "truth").is_dir()
        else None
    )
    expected = read_table(truth_path) if truth_path else None
    if expected is not None:
        expected = expected.astype({"campaign_id": str, "creator_id": str})
        for column in ("expected_lift_usd", "true_fit", "true_cost_usd"):
            expected[column] = pd.to_numeric(expected[column], errors="coerce")
        say(f"evaluating against the noise-free truth in {truth_path}")

    valid = {name: checked.valid for name, checked in tables.items()}
    result = train(valid["creators"], valid["campaigns"], valid["outcomes"], expected, config, say)
    say(format_metrics(result.metrics, result.truth))

    import mlflow

    from recommender import plots, tracking

    uri = tracking.set_tracking(project_root)
    tracking.use_experiment(experiment, project_root)
    example = tracking.as_model_input(result.test, rows=3)
    figures: dict[str, Any] = {
        "feature_importance": plots.feature_importance(
            tracking.feature_importance(result.recommender)
        ),
        "ndcg_by_k": plots.ndcg_by_k(_ndcg_table(result), result.truth),
        "lift_calibration": plots.lift_calibration(result.test),
    }
    params = {
        "seed": config.seed,
        "test_fraction": config.test_fraction,
        "folds": config.folds,
        "losses_compared": ",".join(config.losses),
        "interval_coverage_target": config.interval_coverage,
        "n_estimators": config.n_estimators,
        "data_dir": str(data_dir),
        **{f"rows.{name}": len(frame) for name, frame in valid.items()},
        **{f"rejected.{name}": checked.counts[1] for name, checked in tables.items()},
    }
    with mlflow.start_run() as run:
        run_id, version = tracking.log_training_run(
            result,
            tables=valid,
            params=params,
            rejects=combined_rejects(tables),
            example=example,
            plots=figures,
        )
        new_metric = float(result.metrics.at["model", evaluate.GATE_METRIC])  # type: ignore[arg-type]

        def champion_metric(champion: Any) -> float:
            model = mlflow.pyfunc.load_model(f"models:/{tracking.MODEL_NAME}/{champion.version}")
            predicted = model.predict(tracking.as_model_input(result.test))
            frame = result.test.drop(columns=["expected_roi"]).assign(
                expected_roi=predicted["expected_roi"].to_numpy()
            )
            return evaluate.ndcg_at_k(frame, "expected_roi", evaluate.TRUTH_ROI, 10)

        decision = tracking.champion_gate(version, new_metric, champion_metric)
        mlflow.set_tag("champion_gate", decision.message)
        mlflow.set_tag("promoted", str(decision.promoted).lower())
    tracking.export_model(result.recommender, example, model_dir)
    plots.close(figures.values())
    say(f"MLflow run {run.info.run_id} ({uri}); registered {tracking.MODEL_NAME} version {version}")
    say(decision.message)
    say(f"model exported to {model_dir}")
    return TrainingRun(result, run_id, version, decision.promoted, decision.message, uri)


def _ndcg_table(result: TrainResult) -> pd.DataFrame:
    seed = result.recommender.metadata["seed"]
    frame, baselines = evaluate.with_baselines(result.test, result.test_features, seed)
    return evaluate.ndcg_by_k(frame, {"model": "expected_roi", **baselines}, range(1, 51))
