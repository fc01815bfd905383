"""The lift model, its calibration and intervals, and the fit ranker's labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.modeling.lift import ReturnRegressor, conformal_margin, mean_calibration
from recommender.modeling.ranker import FitRanker, fit_labels


def test_conformal_margin_reaches_the_asked_coverage():
    rng = np.random.default_rng(0)
    y = rng.normal(0, 1, 5_000)
    low, high = np.full_like(y, -0.5), np.full_like(y, 0.5)  # too narrow: ~38% coverage
    margin = conformal_margin(low, high, y, 0.8)
    assert margin > 0
    fresh = rng.normal(0, 1, 5_000)
    covered = np.mean((fresh >= low - margin) & (fresh <= high + margin))
    assert covered == pytest.approx(0.8, abs=0.02)
    assert conformal_margin(np.full_like(y, -5), np.full_like(y, 5), y, 0.8) < 0  # too wide: shrink


def test_mean_calibration():
    assert mean_calibration(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0])) == pytest.approx(
        2.0
    )
    assert mean_calibration(np.array([1.0, np.nan]), np.array([3.0, 100.0])) == pytest.approx(3.0)
    assert mean_calibration(np.array([0.0]), np.array([1.0])) == 1.0  # undefined: no change


def test_return_regressor_learns_a_heavy_tailed_relation():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.uniform(0, 1, 3_000), "noise": rng.uniform(0, 1, 3_000)})
    truth = np.exp(3 * X["x"])  # returns from 1 to 20
    y = truth * np.exp(0.5 * rng.standard_t(3, 3_000))  # heavy-tailed measurements
    y[:30] = -2.0  # and some negative ones
    for loss in ("l2", "huber", "fair", "l1"):
        model = ReturnRegressor(loss=loss, n_estimators=200).fit(X, y)
        predicted = model.predict(X)
        assert pd.Series(predicted).corr(pd.Series(truth), method="spearman") > 0.9, loss
    low = ReturnRegressor(loss="quantile", alpha=0.1, n_estimators=200).fit(X, y).predict(X)
    high = ReturnRegressor(loss="quantile", alpha=0.9, n_estimators=200).fit(X, y).predict(X)
    assert (low < high).mean() > 0.95


def test_fit_labels_use_ratings_and_fill_gaps_from_outcomes():
    campaign = pd.Series(["a"] * 5)
    measured = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0])
    assert fit_labels(None, measured, campaign).tolist() == [0, 1, 2, 3, 4]
    rating = pd.Series([4, None, None, 0, 2])
    assert fit_labels(rating, measured, campaign).tolist() == [4, 1, 2, 0, 2]


def test_ranker_orders_within_campaigns_and_scores_fit_from_0_to_1():
    rng = np.random.default_rng(0)
    n = 2_000
    X = pd.DataFrame({"signal": rng.uniform(0, 1, n), "noise": rng.uniform(0, 1, n)})
    labels = np.clip((X["signal"] * 5).astype(int), 0, 4)
    groups = pd.Series([f"c{i // 40}" for i in range(n)])
    ranker = FitRanker(n_estimators=50).fit(X, labels, groups)
    raw = ranker.predict(X)
    assert pd.Series(raw).corr(X["signal"], method="spearman") > 0.9
    scores = ranker.fit_score(raw)
    assert scores.min() >= 0 and scores.max() <= 1
    assert ranker.fit_score(np.array([raw.max() + 1]))[0] == 1.0
