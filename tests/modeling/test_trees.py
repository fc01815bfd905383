"""The compiled tree walker against LightGBM's and scikit-learn's own predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMRegressor
from sklearn.ensemble import IsolationForest

from recommender._trees import BLOCK_ROWS, Trees
from recommender.modeling._lgbm import THREADS, lgbm_params


def _data(n: int = 3_000, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 6)), columns=[f"f{i}" for i in range(6)])
    X.loc[::5, "f3"] = np.nan  # NaN seen in training: splits learn where it goes
    X.loc[::7, "f5"] = 0.0
    y = 3 * X["f0"] + np.sin(X["f1"]) + X["f2"] * X["f4"] + rng.normal(0, 0.3, n)
    return X, y


def _awkward_rows(trees: Trees, X: pd.DataFrame) -> pd.DataFrame:
    """Rows that sit exactly on split thresholds, are NaN where training never saw NaN,
    or are zero (and tiny) where a split treats zero as missing."""
    rows = X.head(400).copy()
    internal = trees.threshold < np.inf
    at = zip(trees.feature[internal], trees.threshold[internal], strict=True)
    for i, (feature, value) in enumerate(at):
        rows.iloc[i % len(rows), int(feature)] = value
    rows.iloc[::3, 0] = np.nan
    rows.iloc[1::4, 2] = 0.0
    rows.iloc[2::4, 2] = -1e-36
    rows.iloc[3::9, 5] = np.nan
    return rows


@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_predictions_equal_lightgbm(zero_as_missing: bool):
    X, y = _data()
    model = LGBMRegressor(**lgbm_params(0, n_estimators=120, zero_as_missing=zero_as_missing))
    model.fit(X, y)
    trees = Trees.from_lightgbm(model.booster_)
    if zero_as_missing:
        assert trees.zero_default.any()
    for rows in (X, _awkward_rows(trees, X)):
        expected = model.booster_.predict(rows, raw_score=True)
        np.testing.assert_allclose(trees.predict(rows), expected, rtol=0, atol=1e-12)
        prediction, contributions = trees.contributions(rows)
        np.testing.assert_allclose(prediction, expected, rtol=0, atol=1e-12)
        assert contributions.shape == (len(rows), X.shape[1] + 1)
        np.testing.assert_allclose(contributions.sum(axis=1), expected, rtol=0, atol=1e-9)


def test_contributions_agree_with_treeshap_on_the_leading_feature():
    X, y = _data()
    model = LGBMRegressor(**lgbm_params(0, n_estimators=100)).fit(X, y)
    _, path = Trees.from_lightgbm(model.booster_).contributions(X)
    shap = model.predict(X, pred_contrib=True)
    leading = np.argmax(np.abs(path[:, :-1]), axis=1) == np.argmax(np.abs(shap[:, :-1]), axis=1)
    assert leading.mean() > 0.85


def test_a_constant_model_and_no_rows():
    X, _ = _data(200)
    model = LGBMRegressor(n_estimators=3, min_child_samples=500, verbose=-1).fit(X, np.ones(200))
    trees = Trees.from_lightgbm(model.booster_)
    np.testing.assert_allclose(trees.predict(X), model.booster_.predict(X, raw_score=True))
    assert trees.predict(X.head(0)).shape == (0,)
    with pytest.raises(ValueError, match="6 feature columns"):
        trees.predict(X.iloc[:, :4])


def test_categorical_splits_are_refused():
    X, y = _data(500)
    X["f0"] = pd.Categorical(np.where(X["f0"] > 0, "a", "b"))
    model = LGBMRegressor(n_estimators=5, verbose=-1).fit(X, y)
    with pytest.raises(ValueError, match="categorical"):
        Trees.from_lightgbm(model.booster_)


@pytest.mark.parametrize("max_features", [1.0, 0.5])
def test_isolation_scores_equal_sklearn(max_features: float):
    X, _ = _data(2_000)
    X = X.fillna(0.0).to_numpy()
    forest = IsolationForest(n_estimators=50, max_features=max_features, random_state=0).fit(X)
    trees = Trees.from_isolation_forest(forest)
    np.testing.assert_allclose(trees.isolation_score(X), forest.score_samples(X), atol=1e-12)


def test_the_single_thread_kernel_gives_the_same_results():
    from recommender import _trees as module

    X, y = _data()
    model = LGBMRegressor(**lgbm_params(0, n_estimators=50)).fit(X, y)
    trees = Trees.from_lightgbm(model.booster_)
    threaded = trees.contributions(X)
    module.use_threads(False)
    try:
        single = trees.contributions(X)
    finally:
        module.use_threads(True)
    np.testing.assert_array_equal(threaded[0], single[0])
    np.testing.assert_array_equal(threaded[1], single[1])


def test_a_few_rows_are_walked_as_in_a_long_list():
    """Rows that fit in one block are walked on the calling thread: the same numbers."""
    X, y = _data()
    trees = Trees.from_lightgbm(LGBMRegressor(**lgbm_params(0, n_estimators=50)).fit(X, y).booster_)
    few = X.head(BLOCK_ROWS)
    np.testing.assert_array_equal(trees.predict(few), trees.predict(X)[:BLOCK_ROWS])
    np.testing.assert_array_equal(
        trees.contributions(few)[1], trees.contributions(X)[1][:BLOCK_ROWS]
    )


@pytest.mark.parametrize("max_depth", [1, 2, 4, 5])
@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_deciding_every_split_adds_what_walking_adds(max_depth: int, zero_as_missing: bool):
    """The two kernels, on the same trees and rows (a leaf above the deepest, NaN, zero,
    values on the thresholds; one block and many): equal to the bit."""
    from recommender._trees import COMPLETE_MAX_DEPTH, SPLIT_BLOCK_ROWS, _Complete, walk

    X, y = _data()
    leaves = max(2**max_depth - 1, 2)
    params = lgbm_params(0, n_estimators=60, max_depth=max_depth, num_leaves=leaves,
                         zero_as_missing=zero_as_missing)  # fmt: skip
    trees = Trees.from_lightgbm(LGBMRegressor(**params).fit(X, y).booster_)
    assert max_depth <= COMPLETE_MAX_DEPTH and trees.depths.max() == max_depth
    complete = _Complete.of(trees)
    for rows in (X, _awkward_rows(trees, X), X.head(SPLIT_BLOCK_ROWS - 3)):
        matrix = trees.matrix(rows)
        walked, decided = (np.zeros((len(rows), X.shape[1])) for _ in range(2))
        np.testing.assert_array_equal(
            complete.sum(matrix, decided), walk(matrix, *trees._arrays(), walked)
        )
        np.testing.assert_array_equal(decided, walked)
        np.testing.assert_array_equal(
            complete.sum(matrix, np.zeros((0, 0))), walk(matrix, *trees._arrays(), np.zeros((0, 0)))
        )


def test_a_constant_ensemble_has_complete_trees_of_no_splits():
    X, _ = _data(200)
    model = LGBMRegressor(n_estimators=3, min_child_samples=500, verbose=-1).fit(
        X, np.full(200, 2.5)
    )
    trees = Trees.from_lightgbm(model.booster_)
    assert trees.depths.max() == 0
    prediction, contributions = trees.contributions(X)
    np.testing.assert_allclose(prediction, model.booster_.predict(X, raw_score=True))
    assert (contributions[:, :-1] == 0).all()


def test_lightgbm_learns_on_one_thread_and_two_give_the_same_model_here():
    X, y = _data(seed=3)
    one = LGBMRegressor(**lgbm_params(0, n_estimators=40)).fit(X, y)
    two = LGBMRegressor(**lgbm_params(0, n_estimators=40, n_jobs=2)).fit(X, y)
    assert one.get_params()["n_jobs"] == THREADS == 1
    np.testing.assert_array_equal(one.predict(X), two.predict(X))
