"""Everything MLflow: runs, metrics, plots, model packaging, the registry and the champion gate.

`import mlflow` costs about a second, so it is imported here only, and only
when a function needs it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from recommender import evaluate, schema
from recommender.features import CAMPAIGN_PREFIX, FEATURES
from recommender.io import one_line
from recommender.modeling.recommender import PREDICTION_COLUMNS, Recommender
from recommender.modeling.training import TrainResult

MODEL_NAME = "creator-recommender"
CHAMPION = "champion"
PACKAGE_DIR = Path(__file__).resolve().parent
MODEL_CODE = PACKAGE_DIR / "pyfunc_model.py"
RECOMMENDER_FILE = "recommender.joblib"
RUNTIME_PACKAGES = ("pandas", "numpy", "scikit-learn", "lightgbm", "joblib", "pyarrow", "mlflow")


def set_tracking(project_root: Path) -> str:
    """Point MLflow at MLFLOW_TRACKING_URI, or sqlite:///<root>/mlflow.db by default."""
    import mlflow

    uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project_root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    return uri


def use_experiment(name: str, project_root: Path) -> str:
    """The experiment's id; a new one keeps its artifacts in mlruns/ beside the sqlite file.

    (Or under <root>/mlruns when the tracking store is not a sqlite file.)
    """
    import mlflow

    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        experiment_id: str = found.experiment_id
    else:
        uri = mlflow.get_tracking_uri()
        home = (
            Path(uri.removeprefix("sqlite:///")).parent
            if uri.startswith("sqlite:///")
            else project_root
        )
        location = (home / "mlruns").resolve().as_uri()
        experiment_id = mlflow.create_experiment(name, artifact_location=location)
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def fingerprint(tables: dict[str, pd.DataFrame]) -> str:
    """A short hash of the tables' contents: the same data gives the same fingerprint."""
    digest = hashlib.sha256()
    for name in sorted(tables):
        frame = tables[name]
        digest.update(name.encode())
        digest.update(",".join(map(str, frame.columns)).encode())
        digest.update(
            pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy().tobytes()
        )
    return digest.hexdigest()[:16]


def metric_key(name: str) -> str:
    """MLflow metric names cannot hold '@'."""
    return name.replace("@", "_at_")


def model_input_columns() -> list[tuple[str, str, bool]]:
    """(name, MLflow type, required) of the pyfunc's input: a creator row plus its campaign."""
    columns = [("campaign_id", "string", True)]
    for col in schema.CREATORS.columns:
        columns.append((col.name, "double" if col.numeric else "string", col.required))
    for col in schema.CAMPAIGNS.columns:
        if col.name != "campaign_id":
            kind = "double" if col.numeric else "string"
            columns.append((f"{CAMPAIGN_PREFIX}{col.name}", kind, col.required))
    return columns


def signature() -> Any:
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    inputs = Schema([ColSpec(t, n, required=r) for n, t, r in model_input_columns()])
    out_types = {"campaign_id": "string", "creator_id": "string", "tier": "string"}
    outputs = Schema([ColSpec(out_types.get(c, "double"), c) for c in PREDICTION_COLUMNS])
    return ModelSignature(inputs=inputs, outputs=outputs)


def as_model_input(pairs: pd.DataFrame, rows: int | None = None) -> pd.DataFrame:
    """Pair rows with exactly the signature's columns and types (all rows, or the first `rows`)."""
    rows = len(pairs) if rows is None else rows
    example = pd.DataFrame(index=pairs.index[:rows])
    for name, kind, _ in model_input_columns():
        values = (
            pairs[name].iloc[:rows]
            if name in pairs.columns
            else pd.Series(np.nan, index=example.index)
        )
        if kind == "double":
            example[name] = pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
        else:
            example[name] = values.astype(object).where(values.notna(), None).to_numpy()
    return example.reset_index(drop=True)


def _pip_requirements() -> list[str]:
    return [f"{p}=={importlib.metadata.version(p)}" for p in RUNTIME_PACKAGES]


def _model_kwargs(recommender_path: Path, example: pd.DataFrame) -> dict[str, Any]:
    return {
        "python_model": str(MODEL_CODE),
        "artifacts": {"recommender": str(recommender_path)},
        "code_paths": [str(PACKAGE_DIR)],
        "signature": signature(),
        "input_example": example,
        "pip_requirements": _pip_requirements(),
    }


