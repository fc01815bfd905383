"""recommender.score: the scored contract, flags and reasons, rejects, model loading."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from helpers import CAMPAIGN
from hypothesis import given, settings
from hypothesis import strategies as st

import recommender
from recommender import contract, scoring
from recommender.datasets.simulate import Market
from recommender.errors import RejectedRowsWarning, ScoringError, SettingError
from recommender.features import FEATURES
from recommender.modeling.estimator import Recommender
from recommender.scoring import explain, score_with_rejects


def test_every_row_scored_once_with_the_contract_columns(market: Market, model: Recommender):
    creators = market.creators.head(300).assign(agency="x")
    scored = recommender.score(creators, CAMPAIGN, model)
    assert list(scored.columns[: len(contract.SCORED_COLUMNS)]) == list(contract.SCORED_COLUMNS)
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
    from recommender.contract import cross_pairs

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
    thin = market.creators.head(30)[list(contract.CREATORS.required)]
    scored = recommender.score(thin, {"campaign_id": "k", "niche": "pet"}, model)
    assert len(scored) == 30 and scored["expected_roi"].notna().all()


def test_bad_campaigns_are_one_line_errors(market: Market, model: Recommender):
    with pytest.raises(ScoringError, match="no valid campaign: niche: required value missing"):
        recommender.score(market.creators.head(3), {"campaign_id": "k", "niche": ""}, model)
    with pytest.raises(ScoringError, match="missing required campaigns column"):
        recommender.score(market.creators.head(3), {"niche": "pet"}, model)
    with pytest.raises(ScoringError, match="missing required creators column"):
        recommender.score(market.creators[["creator_id"]], CAMPAIGN, model)


@pytest.mark.parametrize(
    ("typo", "column"),
    [("target_county", "target_country"), ("Platfrom", "platform"), ("objectve", "objective")],
)
def test_a_campaign_column_one_typo_away_is_refused_its_own_columns_kept(
    market: Market, model: Recommender, typo: str, column: str
):
    """Scored without the column it misspells, the campaign would lose what was meant."""
    creators = market.creators.head(5)
    campaign = {k: v for k, v in CAMPAIGN.items() if k != column}
    for written in ({**campaign, typo: "x"}, pd.DataFrame([{**campaign, typo: "x"}])):
        with pytest.raises(ScoringError, match=f"{typo}: not a campaigns column "
                           rf"\(did you mean {column}\?"):  # fmt: skip
            recommender.score(creators, written, model)
    own = {**CAMPAIGN, "notes": "spring push", "brand_manager": "kim", "start_date": "2026-03"}
    kept = recommender.score(creators, own, model)
    assert kept["score"].tolist() == recommender.score(creators, CAMPAIGN, model)["score"].tolist()


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
    thin = market.creators.head(40)[list(contract.CREATORS.required)].assign(followers=0)
    scored = recommender.score(thin, {"campaign_id": "k", "niche": "pet"}, model)
    assert not scored["reasons"].str.contains(r"\bnan\b", case=False).any()  # ("nano" is fine)


def test_score_warns_about_the_rows_it_leaves_out(market: Market, model: Recommender):
    creators = market.creators.head(5).astype(object)
    creators.loc[2, "followers"] = "lots"
    with pytest.warns(RejectedRowsWarning, match="1 creator row") as warned:
        scored = recommender.score(creators, CAMPAIGN, model)
    assert len(scored) == 4
    assert warned[0].filename == __file__  # the caller's line, not the library's
    with pytest.warns(RejectedRowsWarning, match="1 creator row") as warned:
        assert len(scoring.score(creators, CAMPAIGN, model)) == 4
    assert warned[0].filename == __file__


def test_the_library_scores_with_a_fitted_model_and_loads_none(market: Market, model_dir):
    """Resolving a model (a path, MLflow, the champion) is recommender.api's; scoring and
    planning take the fitted model."""
    from recommender.scoring import planning

    creators = market.creators.head(5)
    for call in (
        lambda: scoring.score_with_rejects(creators, CAMPAIGN, str(model_dir)),
        lambda: planning.plan(creators, CAMPAIGN, 1_000, None),  # type: ignore[arg-type]
    ):
        with pytest.raises(SettingError, match="model must be a fitted Recommender"):
            call()


def test_awareness_and_content_campaigns_explain_the_fit_ranking(
    market: Market, model: Recommender
):
    from recommender.contract import cross_pairs

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


def test_a_campaign_list_names_each_account_once_per_campaign(market: Market, model: Recommender):
    """In a file of candidate lists, '@Handle' for a campaign that already lists 'handle' is
    a duplicate (the same account); for another campaign it is a candidate, kept as written."""
    campaigns = pd.DataFrame([CAMPAIGN, {**CAMPAIGN, "campaign_id": "k2"}])
    creator = market.creators.head(1)
    rows = pd.concat([creator.assign(creator_id="handle", campaign_id="k1"),
                      creator.assign(creator_id="@Handle", campaign_id="k1"),
                      creator.assign(creator_id="@Handle", campaign_id="k2")])  # fmt: skip
    result = score_with_rejects(rows, campaigns, model)
    assert result.scored[["campaign_id", "creator_id"]].values.tolist() == [
        ["k1", "handle"], ["k2", "@Handle"]
    ]  # fmt: skip
    assert result.rejects["reject_reason"].tolist() == [
        "campaign_id+creator_id: duplicate of an earlier row "
        "(got '@Handle', the same account as 'handle')"
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


# --- quick paths give what the general ones give -------------------------------------------

score_value = st.sampled_from([np.nan, 0.5, 0.1, -0.0, 0.0, np.inf, -np.inf, 1e-300])


@st.composite
def scored_frame(draw: st.DrawFn) -> pd.DataFrame:
    """Scored rows with ties in every key, gaps in the scores and an input's own column."""
    rows = draw(st.integers(min_value=0, max_value=30))
    column = lambda values: draw(st.lists(values, min_size=rows, max_size=rows))  # noqa: E731
    scored = pd.DataFrame({c: np.full(rows, 1.5) for c in contract.PREDICTION_COLUMNS})
    scored["campaign_id"] = pd.Series(column(st.sampled_from(["a", "b", "B", "é"])), dtype="str")
    scored["creator_id"] = pd.Series(column(st.sampled_from(["c1", "c2", "c10", "C"])),
                                     dtype=draw(st.sampled_from(["str", "string"])))  # fmt: skip
    scored["score"], scored["fit_score"] = column(score_value), column(score_value)
    return scored.assign(flags="", reasons="", notes=range(rows))


