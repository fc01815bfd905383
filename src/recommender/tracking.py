"""Everything MLflow: runs, metrics, plots, model packaging, the registry and the champion gate.

`import mlflow` costs about a second, so it is imported here only, and only
when a function needs it. The tracking store and the artifact location come
from recommender.config (MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the
working directory).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import random
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recommender import config, evaluate, schema
from recommender.errors import ModelNotFound, SettingError
from recommender.io import one_line
from recommender.model_store import (
    MODEL_FILE,
    connect_mlflow,
    load_model,
    model_file,
    model_identity,
    read_model_file,
    replace_folder,
    save_model,
    write_lineage,
)
from recommender.modeling.recommender import Recommender
from recommender.modeling.training import TrainResult

MODEL_NAME = config.MODEL_NAME
CHAMPION = "champion"
# The promotion lock: a registered model that exists only while a run moves the champion.
LOCK_MODEL = f"{MODEL_NAME}.promotion-lock"
LOCK_NOTE = "held while a run moves the creator-recommender champion; deleted after"
LOCK_WAIT_SECONDS = 600.0
LOCK_STALE_SECONDS = 900.0  # far longer than judging a champion takes
HISTORY_TAG = "champion.history."  # registered-model tags, one per promotion, numbered
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
    return connect_mlflow()


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
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}.", dir=model_dir.parent))
    try:
        save_model(recommender, staging / MODEL_FILE)
        mlflow.pyfunc.save_model(
            path=staging / "model", **_model_kwargs(staging / MODEL_FILE, example)
        )
        write_lineage(staging / "model", version, run_id)
        replace_folder(staging / "model", model_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def check_store() -> str:
    """The tracking store's URI, once it answers; SettingError in one line when it cannot be
    reached, so that nothing is trained for a run that could not be logged."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = set_tracking()
    try:
        MlflowClient().search_experiments(max_results=1)
    except (MlflowException, OSError) as exc:
        raise SettingError(f"the tracking store {uri} cannot be reached: {one_line(exc)}") from None
    return uri


def champion_version(client: Any) -> str | None:
    """The registry's champion version, or None when there is none yet."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


@contextmanager
def promotion_lock(client: Any, wait_seconds: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Hold the registry's promotion lock while reading, judging and moving the champion.

    MLflow has no compare-and-set for aliases, but creating a registered model
    succeeds for exactly one caller (the store's unique name): the lock is the
    registered model LOCK_MODEL, deleted on leaving. A lock left by a process
    that died is taken over: at once on the same machine, after
    LOCK_STALE_SECONDS elsewhere. SettingError after `wait_seconds` of waiting.
    """
    from mlflow.exceptions import MlflowException

    me = f"{socket.gethostname()} pid {os.getpid()} {uuid.uuid4().hex[:8]}"
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            client.create_registered_model(LOCK_MODEL, tags={"holder": me}, description=LOCK_NOTE)
            break
        except MlflowException as exc:
            # The server answers a name taken by a lock deleted a moment later with "does
            # not exist" (it looks the holder up after the insert fails): busy all the same.
            if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST"):
                raise
        holder = _lock_holder(client)
        if holder is not None and _abandoned(*holder):
            _release(client, holder[0])
            continue
        if time.monotonic() > deadline:
            raise SettingError(
                f"the champion has been locked by {holder[0] if holder else 'another run'} for "
                f"over {wait_seconds:.0f} s; if that run died, delete the registered model "
                f"{LOCK_MODEL}"
            )
        time.sleep(random.uniform(0.05, 0.3))
    try:
        yield
    finally:
        _release(client, me)


def _lock_holder(client: Any) -> tuple[str, float] | None:
    """(who holds the lock, for how many seconds), or None when it was just released."""
    from mlflow.exceptions import MlflowException

    try:
        lock = client.get_registered_model(LOCK_MODEL)
    except MlflowException:
        return None
    return str(lock.tags.get("holder", "")), time.time() - lock.creation_timestamp / 1000


def _abandoned(holder: str, age_seconds: float) -> bool:
    """Whether the lock's holder died: its process is gone from this machine, or the lock
    is older than any promotion takes."""
    host, _, rest = holder.partition(" pid ")
    pid = rest.split(" ", 1)[0]
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, someone else's
            pass
    return age_seconds > LOCK_STALE_SECONDS


def _release(client: Any, holder: str) -> None:
    """Delete the lock if `holder` still holds it (another run may have taken it over)."""
    from mlflow.exceptions import MlflowException

    found = _lock_holder(client)
    if found is not None and found[0] == holder:
        with suppress(MlflowException):
            client.delete_registered_model(LOCK_MODEL)


