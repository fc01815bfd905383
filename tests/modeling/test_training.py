"""Training on a small simulated market: split, metrics, determinism, thin data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import FAST

from recommender import contract
from recommender.datasets.simulate import Market
from recommender.modeling import evidence
from recommender.modeling.estimator import LIFT_USD
from recommender.modeling.training import (
    TrainConfig,
    TrainResult,
    fit_and_evaluate,
    split_by_campaign,
)


def test_held_out_campaigns_never_reach_the_model_measured_on_them(trained: TrainResult):
    assert not set(trained.split["development"]) & set(trained.split["test"])
    assert set(trained.test["campaign_id"]) == set(trained.split["test"])
    assert len(trained.split["test"]) == 12
    seen = evidence.seen_campaigns(trained.development_model, trained.history)
    assert seen == set(trained.split["development"])
    # The model served then learnt from every campaign.
    everything = set(trained.history["campaign_id"])
    assert evidence.seen_campaigns(trained.recommender, trained.history) == everything


def test_model_beats_the_baselines_on_the_noise_free_truth(trained: TrainResult):
    metrics = trained.metrics
    assert trained.truth == "noise-free"
    assert list(metrics.index) == [
        "model", "random", "most_followers", "highest_engagement", "niche_then_engagement",
        "lowest_price", "rule_of_thumb",
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
    assert set(test["tier"]) <= set(contract.TIERS)
    comparison = trained.recommender.loss_comparison_
    assert set(comparison.index) == {"l2", "huber", "fair", "l1"}
    assert trained.recommender.lift_loss_ == comparison["oof_ndcg_roi@10"].idxmax()


@pytest.mark.slow
def test_same_seed_and_data_give_the_same_metrics(market: Market, trained: TrainResult):
    again = fit_and_evaluate(market.creators, market.campaigns, market.outcomes,
                             market.expected, FAST)  # fmt: skip
    pd.testing.assert_frame_equal(again.metrics, trained.metrics)
    pd.testing.assert_frame_equal(
        again.recommender.loss_comparison_, trained.recommender.loss_comparison_
    )


def test_thin_exports_with_only_required_columns_still_train(market: Market):
    creators = market.creators[list(contract.CREATORS.required)]
    campaigns = market.campaigns[list(contract.CAMPAIGNS.required)]
    outcomes = market.outcomes[list(contract.OUTCOMES.required)]
    result = fit_and_evaluate(creators, campaigns, outcomes, None, FAST)
    assert result.truth == "measured"
    assert result.recommender.target_ == LIFT_USD  # no price, no cost: lift in USD
    assert result.test["expected_roi"].isna().all()
    assert np.allclose(result.test["score"], result.test["expected_lift_usd"])
    assert result.metrics.loc["model", "spearman_lift"] > 0.3


def test_campaigns_with_dates_are_split_by_time(market: Market):
    campaigns = market.campaigns.assign(
        start_date=pd.date_range("2025-01-01", periods=len(market.campaigns), freq="D").astype(str)
    )
    development, test = split_by_campaign(campaigns, market.outcomes, TrainConfig())
    latest = campaigns.sort_values("start_date")["campaign_id"].iloc[-12:]
    assert test == set(latest) and not development & test
    assert len(development) + len(test) == market.outcomes["campaign_id"].nunique()


def test_the_headline_metric_is_the_metrics_tables(trained: TrainResult):
    from recommender.modeling import evaluation

    assert trained.headline_metric == trained.metrics.at["model", evaluation.HEADLINE_METRIC]
    assert trained.headline_metric == pytest.approx(
        evaluation.ndcg_at_k(trained.test, "expected_roi", evaluation.TRUTH_ROI, 10)
    )


QUICK = TrainConfig(seed=0, folds=2, n_estimators=40, losses=("l2", "huber"))


def test_too_few_campaigns_is_one_clear_error():
    from recommender.datasets.simulate import generate_market
    from recommender.errors import DataFileError

    small = generate_market(n_creators=500, n_campaigns=2, seed=1)
    with pytest.raises(DataFileError, match=r"cover 2 campaign.*at least 3"):
        fit_and_evaluate(small.creators, small.campaigns, small.outcomes, None, QUICK)


@pytest.mark.parametrize("lift", [0.0, -5.0])
def test_a_history_without_a_positive_lift_still_trains(market: Market, lift: float):
    outcomes = market.outcomes.assign(sales_lift_usd=lift)
    said: list[str] = []
    result = fit_and_evaluate(market.creators, market.campaigns, outcomes, None, QUICK,
                              said.append)  # fmt: skip
    assert result.recommender.lift_loss_ == "l2"
    assert any("no hire had a positive return" in line for line in said)


def first_campaigns(market: Market, n: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The market's creators, campaigns and the outcomes of its first n campaigns only."""
    kept = market.campaigns["campaign_id"].iloc[:n]
    outcomes = market.outcomes[market.outcomes["campaign_id"].isin(kept)]
    return market.creators, market.campaigns, outcomes.reset_index(drop=True)


