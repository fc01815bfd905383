"""Where the project reads and writes by default: one place, relative to the working directory.

Nothing is found from the package's own location, so an installed package
(`pip install creator-recommender`) works from any folder and never writes into
site-packages. Every default can be overridden by a command-line flag or an
environment variable:

    what                        default (in the working directory)  environment variable
    the folder defaults live in the working directory               CREATOR_RECOMMENDER_HOME
    the model to score with     models/latest                       CREATOR_RECOMMENDER_MODEL
    where training exports      models/latest                       CREATOR_RECOMMENDER_MODEL_DIR
    MLflow tracking store       sqlite:///mlflow.db                 MLFLOW_TRACKING_URI
    MLflow artifacts (new runs) mlruns/ beside a sqlite store
    the demo market             data/demo                           CREATOR_RECOMMENDER_DEMO_DATA
    the real creators           data/external/instagram             CREATOR_RECOMMENDER_REAL_DATA
    MLflow experiment           creator-recommender                 CREATOR_RECOMMENDER_EXPERIMENT
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "CREATOR_RECOMMENDER_HOME"
MODEL_ENV = "CREATOR_RECOMMENDER_MODEL"
MODEL_DIR_ENV = "CREATOR_RECOMMENDER_MODEL_DIR"
DEMO_DATA_ENV = "CREATOR_RECOMMENDER_DEMO_DATA"
REAL_DATA_ENV = "CREATOR_RECOMMENDER_REAL_DATA"
EXPERIMENT_ENV = "CREATOR_RECOMMENDER_EXPERIMENT"
TRACKING_ENV = "MLFLOW_TRACKING_URI"

MODEL_NAME = "creator-recommender"  # the registered model's name in MLflow


@dataclass(frozen=True)
class Settings:
    """The defaults in force: paths are absolute, resolved against `home`."""

    home: Path
    model: str  # a model directory or an MLflow model URI
    model_dir: Path
    tracking_uri: str
    demo_data: Path
    real_data: Path
    experiment: str

    @property
    def artifact_root(self) -> Path:
        """Where new MLflow experiments keep artifacts: mlruns/ beside a sqlite store,
        else under home."""
        prefix = "sqlite:///"
        if self.tracking_uri.startswith(prefix):
            return Path(self.tracking_uri.removeprefix(prefix)).parent / "mlruns"
        return self.home / "mlruns"


def settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The defaults from `environ` (the process's environment when None)."""
    env = os.environ if environ is None else environ
    home = Path(env.get(HOME_ENV) or Path.cwd()).resolve()

    def path(variable: str, default: str) -> Path:
        return home / Path(env.get(variable) or default).expanduser()

    model_dir = path(MODEL_DIR_ENV, "models/latest")
    model = env.get(MODEL_ENV) or str(model_dir)
    if ":/" not in model:  # a folder or file, not an MLflow URI such as models:/name@alias
        model = str(home / Path(model).expanduser())
    return Settings(
        home=home,
        model=model,
        model_dir=model_dir,
        tracking_uri=env.get(TRACKING_ENV) or f"sqlite:///{home / 'mlflow.db'}",
        demo_data=path(DEMO_DATA_ENV, "data/demo"),
        real_data=path(REAL_DATA_ENV, "data/external/instagram"),
        experiment=env.get(EXPERIMENT_ENV) or MODEL_NAME,
    )