def champion_gate(
    version: str, new_metric: float, evaluate_champion: Callable[[str], float]
) -> GateDecision:
    """Move the champion alias to `version` only if it beats the champion on the same test.

    `evaluate_champion(champion_version)` gives the champion's metric on the new
    version's held-out campaigns. Reading the champion, judging and moving it
    happen under promotion_lock, so retrains that finish together are judged
    one after another and the best of them ends champion.
    """
    from mlflow import MlflowClient

    client = MlflowClient()
    name = evaluate.GATE_METRIC
    with promotion_lock(client):
        current = champion_version(client)
        if current is None:
            _promote(client, version, "gate", None, (name, new_metric, None))
            return GateDecision(True, f"version {version} is the first champion", None)
        try:
            champion_metric = float(evaluate_champion(current))
        except Exception as exc:  # an old champion may no longer load with today's code
            _promote(client, version, "gate", current, (name, new_metric, None))
            return GateDecision(
                True,
                f"champion version {current} could not be evaluated ({one_line(exc)}); "
                f"version {version} is champion now",
                None,
            )
        compared = f"{name} ({new_metric:.4f} {{}} {champion_metric:.4f})"
        if new_metric > champion_metric:
            _promote(client, version, "gate", current, (name, new_metric, champion_metric))
            return GateDecision(
                True,
                f"version {version} beats champion version {current} on "
                f"{compared.format('>')}; it is champion now",
                champion_metric,
            )
        _repair_champion_folder(client, current)
    return GateDecision(
        False,
        f"version {version} does not beat champion version {current} on "
        f"{compared.format('<=')}; the champion stays",
        champion_metric,
    )


def set_champion(version: str) -> tuple[str | None, str]:
    """Make `version` the champion by hand (a rollback, or forward again), recorded as such.

    Returns (the previous champion, the version). SettingError when the registry
    has no such version; ModelNotFound when it cannot be loaded (its artifacts
    gone, an older format): a champion must be able to serve.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    check_store()
    client = MlflowClient()
    try:
        client.get_model_version(MODEL_NAME, version)
    except MlflowException:
        raise SettingError(f"{MODEL_NAME} has no version {version!r} in {set_tracking()}") from None
    load_model(f"models:/{MODEL_NAME}/{version}")  # refuses, in one line, what cannot serve
    with promotion_lock(client):
        current = champion_version(client)
        if current != version:
            _promote(client, version, "hand", current, None)
        else:
            _sync_champion_folder(client, current)
    return current, version


def _promote(
    client: Any,
    version: str,
    by: str,
    previous: str | None,
    judged: tuple[str, float, float | None] | None,
) -> None:
    """Move the alias, then record the promotion, then (without a tracking server) put the
    version in the local champion folder. Under promotion_lock only."""
    client.set_registered_model_alias(MODEL_NAME, CHAMPION, version)
    run_id = client.get_model_version(MODEL_NAME, version).run_id
    fingerprint_tag = client.get_run(run_id).data.tags.get("data_fingerprint") if run_id else None
    event = {
        "version": version,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "by": by,
        "previous": previous,
        "metric": judged[0] if judged else None,
        "value": judged[1] if judged else None,
        "previous_value": judged[2] if judged else None,
        "data_fingerprint": fingerprint_tag,
        "run_id": run_id,
    }
    number = len(promotion_history(client)) + 1
    client.set_registered_model_tag(MODEL_NAME, f"{HISTORY_TAG}{number:05d}", json.dumps(event))
    _sync_champion_folder(client, version)


def promotion_history(client: Any) -> list[dict[str, Any]]:
    """Every promotion recorded in the registry, oldest first, each numbered."""
    from mlflow.exceptions import MlflowException

    try:
        tags = client.get_registered_model(MODEL_NAME).tags
    except MlflowException:
        return []
    return [
        {"number": int(key.removeprefix(HISTORY_TAG)), **json.loads(value)}
        for key, value in sorted(tags.items())
        if key.startswith(HISTORY_TAG)
    ]


def _sync_champion_folder(client: Any, version: str) -> None:
    """Without a tracking server, the local champion folder is what scoring serves: make it
    hold `version` (a no-op when it does, a repair when a run died before writing it)."""
    import mlflow

    settings = config.settings()
    folder = settings.champion_dir
    if settings.tracking_configured or champion_folder_version(folder) == version:
        return
    run_id = client.get_model_version(MODEL_NAME, version).run_id
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{MODEL_NAME}/{version}", dst_path=str(staging / "model")
            )
        )
        read_model_file(model_file(local))  # a version that cannot serve never goes in
        write_lineage(local, version, run_id)
        replace_folder(local, Path(os.path.realpath(folder)))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _repair_champion_folder(client: Any, version: str) -> None:
    """_sync_champion_folder where a run that died left the folder behind the registry; a
    champion that cannot be fetched is left to `champion --set` (a refused run still ends
    well)."""
    from mlflow.exceptions import MlflowException

    with suppress(MlflowException, OSError, ModelNotFound):
        _sync_champion_folder(client, version)


def champion_folder_version(folder: Path) -> str | None:
    """The registered version a local champion folder holds, or None."""
    if not model_file(folder).is_file():
        return None
    return model_identity(folder).version


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


@dataclass(frozen=True)
class ChampionStatus:
    """The champion as a team sees it: its version, what scoring serves, and its history."""

    tracking_uri: str
    version: str | None
    served: str  # what score, plan and http use by default
    folder_version: str | None  # what the local champion folder holds (no tracking server)
    history: list[dict[str, Any]]


def champion_status() -> ChampionStatus:
    """The registry's champion and promotion history; SettingError when the tracking store
    cannot be reached."""
    from mlflow import MlflowClient

    uri = check_store()
    client = MlflowClient()
    settings = config.settings()
    folder = None if settings.tracking_configured else settings.champion_dir
    return ChampionStatus(
        tracking_uri=uri,
        version=champion_version(client),
        served=settings.model,
        folder_version=champion_folder_version(folder) if folder else None,
        history=promotion_history(client),
    )
