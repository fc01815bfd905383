"""Trained models on disk: the one place that names the model file and loads it.

A model is an MLflow model directory (what train exports; it holds
`artifacts/recommender.joblib`), that joblib file itself, or an MLflow model
URI (`models:/creator-recommender@champion`, `runs:/...`). Every load checks
the model's format, so a model saved by an older version of the package is
refused with a one-line "retrain" message.

A model file is a pickle: loading one runs code from it. Load only models you
or your team trained, as you would run only scripts you trust.
"""

from __future__ import annotations

import os
from pathlib import Path

import joblib

from recommender import config
from recommender.errors import ModelNotFound
from recommender.io import one_line
from recommender.modeling.recommender import MODEL_FORMAT, Recommender

MODEL_FILE = "recommender.joblib"
URI_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/", "file://")

_cache: dict[str, Recommender] = {}


def model_file(model_dir: str | os.PathLike[str]) -> Path:
    """Where an exported model directory keeps the trained Recommender."""
    return Path(model_dir) / "artifacts" / MODEL_FILE


def save_model(recommender: Recommender, path: str | os.PathLike[str]) -> None:
    """Write a trained Recommender to a model file."""
    joblib.dump(recommender, path)


def read_model_file(path: str | os.PathLike[str]) -> Recommender:
    """The Recommender in a model file, checked to be one this package version can use."""
    older = f"{path}: trained by an older version of this package; retrain it"
    try:
        loaded = joblib.load(path)
    except (ModuleNotFoundError, AttributeError):  # classes since renamed or removed
        raise ModelNotFound(older) from None
    except Exception as exc:  # truncated or corrupted: the unpickler raises any kind
        raise ModelNotFound(f"{path}: not a readable model file ({one_line(exc)})") from None
    if not isinstance(loaded, Recommender):
        raise ModelNotFound(f"{path}: not a creator-recommender model")
    if getattr(loaded, "model_format_", None) != MODEL_FORMAT:
        raise ModelNotFound(older)
    return loaded


def load_model(model: str | os.PathLike[str] | Recommender | None = None) -> Recommender:
    """A trained Recommender: given, or from a model directory, a model file or an MLflow URI.

    None takes the configured default (config.settings().model: $CREATOR_RECOMMENDER_MODEL,
    else models/latest in the working directory). Loaded models are cached
    (a file until it changes). Raises ModelNotFound with a one-line message.
    """
    if isinstance(model, Recommender):
        return model
    ref = str(model or config.settings().model)
    if ref.startswith(URI_SCHEMES):
        if ref not in _cache:
            _cache[ref] = _load_from_mlflow(ref)
        return _cache[ref]
    path = Path(ref)
    file = path if path.suffix == ".joblib" else model_file(path)
    if not file.is_file():
        hint = "train one with `creator-recommender train`"
        raise ModelNotFound(f"{path}: no trained model here ({hint})")
    key = f"{file.resolve()}:{file.stat().st_mtime_ns}"
    if key not in _cache:
        _cache[key] = read_model_file(file)
    return _cache[key]


def _load_from_mlflow(uri: str) -> Recommender:
    """Download the MLflow model at `uri` from the configured tracking store, then load it."""
    import mlflow
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(config.settings().tracking_uri)
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri)
    except (MlflowException, OSError) as exc:  # OSError: files, and a server out of reach
        raise ModelNotFound(f"{uri}: cannot load the model: {one_line(exc)}") from None
    return read_model_file(model_file(local))
