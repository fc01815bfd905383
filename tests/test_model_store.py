"""Model files: found, checked and cached in one place."""

from __future__ import annotations

import copy

import joblib
import pytest

from recommender.errors import ModelNotFound
from recommender.model_store import (
    load_model,
    model_file,
    read_model_file,
    save_model,
)


def test_a_model_loads_from_its_directory_or_its_file_and_is_cached(model_dir):
    from_dir = load_model(model_dir)
    assert load_model(model_file(model_dir)) is from_dir
    assert load_model(from_dir) is from_dir  # a Recommender is used as given


def test_missing_and_foreign_files_are_one_line_errors(tmp_path):
    with pytest.raises(ModelNotFound, match="no trained model here"):
        load_model(tmp_path)
    joblib.dump({"not": "a model"}, tmp_path / "other.joblib")
    with pytest.raises(ModelNotFound, match="not a creator-recommender model"):
        read_model_file(tmp_path / "other.joblib")


def test_a_model_of_an_older_format_is_refused_with_a_retrain_message(model, tmp_path):
    older = copy.copy(model)
    older.model_format_ = model.model_format_ - 1
    save_model(older, tmp_path / "old.joblib")
    with pytest.raises(ModelNotFound, match="older version of this package; retrain"):
        load_model(tmp_path / "old.joblib")


def test_a_rewritten_file_is_read_again(model, tmp_path):
    path = tmp_path / "m.joblib"
    save_model(model, path)
    first = load_model(path)
    save_model(model, path)
    path.touch()
    assert load_model(path) is not first
