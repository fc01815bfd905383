"""Metrics on worked examples and invariants."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from recommender.modeling import evaluation
from recommender.modeling.evaluation import coverage, ndcg_at_k, spearman, split_campaigns


def frame(score: list[float], gain: list[float], group: str = "c1") -> pd.DataFrame:
    return pd.DataFrame({"campaign_id": group, "score": score, "gain": gain})


def test_worked_example():
    # Ranked gains 3, 0, 2 against the ideal 3, 2, 0.
    f = frame([0.9, 0.8, 0.7], [3, 0, 2])
    dcg = 3 / math.log2(2) + 0 + 2 / math.log2(4)
    ideal = 3 / math.log2(2) + 2 / math.log2(3)
    assert ndcg_at_k(f, "score", "gain", 3) == pytest.approx(dcg / ideal)
    assert ndcg_at_k(f, "score", "gain", 1) == pytest.approx(1.0)


def test_perfect_ranking_is_one_and_no_hits_is_zero():
    assert ndcg_at_k(frame([3, 2, 1, 0], [5, 3, 1, 0]), "score", "gain", 2) == pytest.approx(1.0)
    assert ndcg_at_k(frame([3, 2, 1, 0], [0, 0, 1, 4]), "score", "gain", 2) == 0.0


def test_k_beyond_the_list_uses_the_whole_list():
    f = frame([1, 2, 3], [1, 2, 3])
    assert (
        ndcg_at_k(f, "score", "gain", 50) == ndcg_at_k(f, "score", "gain", 3) == pytest.approx(1.0)
    )


def test_ties_are_broken_against_the_ranking():
    assert ndcg_at_k(frame([1, 1], [0, 1]), "score", "gain", 1) == 0.0
    assert ndcg_at_k(frame([1, 1], [1, 0]), "score", "gain", 1) == 0.0


def test_negative_gains_count_as_zero_and_groups_without_gain_are_left_out():
    both = pd.concat([frame([2, 1], [-5, 1], "c1"), frame([2, 1], [0, 0], "c2")])
    assert ndcg_at_k(both, "score", "gain", 1) == 0.0  # only c1 counts
    assert math.isnan(ndcg_at_k(frame([1, 2], [0, -1]), "score", "gain", 1))


def test_mean_over_campaigns():
    both = pd.concat([frame([2, 1], [1, 0], "c1"), frame([2, 1], [0, 1], "c2")])
    assert ndcg_at_k(both, "score", "gain", 1) == pytest.approx(0.5)


def test_spearman_and_coverage():
    f = pd.DataFrame(
        {"p": [1, 2, 3, 4], "t": [10, 20, 30, 40], "lo": [0, 25, 0, 0], "hi": [20, 30, 29, 50]}
    )
    assert spearman(f, "p", "t") == pytest.approx(1.0)
    assert coverage(f, "t", "lo", "hi") == 0.5


def test_split_never_shares_a_campaign():
    ids = pd.Series([f"c{i % 37}" for i in range(400)])
    dev, test = split_campaigns(ids, 0.2, seed=3)
    assert not dev & test and dev | test == set(ids)
    assert len(test) == round(0.2 * 37)
    assert split_campaigns(ids, 0.2, seed=3) == (dev, test)
    assert split_campaigns(ids, 0.2, seed=4) != (dev, test)


def test_baselines_rank_what_they_say():
    features = pd.DataFrame(
        {"log_followers": [3.0, 5.0, 4.0], "engagement_rate": [0.05, 0.01, 0.08],
         "niche_exact": [1.0, 0.0, 0.0], "price_usd": [50.0, 900.0, 20.0],
         "engagements_per_dollar": [4.0, 3.0, 1.0], "niche_in_secondary": [0.0, 1.0, 0.0],
         "country_match": [1.0, 1.0, 1.0], "sponsorship_ratio": [0.0, 0.0, 0.0]}
    )  # fmt: skip
    order = {name: list(np.argsort(-fn(features, 0))) for name, fn in evaluation.BASELINES.items()}
    assert order["most_followers"] == [1, 2, 0]
    assert order["highest_engagement"] == [2, 0, 1]
    assert order["niche_then_engagement"] == [0, 2, 1]
    assert order["lowest_price"] == [2, 0, 1]
    assert order["rule_of_thumb"] == [0, 1, 2]  # 4 in niche, 3 in a secondary (x0.75), 1 out


def test_the_rule_of_thumb_discounts_what_a_marketer_would():
    base = {"engagements_per_dollar": 2.0, "niche_exact": 1.0, "niche_in_secondary": 0.0,
            "country_match": 1.0, "sponsorship_ratio": 0.0}  # fmt: skip
    variants = [base, {**base, "niche_exact": 0.0}, {**base, "country_match": 0.0},
                {**base, "sponsorship_ratio": 0.8}, {**base, "country_match": np.nan}]  # fmt: skip
    scores = evaluation.BASELINES["rule_of_thumb"](pd.DataFrame(variants), 0)
    assert scores[0] == pytest.approx(2.0)
    assert all(score < scores[0] for score in scores[1:])
    assert scores[4] > scores[2]  # an unknown audience counts between a match and a miss


def test_unknown_truth_is_left_out_not_poisoning_the_mean():
    f = frame([3, 2, 1], [np.nan, 1, 0])
    assert ndcg_at_k(f, "score", "gain", 1) == pytest.approx(1.0)


def headline(frame: pd.DataFrame) -> float:
    """The headline metric as the metrics table computes the model's."""
    as_lift = not evaluation.roi_is_known(frame)
    metrics = evaluation.ranking_metrics(
        frame.assign(fit_score=0.0, **{evaluation.TRUTH_FIT: 0.0}),
        "fit_score",
        "expected_roi",
        "expected_lift_usd",
        as_lift,
    )
    return metrics[evaluation.HEADLINE_METRIC]


def roi_frame(roi: list[float], roi_truth: list[float]) -> pd.DataFrame:
    """One campaign's predictions and truth: the lift ranking puts the best hire last."""
    return pd.DataFrame(
        {"campaign_id": "c1", "expected_roi": roi, "expected_lift_usd": [3.0, 2.0, 1.0],
         evaluation.TRUTH_ROI: roi_truth, evaluation.TRUTH_LIFT: [0.0, 1.0, 4.0]}
    )  # fmt: skip


def test_the_headline_metric_judges_roi_where_it_is_known():
    f = roi_frame([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert evaluation.roi_is_known(f)
    assert headline(f) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("roi", "roi_truth"),
    [([math.nan] * 3, [math.nan] * 3),  # no costs measured, none predicted
     ([1.0, 2.0, 3.0], [math.nan] * 3),  # the model knew prices; the outcomes no costs
     ([math.nan] * 3, [1.0, 2.0, 3.0])],  # costs known to the truth, not to the model
)  # fmt: skip
def test_the_headline_metric_without_a_known_roi_judges_the_lift_ranking(roi, roi_truth):
    f = roi_frame(roi, roi_truth)
    assert not evaluation.roi_is_known(f)
    ranked = 0 + 1 / math.log2(3) + 4 / math.log2(4)  # gains 0, 1, 4 in the lift order
    ideal = 4 + 1 / math.log2(3)
    assert headline(f) == pytest.approx(ranked / ideal)
