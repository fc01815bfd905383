"""Where the project reads and writes by default: one place, relative to the working directory.

Nothing is found from the package's own location, so an installed package
(`pip install creator-recommender`) works from any folder and never writes into
site-packages. Every default can be overridden by a command-line flag or an
environment variable:

    what                        default (in the working directory)  environment variable
    the folder defaults live in the working directory               CREATOR_RECOMMENDER_HOME
    the model to score with     the champion (below)                CREATOR_RECOMMENDER_MODEL
    the local champion folder   models/champion                     CREATOR_RECOMMENDER_CHAMPION_DIR
    where training exports      models/latest                       CREATOR_RECOMMENDER_MODEL_DIR
    MLflow tracking store       sqlite:///mlflow.db                 MLFLOW_TRACKING_URI
    MLflow artifacts (new runs) mlruns/ beside a sqlite store
    the demo market             data/demo                           CREATOR_RECOMMENDER_DEMO_DATA
    the real creators           data/external/instagram             CREATOR_RECOMMENDER_REAL_DATA
    MLflow experiment           creator-recommender                 CREATOR_RECOMMENDER_EXPERIMENT

The champion is what scoring uses by default: the registry's
`models:/creator-recommender@champion` when MLFLOW_TRACKING_URI is set (a
team's tracking server), else the local champion folder, which only a
promotion writes (the champion gate, or `creator-recommender champion --set`).
What train exports to models/latest is the last model trained, kept for
inspection; it is never the default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "CREATOR_RECOMMENDER_HOME"
MODEL_ENV = "CREATOR_RECOMMENDER_MODEL"
MODEL_DIR_ENV = "CREATOR_RECOMMENDER_MODEL_DIR"
CHAMPION_DIR_ENV = "CREATOR_RECOMMENDER_CHAMPION_DIR"
DEMO_DATA_ENV = "CREATOR_RECOMMENDER_DEMO_DATA"
REAL_DATA_ENV = "CREATOR_RECOMMENDER_REAL_DATA"
EXPERIMENT_ENV = "CREATOR_RECOMMENDER_EXPERIMENT"
TRACKING_ENV = "MLFLOW_TRACKING_URI"

MODEL_NAME = "creator-recommender"  # the registered model's name in MLflow
CHAMPION_ALIAS = "champion"  # the registry alias of the model scoring serves
CHAMPION_URI = f"models:/{MODEL_NAME}@{CHAMPION_ALIAS}"
URI_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/", "file://")  # a model MLflow resolves


def is_model_uri(model: str) -> bool:
    """Whether `model` names a model MLflow resolves (else it is a folder or a file)."""
    return model.startswith(URI_SCHEMES)


# MLflow's client retries a server out of reach for minutes by default; a command should
# say so in seconds. Each can still be set in the environment.
MLFLOW_CLIENT_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # a bar per download drowns our lines
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # train prints its run's id itself
}


def default_workers() -> int:
    """Worker processes a service starts by default: one per core this process may use
    (all of them where the system cannot say), at most 8."""
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return max(1, min(8, len(usable) if usable else os.cpu_count() or 1))


def unreachable_reason(message: str) -> str:
    """The end of an HTTP client's long failure ('[Errno 111] Connection refused'), or the
    message as it is."""
    found = re.search(r"\[Errno -?\d+\][^'\")\]]*", message) or re.search(
        r"(Read|Connect)TimeoutError[^'\")\]]*", message
    )
    return found.group(0).strip() if found else message


def mlflow_client_defaults() -> None:
    """Apply MLFLOW_CLIENT_DEFAULTS where the environment does not set them."""
    for name, value in MLFLOW_CLIENT_DEFAULTS.items():
        os.environ.setdefault(name, value)


@dataclass(frozen=True)
class Settings:
    """The defaults in force: paths are absolute, resolved against `home`."""

    home: Path
    model: str  # a model directory or an MLflow model URI: the champion unless overridden
    model_dir: Path
    champion_dir: Path
    tracking_uri: str
    tracking_configured: bool  # MLFLOW_TRACKING_URI names another store: its registry serves
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
    champion_dir = path(CHAMPION_DIR_ENV, "models/champion")
    default_store = f"sqlite:///{home / 'mlflow.db'}"
    # MLflow writes the URI it is pointed at into the environment (for its subprocesses):
    # the default store there is still the default, not a server the user chose.
    tracking_configured = env.get(TRACKING_ENV, default_store) != default_store
    model = env.get(MODEL_ENV) or (CHAMPION_URI if tracking_configured else str(champion_dir))
    if ":/" not in model:  # a folder or file, not an MLflow URI such as models:/name@alias
        model = str(home / Path(model).expanduser())
    return Settings(
        home=home,
        model=model,
        model_dir=model_dir,
        champion_dir=champion_dir,
        tracking_uri=env.get(TRACKING_ENV) or default_store,
        tracking_configured=tracking_configured,
        demo_data=path(DEMO_DATA_ENV, "data/demo"),
        real_data=path(REAL_DATA_ENV, "data/external/instagram"),
        experiment=env.get(EXPERIMENT_ENV) or MODEL_NAME,
    )
