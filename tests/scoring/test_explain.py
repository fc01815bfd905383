"""Flags and reasons in plain words, on hand-made features and contributions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from recommender.features import FEATURES
from recommender.scoring import explain


def test_reason_phrases_by_hand():
    X = pd.DataFrame([{f: np.nan for f in FEATURES}])
    X = X.assign(niche_exact=1.0, engagement_vs_tier=2.1, sponsorship_ratio=0.41)
    pairs = pd.DataFrame({"niche": ["pet"], "campaign_niche": ["pet"], "followers": [3000]})
    contributions = np.zeros((1, len(FEATURES) + 1))
    for feature, value in (
        ("niche_exact", 0.9),
        ("engagement_vs_tier", 0.5),
        ("sponsorship_ratio", -0.7),
    ):
        contributions[0, FEATURES.index(feature)] = value
    assert explain.reasons(contributions, X, pairs)[0] == (
        "+ niche match: pet = pet; - 41% of recent posts sponsored; + engagement 2.1x its tier"
    )


def test_reasons_cite_the_creator_not_the_campaign():
    X = pd.DataFrame([{f: np.nan for f in FEATURES} for _ in range(2)])
    X = X.assign(country_match=1.0, engagement_vs_tier=2.0, log_product_price=np.log10(36))
    pairs = pd.DataFrame({"audience_country": ["US", "US"],
                          "campaign_target_country": [None, "US"]})  # fmt: skip
    contributions = np.zeros((2, len(FEATURES) + 1))
    for feature, value in (("country_match", 0.9), ("log_product_price", 0.8),
                           ("engagement_vs_tier", 0.1)):  # fmt: skip
        contributions[:, FEATURES.index(feature)] = value
    assert explain.reasons(contributions, X, pairs, top=1).tolist() == [
        "+ engagement 2.0x its tier",  # no target: matching it says nothing about the creator
        "+ audience in US = target US",
    ]


def test_flags_name_the_risks():
    X = pd.DataFrame([{f: np.nan for f in FEATURES} for _ in range(4)])
    X["sponsorship_ratio"] = [0.5, 0.0, 0.0, 0.0]
    X["anomaly_score"] = [0.4, 0.7, 0.4, 0.4]
    X["following_ratio"] = [0.1, 1.2, 0.1, 0.1]
    X["price_vs_market"] = [1.0, 1.0, 3.0, 1.0]
    X["country_match"] = [1.0, 1.0, 1.0, 0.0]
    X["price_estimated"] = [0.0, 0.0, 0.0, 1.0]
    X["price_usd"] = [10.0, 10.0, 10.0, 10.0]
    assert explain.flags(X, anomaly_threshold=0.6).tolist() == [
        "high_sponsorship",
        "suspect_followers",
        "price_above_tier",
        "audience_mismatch;price_estimated",
    ]


def test_plan_summary_reads_as_lines():
    summary = {
        "total_cost_usd": 2959.0, "budget_usd": 3000.0, "expected_lift_usd": 29915.0,
        "lift_low_usd": 19209.0, "lift_high_usd": 34996.0, "expected_roi": 10.11,
        "optimality_gap": 0.002915, "largest_creators_count": 3,
        "largest_creators_expected_lift_usd": 161.0, "largest_creators_interval_usd": [-35, 629],
        "left_out": {"flagged suspect_followers": 2483, "no positive expected lift": 112},
    }  # fmt: skip
    assert explain.plan_lines(summary) == [
        "  cost $2,959 of $3,000; expected lift $29,915 [$19,209, $34,996], ROI 10.11, "
        "optimality gap <= 0.2915%",
        "  the same budget on the 3 largest creators: expected lift $161 [-$35, $629]",
        "  left out: 2,483 flagged suspect_followers, 112 no positive expected lift",
    ]
    assert explain.usd(float("nan")) == "$?"


@pytest.mark.parametrize(
    ("amount", "text"),
    [(0.01, "$0.01"), (-0.35, "-$0.35"), (0.999, "$1.00"), (0.004, "$0"), (0, "$0"),
     (1.4, "$1"), (2959.0, "$2,959"), (-35, "-$35"), (999e12, "$999,000,000,000,000"),
     (1e15, "$1.00e+15"), (1e300, "$1.00e+300"), (-1e300, "-$1.00e+300")],
)  # fmt: skip
def test_dollars_read_as_people_write_them(amount: float, text: str):
    assert explain.usd(amount) == text


def test_a_plan_of_a_cent_says_a_cent():
    summary = {
        "total_cost_usd": 0.0, "budget_usd": 0.01, "expected_lift_usd": 0.0,
        "lift_low_usd": 0.0, "lift_high_usd": 0.0, "expected_roi": None, "optimality_gap": 0.0,
        "largest_creators_count": 0, "largest_creators_expected_lift_usd": 0.0,
        "largest_creators_interval_usd": [0.0, 0.0], "left_out": {},
    }  # fmt: skip
    assert explain.plan_lines(summary)[0].startswith("  cost $0 of $0.01; ")


def test_a_campaign_without_a_gender_target_is_not_called_nan_off_target():
    X = pd.DataFrame([{f: np.nan for f in FEATURES}]).assign(audience_female_share=0.16)
    contributions = np.zeros((1, len(FEATURES) + 1))
    contributions[0, FEATURES.index("audience_female_share")] = 0.5
    pairs = pd.DataFrame({"niche": ["pet"], "campaign_niche": ["pet"], "followers": [3000]})
    assert explain.reasons(contributions, X, pairs, top=1)[0] == "+ audience 16% female"


def test_two_features_saying_the_same_thing_are_said_once():
    X = pd.DataFrame([{f: np.nan for f in FEATURES}]).assign(niche_exact=1.0)
    pairs = pd.DataFrame({"niche": ["pet"], "campaign_niche": ["pet"], "followers": [3000]})
    X = X.assign(niche_similarity=1.0)  # the same niche: both features say "niche match"
    contributions = np.zeros((1, len(FEATURES) + 1))
    contributions[0, FEATURES.index("niche_exact")] = 0.9
    contributions[0, FEATURES.index("niche_similarity")] = 0.5
    contributions[0, FEATURES.index("engagement_vs_tier")] = 0.1
    said = explain.reasons(contributions, X.assign(engagement_vs_tier=2.0), pairs)[0]
    assert said == "+ niche match: pet = pet; + engagement 2.0x its tier"


def test_a_rows_reasons_are_those_it_gets_alone(market, model):
    """Reasons are phrased feature by feature over the rows that cite it: the other rows
    change nothing."""
    from recommender.contract import cross_pairs

    campaigns = market.campaigns.head(3).assign(objective=["sales", "awareness", "content"])
    pairs = cross_pairs(market.creators.head(40), campaigns).set_axis(range(200, 80, -1))
    scores = model.score_pairs(pairs)
    together = explain.reasons(scores.contributions, scores.features, pairs, top=4)
    alone = [
        explain.reasons(scores.contributions[[i]], scores.features.iloc[[i]], pairs.iloc[[i]],
                        top=4)[0]
        for i in range(len(pairs))
    ]  # fmt: skip
    assert together.tolist() == alone


@settings(max_examples=200, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 30), st.integers(1, 8)),
        elements=st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.5, 1e-9, np.nan]),
    ),
    st.integers(1, 4),
)
def test_the_largest_effects_are_those_a_stable_sort_puts_first(sizes, top):
    size = np.abs(sizes)
    expected = np.argsort(-size, axis=1, kind="stable")[:, :top]
    np.testing.assert_array_equal(explain._largest(size, top), expected)
