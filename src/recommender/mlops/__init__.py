"""Models kept, tracked and served: files, MLflow runs, the registry's champion.

Modules:
    model_store      a model's file and folder: saved, loaded (a path or an MLflow URI),
                     identified; `load_model`, `loaded_model`, `ModelIdentity`
    signature        what an MLflow model of ours takes and gives
    tracking         training runs logged to MLflow, the model registered and exported
    champion         the gate that promotes a registered version, under one lock
    tracking_server  a PostgreSQL-backed MLflow server for a team
    pyfunc_model     the code MLflow runs to serve a model (`mlflow models serve`)

Only model_store's names load with this package: MLflow and the models' libraries load
where tracking, champion or a model are used.
"""

from __future__ import annotations

from recommender.mlops.model_store import (
    ModelIdentity,
    ModelRef,
    load_model,
    loaded_model,
    model_identity,
    save_model,
)

__all__ = [
    "ModelIdentity",
    "ModelRef",
    "load_model",
    "loaded_model",
    "model_identity",
    "save_model",
]
