"""Training on a small simulated market: split, metrics, determinism, thin data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender import schema
from recommender.modeling.training import TrainConfig, TrainResult, train
from recommender.simulate import Market, generate_market

FAST = TrainConfig(seed=1, folds=3, n_estimators=200)


@pytest.fixture(scope="module")
def market() -> Market:
    return generate_market(n_creators=4_000, n_campaigns=60, seed=5)


@pytest.fixture(scope="module")
def trained(market: Market) -> TrainResult:
    return train(market.creators, market.campaigns, market.outcomes, market.expected, FAST)


def test_held_out_campaigns_are_never_trained_on(trained: TrainResult):
    assert not set(trained.split["development"]) & set(trained.split["test"])
    assert set(trained.test["campaign_id"]) == set(trained.split["test"])
    assert len(trained.split["test"]) == 12


def test_model_beats_the_baselines_on_the_noise_free_truth(trained: TrainResult):
    metrics = trained.metrics
    assert trained.truth == "noise-free"
    assert list(metrics.index) == [
        "model", "random", "most_followers", "highest_engagement", "niche_then_engagement",
    ]  # fmt: skip
    best_baseline = metrics.drop(index="model")["ndcg_roi@10"].max()
    assert metrics.loc["model", "ndcg_roi@10"] > best_baseline + 0.1
    assert metrics.loc["model", "ndcg_fit@10"] > metrics.loc["random", "ndcg_fit@10"] + 0.2
    assert metrics.loc["model", "spearman_lift"] > 0.6
    assert 0.6 < metrics.loc["model", "interval_coverage"] < 0.95


def test_predictions_are_consistent(trained: TrainResult):
    test = trained.test
    assert (test["lift_low_usd"] <= test["expected_lift_usd"]).all()
    assert (test["expected_lift_usd"] <= test["lift_high_usd"]).all()
    assert np.allclose(test["expected_roi"] * test["cost_usd"], test["expected_lift_usd"])
    sales = test["campaign_objective"] == "sales"
    assert np.allclose(test.loc[sales, "score"], test.loc[sales, "expected_roi"])
    assert test["fit_score"].between(0, 1).all()
    assert set(test["tier"]) <= set(schema.TIERS)
    assert set(trained.loss_comparison.index) == {"l2", "huber", "fair", "l1"}
    assert trained.recommender.metadata["lift_loss"] in trained.loss_comparison.index


def test_same_seed_and_data_give_the_same_metrics(market: Market, trained: TrainResult):
    again = train(market.creators, market.campaigns, market.outcomes, market.expected, FAST)
    pd.testing.assert_frame_equal(again.metrics, trained.metrics)
    pd.testing.assert_frame_equal(again.loss_comparison, trained.loss_comparison)


def test_thin_exports_with_only_required_columns_still_train(market: Market):
    creators = market.creators[list(schema.CREATORS.required)]
    campaigns = market.campaigns[list(schema.CAMPAIGNS.required)]
    outcomes = market.outcomes[list(schema.OUTCOMES.required)]
    result = train(creators, campaigns, outcomes, None, FAST)
    assert result.truth == "measured"
    assert result.recommender.metadata["unit_cost"]  # no price, no cost: lift in USD
    assert result.test["expected_roi"].isna().all()
    assert np.allclose(result.test["score"], result.test["expected_lift_usd"])
    assert result.metrics.loc["model", "spearman_lift"] > 0.3


def test_campaigns_with_dates_are_split_by_time(market: Market):
    campaigns = market.campaigns.assign(
        start_date=pd.date_range("2025-01-01", periods=len(market.campaigns), freq="D").astype(str)
    )
    result = train(market.creators, campaigns, market.outcomes, None, FAST)
    latest = campaigns.sort_values("start_date")["campaign_id"].iloc[-12:]
    assert set(result.split["test"]) == set(latest)
