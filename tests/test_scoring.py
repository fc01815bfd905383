"""recommender.score: the scored contract, flags and reasons, rejects, model loading."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import CAMPAIGN

import recommender
from recommender import explain, schema
from recommender.errors import ScoringError, SettingError
from recommender.features import FEATURES
from recommender.modeling.recommender import Recommender
from recommender.scoring import RejectedRowsWarning, score_with_rejects
from recommender.simulate import Market


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


def test_reasons_come_from_the_models_contributions(market: Market, model: Recommender):
    creators = market.creators.head(50)
    scored = recommender.score(creators, CAMPAIGN, model)
    first = scored.iloc[0]
    parts = first["reasons"].split("; ")
    assert len(parts) == 3 and all(p[:2] in ("+ ", "- ") for p in parts)
    # The strongest reason is the feature with the largest contribution for that row.
    from recommender.schema import cross_pairs

    pairs = cross_pairs(creators[creators["creator_id"] == first["creator_id"]],
                        pd.DataFrame([CAMPAIGN]).assign(objective="sales"))  # fmt: skip
    scores = model.score_pairs(pairs)
    X, contributions = scores.features, scores.contributions[0, : len(FEATURES)]
    cited = [f for f in FEATURES if f not in explain.CAMPAIGN_ONLY]
    if pd.isna(pairs.get("campaign_target_country", pd.Series([None]))[0]):
        cited.remove("country_match")
    strongest = max(cited, key=lambda f: abs(contributions[FEATURES.index(f)]))
    expected = explain.PHRASES[strongest](X, pairs)[0]
    assert parts[0][2:] == expected


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


def test_score_warns_about_the_rows_it_leaves_out(market: Market, model: Recommender):
    creators = market.creators.head(5).astype(object)
    creators.loc[2, "followers"] = "lots"
    with pytest.warns(RejectedRowsWarning, match="1 creator row"):
        scored = recommender.score(creators, CAMPAIGN, model)
    assert len(scored) == 4


def test_awareness_and_content_campaigns_explain_the_fit_ranking(
    market: Market, model: Recommender
):
    from recommender.schema import cross_pairs

    creators = market.creators.head(20)
    campaigns = pd.DataFrame([{**CAMPAIGN, "campaign_id": o, "objective": o}
                              for o in ("sales", "awareness", "content")])  # fmt: skip
    scores = model.score_pairs(cross_pairs(creators, campaigns))
    by = scores.predictions["campaign_id"].to_numpy()
    lift = model.lift_.contributions(scores.features)
    fit = model.ranker_.contributions(scores.features)
    np.testing.assert_array_equal(scores.contributions[by == "sales"], lift[by == "sales"])
    np.testing.assert_array_equal(scores.contributions[by != "sales"], fit[by != "sales"])
    content = scores.predictions[by == "content"]
    np.testing.assert_array_equal(content["score"], content["fit_score"])


def test_campaign_ids_are_read_as_written_but_trimmed(market: Market, model: Recommender):
    """A per-row campaign_id with stray spaces is the campaign it names, and a second row of
    the same creator for it is a duplicate, as with any other id."""
    creator = market.creators.head(1)
    rows = pd.concat([creator.assign(campaign_id=" k1"), creator.assign(campaign_id="k1 ")])
    result = score_with_rejects(rows, pd.DataFrame([CAMPAIGN]), model)
    assert result.scored["campaign_id"].tolist() == ["k1"]
    assert result.rejects["reject_reason"].tolist() == [
        "campaign_id+creator_id: duplicate of an earlier row"
    ]


def test_frames_built_in_python_with_any_column_labels_score(market: Market, model: Recommender):
    creators = market.creators.head(5).assign(**{"0": 1})
    creators.columns = [0 if c == "0" else c for c in creators.columns]
    assert len(recommender.score(creators, CAMPAIGN, model)) == 5
    creators.columns = pd.MultiIndex.from_tuples([(c, "") for c in map(str, creators.columns)])
    with pytest.raises(ScoringError, match="more than one header row"):
        recommender.score(creators, CAMPAIGN, model)


def test_an_input_column_named_like_a_campaigns_does_not_stand_in_for_it(
    market: Market, model: Recommender
):
    creators = market.creators.head(30)
    plain = recommender.score(creators, CAMPAIGN | {"target_country": None}, model)
    odd = recommender.score(creators.assign(campaign_target_country="ZZ"),
                            CAMPAIGN | {"target_country": None}, model)  # fmt: skip
    assert odd["score"].tolist() == plain["score"].tolist()
    assert (odd["input_campaign_target_country"] == "ZZ").all()


@pytest.mark.parametrize("top", [0, -1, True, 2.5])
def test_top_must_be_a_whole_number_of_at_least_one(market: Market, model: Recommender, top):
    with pytest.raises(SettingError, match="top must be a whole number"):
        recommender.score(market.creators.head(3), CAMPAIGN, model, top=top)
