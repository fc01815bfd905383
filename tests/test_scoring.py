"""recommender.score: the scored contract, flags and reasons, rejects, model loading."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import recommender
from recommender import explain, schema
from recommender.features import FEATURES
from recommender.modeling.recommender import Recommender
from recommender.modeling.training import TrainConfig, train
from recommender.scoring import ModelNotFound, ScoringError, load_model, score_with_rejects
from recommender.simulate import Market, generate_market

CAMPAIGN = {"campaign_id": "k1", "niche": "pet", "target_country": "US", "product_price_usd": 30}


@pytest.fixture(scope="module")
def market() -> Market:
    return generate_market(n_creators=3_000, n_campaigns=50, seed=9)


@pytest.fixture(scope="module")
def model(market: Market) -> Recommender:
    config = TrainConfig(seed=0, folds=2, n_estimators=100, losses=("l2", "huber"))
    return train(market.creators, market.campaigns, market.outcomes, None, config).recommender


def test_every_row_scored_once_with_the_contract_columns(market: Market, model: Recommender):
    creators = market.creators.head(300).assign(agency="x")
    scored = recommender.score(creators, CAMPAIGN, model)
    assert list(scored.columns[: len(schema.SCORED_COLUMNS)]) == list(schema.SCORED_COLUMNS)
    assert "agency" in scored.columns and (scored["agency"] == "x").all()
    assert sorted(scored["rank"]) == list(range(1, 301))
    assert scored["score"].is_monotonic_decreasing
    assert (scored["lift_low_usd"] <= scored["expected_lift_usd"]).all()
    assert (scored["expected_lift_usd"] <= scored["lift_high_usd"]).all()
    assert (scored["reasons"].str.len() > 0).all()
    assert len(scored.attrs["rejects"]) == 0


def test_reasons_come_from_the_models_contributions(market: Market, model: Recommender):
    creators = market.creators.head(50)
    scored = recommender.score(creators, CAMPAIGN, model)
    first = scored.iloc[0]
    parts = first["reasons"].split("; ")
    assert len(parts) == 3 and all(p[:2] in ("+ ", "- ") for p in parts)
    # The strongest reason is the feature with the largest contribution for that row.
    from recommender.features import cross_pairs

    pairs = cross_pairs(creators[creators["creator_id"] == first["creator_id"]],
                        pd.DataFrame([CAMPAIGN]).assign(objective="sales"))  # fmt: skip
    X = model.transform(pairs)
    contributions = model.lift.contributions(X)[0, : len(FEATURES)]
    cited = [f for f in FEATURES if f not in explain.CAMPAIGN_ONLY]
    if pd.isna(pairs.get("campaign_target_country", pd.Series([None]))[0]):
        cited.remove("country_match")
    strongest = max(cited, key=lambda f: abs(contributions[FEATURES.index(f)]))
    expected = explain.PHRASES[strongest](X, pairs)[0]
    assert parts[0][2:] == expected


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


def test_broken_rows_are_rejected_with_reasons_and_good_ones_scored(
    market: Market, model: Recommender
):
    creators = market.creators.head(20).astype(object)
    creators.loc[3, "followers"] = -1
    creators.loc[5, "niche"] = ""
    creators = pd.concat([creators, creators.iloc[[0]]], ignore_index=True)
    result = score_with_rejects(creators, CAMPAIGN, model)
    assert result.counts == (18, 3)
    assert result.rejects["reject_reason"].tolist() == [
        "followers: must be >= 0 (got '-1')",
        "niche: required value missing",
        "creator_id: duplicate of an earlier row",
    ]


def test_campaign_platform_restricts_candidates(market: Market, model: Recommender):
    creators = market.creators.head(100)
    result = score_with_rejects(creators, {**CAMPAIGN, "platform": "tiktok"}, model)
    assert (result.scored["platform"] == "tiktok").all()
    assert len(result.scored) + len(result.rejects) == 100
    assert (
        result.rejects["reject_reason"].str.startswith("platform: the campaign wants tiktok").all()
    )


def test_rows_with_campaign_id_are_scored_for_their_own_campaign(
    market: Market, model: Recommender
):
    campaigns = pd.DataFrame([CAMPAIGN, {**CAMPAIGN, "campaign_id": "k2", "niche": "tech"}])
    a = market.creators.head(10).assign(campaign_id="k1")
    b = market.creators.head(5).assign(campaign_id="k2")
    c = market.creators.head(2).assign(campaign_id="nope")
    result = score_with_rejects(pd.concat([a, b, c]), campaigns, model)
    assert result.scored.groupby("campaign_id").size().to_dict() == {"k1": 10, "k2": 5}
    assert (
        result.rejects["reject_reason"].tolist()
        == ["campaign_id: unknown campaign (got 'nope')"] * 2
    )
    both = result.scored[result.scored["creator_id"] == a["creator_id"].iloc[0]]
    assert both["fit_score"].nunique() == 2  # the same creator, judged per campaign


def test_top_keeps_the_best_per_campaign(market: Market, model: Recommender):
    full = recommender.score(market.creators.head(200), CAMPAIGN, model)
    top = recommender.score(market.creators.head(200), CAMPAIGN, model, top=5)
    pd.testing.assert_frame_equal(top, full.head(5))


def test_thin_candidate_lists_score(market: Market, model: Recommender):
    thin = market.creators.head(30)[list(schema.CREATORS.required)]
    scored = recommender.score(thin, {"campaign_id": "k", "niche": "pet"}, model)
    assert len(scored) == 30 and scored["expected_roi"].notna().all()


def test_bad_campaigns_are_one_line_errors(market: Market, model: Recommender):
    with pytest.raises(ScoringError, match="no valid campaign: niche: required value missing"):
        recommender.score(market.creators.head(3), {"campaign_id": "k", "niche": ""}, model)
    with pytest.raises(ScoringError, match="missing required campaigns column"):
        recommender.score(market.creators.head(3), {"niche": "pet"}, model)
    with pytest.raises(ScoringError, match="missing required creators column"):
        recommender.score(market.creators[["creator_id"]], CAMPAIGN, model)


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFound, match="no trained model here"):
        load_model(tmp_path)


def test_import_stays_light():
    code = "import sys, recommender; print('mlflow' in sys.modules, 'lightgbm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_platform_rejects_are_the_rows_as_given(market: Market, model: Recommender):
    creators = market.creators.head(20).astype(str)
    result = score_with_rejects(creators, {**CAMPAIGN, "platform": "youtube"}, model)
    rejected = result.rejects.drop(columns="reject_reason")
    original = creators.set_index("creator_id").loc[rejected["creator_id"]].reset_index()
    pd.testing.assert_frame_equal(rejected[original.columns], original, check_dtype=False)


def test_invalid_campaigns_are_reported_not_dropped(market: Market, model: Recommender):
    campaigns = pd.DataFrame([CAMPAIGN, {"campaign_id": "k2", "niche": ""}])
    result = score_with_rejects(market.creators.head(5), campaigns, model)
    assert set(result.scored["campaign_id"]) == {"k1"}
    assert result.campaign_rejects["reject_reason"].tolist() == ["niche: required value missing"]


def test_reasons_never_show_nan(market: Market, model: Recommender):
    thin = market.creators.head(40)[list(schema.CREATORS.required)].assign(followers=0)
    scored = recommender.score(thin, {"campaign_id": "k", "niche": "pet"}, model)
    assert not scored["reasons"].str.contains("nan").any()