@settings(max_examples=150, deadline=None)
@given(scored_frame(), st.sampled_from([None, 1, 2, 50]))
def test_ranking_on_arrays_ranks_as_sorting_the_frame_does(scored, top):
    from recommender.scoring.rank import _ranked_by_sorting, rank

    pd.testing.assert_frame_equal(rank(scored, top), _ranked_by_sorting(scored, top))


# What a JSON campaign holds, and text as people write it.
plain_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=4),
    st.sampled_from(["pet", "k1", "sales", "tiktok", "US", "3,000", "60%"]),
)
json_campaign = st.fixed_dictionaries(
    {"campaign_id": plain_value, "niche": plain_value},
    optional={
        c: plain_value for c in contract.CAMPAIGNS.names if c not in ("campaign_id", "niche")
    },
)


@settings(max_examples=150, deadline=None)
@given(json_campaign)
def test_a_campaign_given_as_a_dict_reads_as_a_table_of_it_does(campaign):
    from recommender.scoring import checked_campaigns

    try:
        as_table = checked_campaigns(pd.DataFrame([campaign]))
    except ScoringError as error:
        with pytest.raises(ScoringError, match=re.escape(str(error))):
            checked_campaigns(campaign)
        return
    as_dict = checked_campaigns(campaign)
    pd.testing.assert_frame_equal(as_dict.valid, as_table.valid)
    pd.testing.assert_frame_equal(as_dict.rejects, as_table.rejects)


