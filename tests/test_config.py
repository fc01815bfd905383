"""Defaults come from the working directory and the environment, never from the package."""

from __future__ import annotations

from pathlib import Path

import pytest

from recommender import config
from recommender.errors import ModelNotFound
from recommender.mlops.model_store import load_model


def test_defaults_are_relative_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = config.settings({})
    assert settings.home == tmp_path.resolve()
    assert settings.model_dir == tmp_path.resolve() / "models" / "latest"
    assert settings.champion_dir == tmp_path.resolve() / "models" / "champion"
    assert settings.model == str(settings.champion_dir)  # the champion, not the last trained
    assert not settings.tracking_configured
    assert settings.tracking_uri == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert settings.artifact_root == tmp_path.resolve() / "mlruns"
    assert settings.demo_data == tmp_path.resolve() / "data" / "demo"
    assert settings.real_data == tmp_path.resolve() / "data" / "external" / "instagram"
    assert settings.experiment == "creator-recommender"


def test_the_environment_overrides_each_default(tmp_path):
    settings = config.settings(
        {
            "CREATOR_RECOMMENDER_HOME": str(tmp_path),
            "CREATOR_RECOMMENDER_MODEL": "models:/creator-recommender@champion",
            "CREATOR_RECOMMENDER_MODEL_DIR": "elsewhere/model",
            "MLFLOW_TRACKING_URI": "http://tracking.example:5000",
            "CREATOR_RECOMMENDER_REAL_DATA": "/data/instagram",
            "CREATOR_RECOMMENDER_EXPERIMENT": "team",
        }
    )
    assert settings.home == tmp_path.resolve()
    assert settings.model == "models:/creator-recommender@champion"
    assert settings.model_dir == tmp_path.resolve() / "elsewhere" / "model"
    assert settings.tracking_uri == "http://tracking.example:5000"
    assert settings.artifact_root == tmp_path.resolve() / "mlruns"  # not beside a server
    assert settings.real_data == Path("/data/instagram")
    assert settings.experiment == "team"


def test_with_a_tracking_server_the_registrys_champion_is_the_default(tmp_path):
    settings = config.settings(
        {"CREATOR_RECOMMENDER_HOME": str(tmp_path), "MLFLOW_TRACKING_URI": "http://t:5000"}
    )
    assert settings.tracking_configured
    assert settings.model == "models:/creator-recommender@champion"


def test_the_default_model_is_found_from_where_the_user_works(tmp_path, monkeypatch, model_dir):
    monkeypatch.delenv("CREATOR_RECOMMENDER_MODEL", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(ModelNotFound, match=str(tmp_path / "models" / "champion")):
        load_model()
    monkeypatch.setenv("CREATOR_RECOMMENDER_MODEL", str(model_dir))
    assert load_model() is load_model(model_dir)


def test_a_relative_model_path_is_read_from_the_home_folder(tmp_path):
    settings = config.settings(
        {"CREATOR_RECOMMENDER_HOME": str(tmp_path), "CREATOR_RECOMMENDER_MODEL": "team/model"}
    )
    assert settings.model == str(tmp_path.resolve() / "team" / "model")
