"""Everything MLflow: runs, metrics, plots, model packaging, the registry and the champion gate.

`import mlflow` costs about a second, so it is imported here only, and only
when a function needs it. The tracking store and the artifact location come
from recommender.config (MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the
working directory).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recommender import config, evaluate, schema
from recommender.io import one_line
from recommender.model_store import MODEL_FILE, replace_folder, save_model
from recommender.modeling.recommender import Recommender
from recommender.modeling.training import TrainResult

MODEL_NAME = config.MODEL_NAME
CHAMPION = "champion"
PACKAGE_DIR = Path(__file__).resolve().parent  # read only: shipped inside each MLflow model
MODEL_CODE = PACKAGE_DIR / "pyfunc_model.py"
RUNTIME_PACKAGES = ("pandas", "numpy", "scikit-learn", "lightgbm", "joblib", "pyarrow", "mlflow")


@dataclass(frozen=True)
class TrackedRun:
    """Where a training run went in MLflow, and what the champion gate decided."""

    run_id: str
    version: str
    promoted: bool
    gate_message: str
    tracking_uri: str


@dataclass(frozen=True)
class GateDecision:
    """Whether a new version became champion, and why, in one line."""

    promoted: bool
    message: str
    champion_metric: float | None


def set_tracking() -> str:
    """Point MLflow at the configured tracking store; returns its URI."""
    import mlflow

    uri = config.settings().tracking_uri
    mlflow.set_tracking_uri(uri)
    return uri


def use_experiment(name: str) -> str:
    """The experiment's id; a new one keeps its artifacts where config says (mlruns/)."""
    import mlflow

    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        experiment_id: str = found.experiment_id
    else:
        location = config.settings().artifact_root.resolve().as_uri()
        experiment_id = mlflow.create_experiment(name, artifact_location=location)
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def fingerprint(tables: Mapping[str, pd.DataFrame]) -> str:
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


def signature() -> Any:
    """The pyfunc's signature: a pair frame in, the prediction columns out."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    inputs = Schema(
        [
            ColSpec("double" if numeric else "string", name, required=required)
            for name, numeric, required in schema.pair_columns()
        ]
    )
    out_types = {"campaign_id": "string", "creator_id": "string", "tier": "string"}
    outputs = Schema([ColSpec(out_types.get(c, "double"), c) for c in schema.PREDICTION_COLUMNS])
    return ModelSignature(inputs=inputs, outputs=outputs)


def as_model_input(pairs: pd.DataFrame, rows: int | None = None) -> pd.DataFrame:
    """Pair rows with exactly the signature's columns and types (all rows, or the first `rows`)."""
    rows = len(pairs) if rows is None else rows
    example = pd.DataFrame(index=pairs.index[:rows])
    for name, numeric, _ in schema.pair_columns():
        values = (
            pairs[name].iloc[:rows]
            if name in pairs.columns
            else pd.Series(np.nan, index=example.index)
        )
        if numeric:
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
    """Write an MLflow model directory to model_dir, replacing it only once complete; a crash
    at any point leaves a loadable model there (model_store.replace_folder)."""
    import mlflow

    model_dir = Path(model_dir)
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}.", dir=model_dir.parent))
    try:
        save_model(recommender, staging / MODEL_FILE)
        mlflow.pyfunc.save_model(
            path=staging / "model", **_model_kwargs(staging / MODEL_FILE, example)
        )
        replace_folder(staging / "model", model_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def champion_gate(
    version: str, new_metric: float, evaluate_champion: Callable[[str], float]
) -> GateDecision:
    """Move the champion alias to `version` only if it beats the champion on the same test.

    `evaluate_champion(champion_version)` gives the champion's metric on the new
    version's held-out campaigns.
    """
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
        champion_metric = float(evaluate_champion(str(current.version)))
    except Exception as exc:  # an old champion may no longer load with today's code
        client.set_registered_model_alias(MODEL_NAME, CHAMPION, version)
        return GateDecision(
            True,
            f"champion version {current.version} could not be evaluated ({one_line(exc)}); "
            f"version {version} is champion now",
            None,
        )
    compared = f"{metric_name} ({new_metric:.4f} {{}} {champion_metric:.4f})"
    if new_metric > champion_metric:
        client.set_registered_model_alias(MODEL_NAME, CHAMPION, version)
        return GateDecision(
            True,
            f"version {version} beats champion version {current.version} on "
            f"{compared.format('>')}; it is champion now",
            champion_metric,
        )
    return GateDecision(
        False,
        f"version {version} does not beat champion version {current.version} on "
        f"{compared.format('<=')}; the champion stays",
        champion_metric,
    )


def registered_metric(test: pd.DataFrame) -> Callable[[str], float]:
    """A function giving a registered version's gate metric on the held-out frame `test`."""

    def metric(version: str) -> float:
        import mlflow

        model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/{version}")
        predicted = model.predict(as_model_input(test))
        # Both predictions the gate may judge by: ROI, or lift where no cost is known.
        judged = {c: predicted[c].to_numpy() for c in ("expected_roi", "expected_lift_usd")}
        return evaluate.gate_metric(test.assign(**judged))

    return metric


def track_training(
    result: TrainResult,
    tables: Mapping[str, pd.DataFrame],
    params: Mapping[str, Any],
    experiment: str,
) -> TrackedRun:
    """Log a training run to MLflow, register its model, and put it through the champion gate."""
    import mlflow

    uri = set_tracking()
    use_experiment(experiment)
    with mlflow.start_run() as run:
        version = _log_run(result, tables, params)
        decision = champion_gate(version, result.gate_metric, registered_metric(result.test))
        mlflow.set_tag("champion_gate", decision.message)
        mlflow.set_tag("promoted", str(decision.promoted).lower())
    return TrackedRun(run.info.run_id, version, decision.promoted, decision.message, uri)


def _log_run(
    result: TrainResult, tables: Mapping[str, pd.DataFrame], params: Mapping[str, Any]
) -> str:
    """Log params, metrics, plots, tables and the model of the active run; returns the
    registered version."""
    import mlflow

    from recommender import plots

    recommender = result.recommender
    mlflow.log_params({**params, "lift_loss": recommender.lift_loss_})
    mlflow.set_tag("data_fingerprint", fingerprint(tables))
    mlflow.set_tag("evaluation_truth", result.truth)
    _log_metrics(result)
    mlflow.log_table(result.metrics.reset_index(names="ranking"), "metrics.json")
    mlflow.log_table(recommender.loss_comparison_.reset_index(), "lift_loss_comparison.json")
    if len(result.rejects):
        mlflow.log_table(result.rejects.astype(str), "rejects.json")
    figures = plots.training_figures(result)
    for name, figure in figures.items():
        mlflow.log_figure(figure, f"plots/{name}.png")
    plots.close(figures.values())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / MODEL_FILE
        save_model(recommender, path)
        info = mlflow.pyfunc.log_model(
            name="model",
            registered_model_name=MODEL_NAME,
            **_model_kwargs(path, as_model_input(result.test, rows=3)),
        )
    return str(info.registered_model_version)


def _log_metrics(result: TrainResult) -> None:
    import mlflow

    for row, values in result.metrics.iterrows():
        for name, value in values.items():
            if np.isfinite(value):
                mlflow.log_metric(metric_key(f"{row}.{name}"), float(value))
    for loss, values in result.recommender.loss_comparison_.iterrows():
        for name, value in values.items():
            mlflow.log_metric(metric_key(f"lift_loss.{loss}.{name}"), float(value))
    for name, seconds in result.timings.items():
        mlflow.log_metric(f"time.{name}", seconds)