def test_only_negative_lifts_still_rank_creators(market: Market):
    creators, campaigns, outcomes = first_campaigns(market, 4)
    outcomes = outcomes.assign(sales_lift_usd=-outcomes["sales_lift_usd"].abs() - 1)
    result = fit_and_evaluate(creators, campaigns, outcomes, None, QUICK)
    lift = result.test["expected_lift_usd"]
    assert np.isfinite(lift).all() and lift.nunique() > 1  # an order, not one value for all
    assert result.recommender.return_scale_ > 0


@pytest.mark.parametrize(("test_fraction", "dated"), [(0.5, False), (0.9, True), (0.0, False)])
def test_few_campaigns_keep_two_to_learn_from_and_one_to_measure(
    market: Market, test_fraction: float, dated: bool
):
    creators, campaigns, outcomes = first_campaigns(market, 3)
    if dated:
        campaigns = campaigns.assign(start_date=pd.date_range("2025-01-01", periods=len(campaigns),
                                                              freq="D").astype(str))  # fmt: skip
    config = TrainConfig(seed=0, test_fraction=test_fraction, folds=4, n_estimators=20,
                         losses=("l2",))  # fmt: skip
    development, test = split_by_campaign(campaigns, outcomes, config)
    assert (len(development), len(test)) == (2, 1) and not development & test
    result = fit_and_evaluate(creators, campaigns, outcomes, None, config)
    assert set(result.test["campaign_id"]) == test  # measured only on the campaign held out


def test_internal_folds_are_capped_by_the_campaigns(market: Market):
    creators, campaigns, outcomes = first_campaigns(market, 2)
    history = contract.pair_frame(creators, campaigns, outcomes)
    fitted = (
        TrainConfig(folds=5, n_estimators=20, losses=("l2", "huber")).recommender().fit(history)
    )
    assert fitted.loss_comparison_.index.tolist() == ["l2", "huber"]


def test_a_history_without_costs_has_a_finite_headline_metric(market: Market):
    from recommender.modeling import evaluation

    creators, campaigns, outcomes = first_campaigns(market, 6)
    creators = creators.drop(columns=["price_per_post_usd"])
    result = fit_and_evaluate(creators, campaigns, outcomes.drop(columns=["cost_usd"]), None, QUICK)
    assert (
        result.test["expected_roi"].isna().all() and result.test[evaluation.TRUTH_ROI].isna().all()
    )
    assert np.isfinite(result.headline_metric)
    # With no cost known every hire costs alike: ROI orders as lift does, for every ranking.
    metrics = result.metrics
    pd.testing.assert_series_equal(
        metrics["ndcg_roi@10"], metrics["ndcg_lift@10"], check_names=False
    )
    assert result.headline_metric == pytest.approx(
        evaluation.ndcg_at_k(result.test, "expected_lift_usd", evaluation.TRUTH_LIFT, 10)
    )