def test_a_campaign_checked_again_comes_from_the_cache_unchanged_by_what_was_done_to_it():
    from recommender.scoring.score import _checked_plain, checked_campaigns

    campaign = {**CAMPAIGN, "budget_usd": 1}
    first = checked_campaigns(campaign)
    first.valid.loc[0, "niche"] = "changed by a caller"
    hits = _checked_plain.cache_info().hits
    again = checked_campaigns(dict(campaign))
    assert _checked_plain.cache_info().hits == hits + 1
    assert again.valid.loc[0, "niche"] == "pet"
    pd.testing.assert_frame_equal(again.valid, checked_campaigns(pd.DataFrame([campaign])).valid)
    # True == 1 and they hash alike, but a budget of True is no budget of 1 dollar.
    with pytest.raises(ScoringError, match="budget_usd"):
        checked_campaigns({**CAMPAIGN, "budget_usd": True})


def test_writing_to_the_scored_rows_leaves_the_input_as_it_was(market: Market, model: Recommender):
    creators = market.creators.head(5).assign(notes="mine").astype(object)
    before = creators.copy()
    scored = score_with_rejects(creators, CAMPAIGN, model).scored
    scored.loc[0, "notes"] = "changed"
    scored.loc[0, "followers"] = -1
    pd.testing.assert_frame_equal(creators, before)


def test_predictions_are_rounded_as_rounding_the_frame_rounds_them():
    from recommender.scoring.score import OUTPUT_DECIMALS, _rounded

    rng = np.random.default_rng(3)
    predictions = pd.DataFrame({
        "campaign_id": ["k"] * 4, "score": rng.normal(size=4), "fit_score": [0.12345, np.nan,
        -0.00005, 2.5], "cost_usd": np.array([1.005, 2.675, 0.125, 1e9 / 3], dtype="float32"),
        "expected_lift_usd": [1, 2, 3, 4], "expected_roi": pd.array([1.23456789, None, 3, 4],
        dtype="Float64"), "tier": ["nano"] * 4,
    })  # fmt: skip
    pd.testing.assert_frame_equal(_rounded(predictions), predictions.round(OUTPUT_DECIMALS))


def test_one_campaign_is_paired_as_the_joins_pair_it(market: Market):
    from recommender.scoring import checked_campaigns

    valid = contract.validate(market.creators.head(12), contract.CREATORS).valid
    campaigns = checked_campaigns(CAMPAIGN).valid
    for creators in (valid, valid.iloc[3:]):  # numbered 0, 1, 2... and not
        ids = pd.MultiIndex.from_product(
            [campaigns["campaign_id"], creators["creator_id"]], names=["campaign_id", "creator_id"]
        ).to_frame(index=False)
        expected = contract.pair_frame(creators, campaigns, ids)
        pd.testing.assert_frame_equal(contract.cross_pairs(creators, campaigns), expected)


def test_scored_rows_with_a_name_twice_are_the_frames_side_by_side(
    market: Market, model: Recommender
):
    from recommender.scoring.score import _rounded, candidate_pairs, checked_campaigns, scored_rows

    creators = market.creators.head(4).assign(score=1.0, score_input="mine")
    pairs, _ = candidate_pairs(creators, checked_campaigns(CAMPAIGN).valid)
    scores = model.score_pairs(pairs)
    given = [c for c in creators.columns if c not in ("campaign_id", "creator_id")]
    expected = pd.concat([
        _rounded(scores.predictions).assign(
            flags=explain.flags(scores.features, scores.anomaly_threshold),
            reasons=explain.reasons(scores.contributions, scores.features, pairs),
        ),
        pairs[given].rename(columns={"score": "score_input"}),
    ], axis=1)  # fmt: skip
    scored = scored_rows(model, pairs)
    assert list(scored.columns).count("score_input") == 2
    pd.testing.assert_frame_equal(scored, expected)
    without = pairs.drop(columns="score_input")  # every name once: the frame built at once
    once = expected.drop(columns="score_input").assign(score_input=pairs["score"])
    pd.testing.assert_frame_equal(scored_rows(model, without), once)