def export_model(recommender: Recommender, example: pd.DataFrame, model_dir: Path) -> None:
    """Write an MLflow model directory to model_dir, replacing it only once complete."""
    import mlflow

    model_dir = Path(model_dir)
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}.", dir=model_dir.parent))
    try:
        joblib.dump(recommender, staging / RECOMMENDER_FILE)
        mlflow.pyfunc.save_model(
            path=staging / "model", **_model_kwargs(staging / RECOMMENDER_FILE, example)
        )
        old = model_dir.with_name(f".{model_dir.name}.old")
        if model_dir.exists():
            shutil.rmtree(old, ignore_errors=True)
            model_dir.rename(old)
        (staging / "model").rename(model_dir)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def load_exported(model_dir: Path) -> Recommender:
    """The Recommender inside an exported model directory, without importing MLflow."""
    path = Path(model_dir) / "artifacts" / RECOMMENDER_FILE
    recommender: Recommender = joblib.load(path)
    return recommender


@dataclass(frozen=True)
class GateDecision:
    promoted: bool
    message: str
    champion_metric: float | None


def champion_gate(
    version: str,
    new_metric: float,
    evaluate_champion: Callable[[Any], float],
) -> GateDecision:
    """Move the champion alias to `version` only if it beats the champion on the same test."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    try:
        current = client.get_model_version_by_alias(MODEL_NAME, CHAMPION)
    except MlflowException:
        current = None
    metric_name = evaluate.GATE_METRIC
    if current is None:
        client.set_registered_model_alias(MODEL_NAME, CHAMPION, version)
        return GateDecision(True, f"version {version} is the first champion", None)
    try:
        champion_metric = float(evaluate_champion(current))
    except Exception as exc:  # an old champion may no longer load with today's code
        client.set_registered_model_alias(MODEL_NAME, CHAMPION, version)
        return GateDecision(
            True,
            f"champion version {current.version} could not be evaluated ({one_line(exc)}); "
            f"version {version} is champion now",
            None,
        )
    if new_metric > champion_metric:
        client.set_registered_model_alias(MODEL_NAME, CHAMPION, version)
        return GateDecision(
            True,
            f"version {version} beats champion version {current.version} on {metric_name} "
            f"({new_metric:.4f} > {champion_metric:.4f}); it is champion now",
            champion_metric,
        )
    return GateDecision(
        False,
        f"version {version} does not beat champion version {current.version} on {metric_name} "
        f"({new_metric:.4f} <= {champion_metric:.4f}); the champion stays",
        champion_metric,
    )


def log_training_run(
    result: TrainResult,
    *,
    tables: dict[str, pd.DataFrame],
    params: dict[str, Any],
    rejects: pd.DataFrame,
    example: pd.DataFrame,
    plots: dict[str, Any],
) -> tuple[str, str]:
    """Log params, metrics, plots, tables and the model of one run; returns (run_id, version)."""
    import mlflow

    mlflow.log_params({**params, "lift_loss": result.recommender.metadata["lift_loss"]})
    mlflow.set_tag("data_fingerprint", fingerprint(tables))
    mlflow.set_tag("evaluation_truth", result.truth)
    for row, values in result.metrics.iterrows():
        for name, value in values.items():
            if np.isfinite(value):
                mlflow.log_metric(metric_key(f"{row}.{name}"), float(value))
    for loss, values in result.loss_comparison.iterrows():
        for name, value in values.items():
            mlflow.log_metric(metric_key(f"lift_loss.{loss}.{name}"), float(value))
    for name, seconds in result.timings.items():
        mlflow.log_metric(f"time.{name}", seconds)
    mlflow.log_table(result.metrics.reset_index(names="ranking"), "metrics.json")
    mlflow.log_table(result.loss_comparison.reset_index(), "lift_loss_comparison.json")
    if len(rejects):
        mlflow.log_table(rejects.astype(str), "rejects.json")
    for name, figure in plots.items():
        mlflow.log_figure(figure, f"plots/{name}.png")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / RECOMMENDER_FILE
        joblib.dump(result.recommender, path)
        info = mlflow.pyfunc.log_model(
            name="model", registered_model_name=MODEL_NAME, **_model_kwargs(path, example)
        )
    run = mlflow.active_run()
    assert run is not None
    return run.info.run_id, str(info.registered_model_version)


def feature_importance(recommender: Recommender) -> pd.DataFrame:
    """Gain importance of each feature in the lift model and the fit ranker, as shares."""
    frame = pd.DataFrame(
        {
            "lift": recommender.lift.feature_importance(),
            "fit": recommender.ranker.model_.booster_.feature_importance("gain"),
        },
        index=list(FEATURES),
    )
    return frame / frame.sum()
