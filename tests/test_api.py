"""The public Python API: `import recommender` gives the real functions and classes, light."""

from __future__ import annotations

import importlib.metadata
import inspect
import pydoc
import subprocess
import sys

import pytest

import recommender

PUBLIC = ("train", "score", "score_with_rejects", "plan", "load_model", "Constraints", "Plan",
          "Scored", "TrainResult", "Recommender", "__version__")  # fmt: skip
# What a caller catches, and the warning score() gives.
ERRORS = ("DataFileError", "ContractError", "ScoringError", "ModelNotFound", "ModelUnreachable",
          "SettingError", "MissingExtra", "RejectedRowsWarning")  # fmt: skip


def test_every_public_name_is_there_and_listed():
    assert set(PUBLIC + ERRORS) <= set(recommender.__all__)
    assert set(PUBLIC + ERRORS) <= set(dir(recommender))
    for name in PUBLIC:
        assert getattr(recommender, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = recommender.nothing  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["train", "score", "score_with_rejects", "plan", "load_model"])
def test_functions_are_the_real_ones_with_their_signatures(name: str):
    function = getattr(recommender, name)
    assert function.__module__.startswith("recommender.") and function.__name__ == name
    parameters = inspect.signature(function).parameters
    assert not any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters.values())
    assert all(p.annotation is not inspect.Parameter.empty for p in parameters.values())
    assert len(inspect.getdoc(function) or "") > 80  # says what it takes and returns


def test_help_of_train_shows_the_truth():
    """What `python -c "import recommender; help(recommender.train)"` prints."""
    done = subprocess.run(
        [sys.executable, "-c", "import recommender; help(recommender.train)"],
        capture_output=True, text=True, check=True, env={"PAGER": "cat", "TERM": "dumb"},
    )  # fmt: skip
    text = done.stdout
    assert "train(" in text and "data: 'TrainingData'" in text and "track: 'bool' = False" in text
    assert "-> 'TrainResult'" in text and "held-out campaigns" in text
    assert "*args" not in text


def test_help_of_the_classes_shows_their_fields():
    plan_help = pydoc.render_doc(recommender.Plan, renderer=pydoc.plaintext)
    assert "chosen" in plan_help and "summary" in plan_help and "rejects" in plan_help
    constraints = inspect.signature(recommender.Constraints).parameters
    assert {"target_country", "max_niche_share", "max_segment_share"} <= set(constraints)


def test_the_version_is_the_installed_distributions():
    assert recommender.__version__ == importlib.metadata.version("creator-recommender")


def test_import_stays_light():
    code = (
        "import sys, recommender; import recommender.config; "
        "print('mlflow' in sys.modules, 'lightgbm' in sys.modules, 'numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]


def test_features_load_without_the_models():
    """Layers one way: feature engineering needs the tree kernel, not the models (LightGBM)."""
    code = "import sys, recommender.features; print('lightgbm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]


@pytest.mark.parametrize("name", ERRORS)
def test_the_errors_a_caller_catches_are_the_ones_raised(name: str):
    from recommender import errors

    assert getattr(recommender, name) is getattr(errors, name)
    assert issubclass(getattr(recommender, name), Exception)


def test_the_estimator_is_the_one_models_are_made_of():
    from recommender.modeling.estimator import Recommender

    assert recommender.Recommender is Recommender
