"""Everything MLflow: runs, metrics, plots, model packaging, the registry and the champion gate.

`import mlflow` costs about a second, so it is imported here only, and only
when a function needs it. The tracking store and the artifact location come
from recommender.config (MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the
working directory).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recommender import config
from recommender.mlops.champion import champion_gate, registered_evidence, store_errors
from recommender.mlops.model_store import (
    MODEL_FILE,
    connect_mlflow,
    process_gone,
    replace_folder,
    save_model,
    staging_beside,
    this_process,
    write_lineage,
)
from recommender.mlops.signature import as_model_input, signature
from recommender.modeling.estimator import Recommender
from recommender.modeling.evidence import Decision
from recommender.modeling.training import TrainResult

MODEL_NAME = config.MODEL_NAME
OWNER_TAG = "creator_recommender.owner"  # 'MACHINE pid N': the train process logging the run
ENDED_TAG = "creator_recommender.ended"  # why a run was ended by another process
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # read only: shipped inside each MLflow model
MODEL_CODE = Path(__file__).resolve().with_name("pyfunc_model.py")
RUNTIME_PACKAGES = ("pandas", "numpy", "scikit-learn", "lightgbm", "joblib", "pyarrow", "mlflow")


@dataclass(frozen=True)
class TrackedRun:
    """Where a training run went in MLflow, and what the champion gate decided."""

    run_id: str
    version: str
    promoted: bool
    gate_message: str
    tracking_uri: str


set_tracking = connect_mlflow  # point MLflow at the configured store; returns its URI


def use_experiment(name: str) -> str:
    """The experiment's id. A new one keeps its artifacts where config says (mlruns/), or,
    on a tracking server, where the server keeps them (shared by the whole team)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    found = mlflow.get_experiment_by_name(name)
    if found is None:
        settings = config.settings()
        on_server = settings.tracking_uri.startswith(("http://", "https://"))
        location = None if on_server else settings.artifact_root.resolve().as_uri()
        try:
            mlflow.create_experiment(name, artifact_location=location)
        except MlflowException as exc:  # a teammate's run created it a moment ago
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        found = mlflow.get_experiment_by_name(name)
        assert found is not None, f"experiment {name} vanished as it was created"
    experiment_id: str = found.experiment_id
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


def export_model(
    recommender: Recommender,
    example: pd.DataFrame,
    model_dir: Path,
    version: str | None = None,
    run_id: str | None = None,
) -> None:
    """Write an MLflow model directory to model_dir, replacing it only once complete; a crash
    at any point leaves a loadable model there (model_store.replace_folder). `version` and
    `run_id` (where the model was registered) go in its lineage file."""
    import mlflow

    model_dir = Path(model_dir)
    with staging_beside(model_dir) as staging:
        save_model(recommender, staging / MODEL_FILE)
        mlflow.pyfunc.save_model(
            path=staging / "model", **_model_kwargs(staging / MODEL_FILE, example)
        )
        write_lineage(staging / "model", version, run_id)
        replace_folder(staging / "model", model_dir)


@store_errors  # a server failing mid-run: one line, and the champion as it was
def track_training(
    result: TrainResult,
    tables: Mapping[str, pd.DataFrame],
    params: Mapping[str, Any],
    experiment: str,
) -> TrackedRun:
    """Log a training run to MLflow, register its model, and put it through the champion gate.

    The run ends FAILED on an error and KILLED on Ctrl-C or SIGTERM; one left RUNNING by a
    process killed outright (kill -9, a power cut) is ended FAILED by the next call on the
    same machine and experiment (end_abandoned_runs)."""
    import mlflow

    uri = set_tracking()
    end_abandoned_runs(use_experiment(experiment))
    with mlflow.start_run(tags={OWNER_TAG: this_process()}) as run, _killed_if_stopped():
        version = _log_run(result, tables, params)
        decision = champion_gate(version, result.evidence, registered_evidence(result))
        _log_decision(decision)
    return TrackedRun(run.info.run_id, version, decision.promote, decision.line, uri)


def _log_decision(decision: Decision) -> None:
    """The gate's line and its comparison (estimates, intervals, campaigns) on the run."""
    import mlflow

    mlflow.set_tag("champion_gate", decision.line)
    mlflow.set_tag("promoted", str(decision.promote).lower())
    mlflow.log_dict(decision.record, "champion_gate.json")
    for name in ("versus_champion", "versus_best_baseline"):
        comparison = decision.record.get(name)
        if isinstance(comparison, dict):
            mlflow.log_metrics({f"gate.{name}.{k}": float(v) for k, v in comparison.items()})


class _Stopped(BaseException):
    """A stop signal (SIGTERM, SIGHUP) raised where the process was, to end its run."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def _killed_if_stopped() -> Iterator[None]:
    """Inside an active MLflow run: Ctrl-C, SIGTERM or SIGHUP end the run KILLED instead of
    leaving it RUNNING. A signal then stops the process as it would have (its default
    action, after the unwinding); Ctrl-C goes on as KeyboardInterrupt. Signals a program
    handles or ignores itself (nohup) are left to it, as are threads other than the main."""
    import mlflow

    ours = [number for number in (signal.SIGTERM, signal.SIGHUP) if _default_action(number)]
    for number in ours:
        signal.signal(number, _raise_stopped)
    _RECEIVED.clear()
    try:
        yield
    except BaseException as stop:
        # A library that caught the stop on its way out may raise something else instead
        # (a database session rolled back): a signal received still decides what happens.
        signum = stop.signum if isinstance(stop, _Stopped) else next(iter(_RECEIVED), None)
        if signum is None and not isinstance(stop, KeyboardInterrupt):
            raise
        _restore_default(ours)  # a second signal acts at once
        with suppress(Exception):  # the store out of reach: the next train ends the run
            mlflow.end_run("KILLED")
        if signum is not None:
            with suppress(OSError, ValueError):  # what was printed is not lost with the process
                sys.stdout.flush()
            os.kill(os.getpid(), signum)
        raise
    finally:
        _restore_default(ours)


def _restore_default(signals: list[signal.Signals]) -> None:
    for number in signals:
        signal.signal(number, signal.SIG_DFL)


def _default_action(signum: int) -> bool:
    main = threading.current_thread() is threading.main_thread()
    return main and signal.getsignal(signum) == signal.SIG_DFL


_RECEIVED: list[int] = []  # the stop signals received while a run is logged


def _raise_stopped(signum: int, frame: object) -> None:
    _RECEIVED.append(signum)
    raise _Stopped(signum)


def end_abandoned_runs(experiment_id: str) -> list[str]:
    """End FAILED the experiment's runs left RUNNING by a train of this machine whose process
    is gone (killed outright); returns their ids. Another machine's runs, a live process's,
    and runs this package did not start are left as they are."""
    from mlflow import MlflowClient

    client = MlflowClient()
    ended = []
    running = client.search_runs([experiment_id], "attributes.status = 'RUNNING'")
    for run in running:
        owner = run.data.tags.get(OWNER_TAG)
        if owner and process_gone(owner):
            client.set_tag(run.info.run_id, ENDED_TAG, f"{owner} was gone; a later train ended it")
            client.set_terminated(run.info.run_id, "FAILED")
            ended.append(run.info.run_id)
    return ended


def _log_run(
    result: TrainResult, tables: Mapping[str, pd.DataFrame], params: Mapping[str, Any]
) -> str:
    """Log params, metrics, plots, tables and the model of the active run; returns the
    registered version."""
    import mlflow

    from recommender.modeling import plots

    recommender = result.recommender
    mlflow.log_params({**params, "lift_loss": recommender.lift_loss_})
    mlflow.set_tag("data_fingerprint", fingerprint(tables))
    mlflow.set_tag("evaluation_truth", result.truth)
    _log_metrics(result)
    mlflow.log_table(_evidence_table(result), "evidence_by_campaign.json")
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


def _evidence_table(result: TrainResult) -> pd.DataFrame:
    """NDCG per campaign of the model (out of sample) and of each baseline, and how the
    model was judged on it."""
    table = result.evidence.ndcg.assign(judged=result.evidence.how)
    return table.reset_index(names="campaign_id")


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
