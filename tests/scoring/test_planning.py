"""Budget plans: exact knapsack, constraints, exploration, the star comparison."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import recommender
from recommender.errors import SettingError
from recommender.scoring.planning import Constraints, _explore, knapsack, lp_bound, segments

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGN = {"campaign_id": "k1", "niche": "pet", "product_price_usd": 30}


@pytest.mark.parametrize("seed", range(5))
def test_knapsack_is_exact_on_small_instances(seed: int):
    rng = np.random.default_rng(seed)
    value, cost = rng.lognormal(3, 1, 12), rng.lognormal(4, 0.7, 12)
    budget = cost.sum() / 3
    chosen, bound = knapsack(value, cost, budget)
    best = max(
        value[list(s)].sum()
        for r in range(13)
        for s in itertools.combinations(range(12), r)
        if cost[list(s)].sum() <= budget
    )
    assert cost[chosen].sum() <= budget + 1e-9
    assert value[chosen].sum() == pytest.approx(best, rel=1e-4)
    assert best - 1e-6 <= bound <= lp_bound(value, cost, budget) + 1e-9  # a proven bound


@pytest.mark.parametrize("seed", range(5))
def test_capped_knapsack_is_within_its_gap_on_small_instances(seed: int):
    rng = np.random.default_rng(seed)
    value, cost = rng.lognormal(3, 1, 12), rng.lognormal(4, 0.7, 12)
    budget = cost.sum() / 2
    niche, segment = rng.choice(["a", "b", "c"], 12), rng.choice(["x", "y", "z", "w"], 12)
    caps = [(niche, budget / 2.5), (segment, budget / 3.5)]

    def allowed(s: list[int]) -> bool:
        return cost[s].sum() <= budget and all(
            cost[s][groups[s] == g].sum() <= limit for groups, limit in caps for g in groups
        )

    best = max(
        value[list(s)].sum()
        for r in range(13)
        for s in itertools.combinations(range(12), r)
        if allowed(list(s))
    )
    chosen, bound = knapsack(value, cost, budget, caps)
    assert allowed(list(np.flatnonzero(chosen)))
    assert value[chosen].sum() >= best * (1 - 1e-3)  # HiGHS's relative gap
    assert bound >= best - 1e-6


def test_knapsack_beats_greedy_where_greedy_fails():
    value, cost = np.array([10.0, 9.0, 9.0]), np.array([10.0, 5.0, 5.0])
    chosen, _ = knapsack(value, cost, budget=10.0)  # greedy by ratio: 9+9; best is the same
    assert value[chosen].sum() == 18.0
    value, cost = np.array([6.0, 10.0]), np.array([1.0, 10.0])
    chosen, _ = knapsack(value, cost, budget=10.0)  # greedy takes item 0 first, then 1 won't fit
    assert chosen.tolist() == [False, True]


def test_gap_is_proven_against_the_tighter_bound():
    # Fractions would take item 0 and 9/10 of item 1 (15); whole items can reach 10 at most.
    value, cost = np.array([6.0, 10.0]), np.array([1.0, 10.0])
    assert lp_bound(value, cost, 10.0) == pytest.approx(15.0)
    chosen, bound = knapsack(value, cost, budget=10.0)
    assert value[chosen].sum() == 10.0 and bound == pytest.approx(10.0)


@pytest.mark.parametrize("budget", [1e-15, 1e-300, 5e-324, 0.5])
def test_knapsack_never_takes_an_item_dearer_than_a_tiny_budget(budget: float):
    value, cost = np.array([5.0, 3.0, 4.0]), np.array([36.0, 0.0, 1.0])
    chosen, bound = knapsack(value, cost, budget)
    assert chosen.tolist() == [False, True, False]  # only the free item fits
    assert bound == pytest.approx(3.0)


def test_group_cap_is_honoured():
    value, cost = np.array([5.0, 5.0, 1.0]), np.array([1.0, 1.0, 1.0])
    groups = np.array(["a", "a", "b"])
    chosen, _ = knapsack(value, cost, budget=3.0, caps=[(groups, 1.0)])
    assert chosen.tolist() in ([True, False, True], [False, True, True])


def test_several_caps_hold_at_once():
    # Without caps the best is items 0, 1, 2 (value 27). The niche cap allows one of
    # 0/1 (both "a"), one of 2/3 (both "b"); the segment cap allows one of 1/2 (both "x"):
    # the best is 0 and 2 (18).
    value, cost = np.array([10.0, 9.0, 8.0, 1.0]), np.ones(4)
    niche, segment = np.array(["a", "a", "b", "b"]), np.array(["y", "x", "x", "z"])
    chosen, bound = knapsack(value, cost, budget=3.0, caps=[(niche, 1.0), (segment, 1.0)])
    assert chosen.tolist() == [True, False, True, False]
    assert bound == pytest.approx(18.0, rel=1e-3)


@pytest.mark.parametrize(
    "constraints",
    [{"max_niche_share": 0.0}, {"max_segment_share": 1.5}, {"max_sponsorship_ratio": -0.1},
     {"min_followers": 5_000, "max_followers": 1_000}, {"min_followers": -1},
     {"target_country": "USA"}, {"excluded_flags": ("suspect_follower",)}],
)  # fmt: skip
def test_impossible_constraints_are_refused(constraints):
    with pytest.raises(ValueError, match=r"max_|min_followers|target_country|excluded_flags"):
        Constraints(**constraints)


def test_constraints_read_countries_as_creators_files_do():
    assert Constraints(target_country=" us ").target_country == "US"
    assert Constraints(max_sponsorship_ratio=0).max_sponsorship_ratio == 0  # never sponsored


def test_sponsorship_limit_on_a_file_without_sponsorship_counts(market, model_dir):
    creators = market.creators.head(200).drop(columns=["recent_sponsored_posts"])
    result = recommender.plan(creators, CAMPAIGN, 1_000, model_dir,
                              constraints=Constraints(max_sponsorship_ratio=0.3))  # fmt: skip
    assert result.chosen.empty
    why = result.candidates["why_not"]
    assert why.isin(["sponsorship unknown", "no positive expected lift", "price unknown"]).all()
    assert (why == "sponsorship unknown").sum() > 0


def test_a_plan_hires_one_account_once_however_spelled(market, model_dir):
    """Copies of hired creators spelled '@NAME' or with a zero-width space are the same
    accounts: refused as duplicates, never hired beside the original."""
    creators = market.creators.head(40)
    hired = recommender.plan(creators, CAMPAIGN, 1e6, model_dir).chosen["creator_id"]
    assert len(hired) > 3
    originals = creators[creators["creator_id"].isin(hired)]
    spelled = pd.concat([
        originals.assign(creator_id="@" + originals["creator_id"].str.upper()),
        originals.assign(creator_id=originals["creator_id"] + "\u200b"),
    ])  # fmt: skip
    result = recommender.plan(pd.concat([creators, spelled]), CAMPAIGN, 1e6, model_dir)
    assert sorted(result.chosen["creator_id"]) == sorted(hired)
    assert len(result.rejects) == len(spelled)
    assert (
        result.rejects["reject_reason"]
        .str.startswith("creator_id: duplicate of an earlier row (got ")
        .all()
    )


def test_plan_fits_the_budget_and_honours_constraints(market, model_dir):
    creators = market.creators.head(400)
    constraints = Constraints(max_niche_share=0.5, max_followers=200_000)
    result = recommender.plan(creators, CAMPAIGN, 2_000, model_dir, explore=0.2,
                              constraints=constraints)  # fmt: skip
    chosen, summary = result.chosen, result.summary
    assert chosen["cost_usd"].sum() <= 2_000 + 1e-6
    assert summary["total_cost_usd"] == pytest.approx(chosen["cost_usd"].sum(), abs=0.01)
    assert (chosen["followers"] <= 200_000).all()
    by_niche = chosen.groupby("niche")["cost_usd"].sum()
    assert (by_niche[chosen.loc[~chosen["exploration"], "niche"].unique()] <= 1_000 + 1e-6).all()
    assert not chosen["flags"].str.contains("suspect_followers|high_sponsorship").any()
    exploring = chosen[chosen["exploration"]]
    assert len(exploring) >= 1 and exploring["why"].str.startswith("exploring").all()
    tried = set(segments(chosen[~chosen["exploration"]]))
    assert not set(segments(exploring)) & tried  # exploration goes where the plan does not
    assert segments(exploring).is_unique
    assert summary["exploration_creators"] == len(exploring)
    assert summary["lift_low_usd"] <= summary["expected_lift_usd"] <= summary["lift_high_usd"]
    assert summary["optimality_gap"] <= 0.01  # proven against the LP bound
    assert "largest_creators_expected_lift_usd" in summary
    assert len(result.candidates) + len(result.rejects) == 400


@pytest.mark.slow
def test_exploration_chooses_each_creator_as_often_as_the_plan_says(market, model):
    """200 plans of one shortlist, each with its own seed: a creator is explored in about
    the share of them that its stated selection_probability gives (within four binomial
    standard deviations, plus the stated figure's own error from 401 draws); the
    creators exploitation chose are in every plan, with probability 1."""
    creators = market.creators.head(300)
    plans = [
        recommender.plan(creators, CAMPAIGN, 2_000, model, explore=0.5, seed=seed).chosen
        for seed in range(200)
    ]
    chosen = pd.concat(plans, keys=range(len(plans)), names=["plan", "row"]).reset_index()
    exploiting = chosen[~chosen["exploration"]]
    assert (exploiting["selection_probability"] == 1).all()
    assert (exploiting["policy"] == "exploit").all()
    assert (exploiting.groupby("creator_id")["plan"].nunique() == len(plans)).all()
    exploring = chosen[chosen["exploration"]]
    assert (exploring["policy"] == "explore").all()
    by_creator = exploring.groupby("creator_id").agg(
        times=("plan", "size"), stated=("selection_probability", "mean")
    )
    share, stated = by_creator["times"] / len(plans), by_creator["stated"]
    allowed = 4 * np.sqrt(stated * (1 - stated) / len(plans)) + 0.03
    assert ((share - stated).abs() <= allowed).all(), by_creator[(share - stated).abs() > allowed]
    assert stated.between(0.1, 0.9).sum() >= 5  # chances, not certainties, to check


def test_the_same_candidates_in_any_order_or_seed_give_the_same_plan(market, model):
    creators = market.creators.head(300)
    first = recommender.plan(creators, CAMPAIGN, 2_000, model, explore=0.5)
    again = recommender.plan(creators, CAMPAIGN, 2_000, model, explore=0.5)
    pd.testing.assert_frame_equal(first.chosen, again.chosen)
    backward = recommender.plan(creators.iloc[::-1], CAMPAIGN, 2_000, model, explore=0.5)
    columns = ["creator_id", "exploration", "selection_probability", "shortlist_id"]
    pd.testing.assert_frame_equal(
        first.chosen[columns].sort_values("creator_id").reset_index(drop=True),
        backward.chosen[columns].sort_values("creator_id").reset_index(drop=True),
    )
    seed = first.summary["seed"]
    same = recommender.plan(creators, CAMPAIGN, 2_000, model, explore=0.5, seed=seed)
    pd.testing.assert_frame_equal(first.chosen, same.chosen)
    other = recommender.plan(creators, CAMPAIGN, 2_000, model, explore=0.5, seed=seed + 1)
    explored = [set(p.chosen.loc[p.chosen["exploration"], "creator_id"]) for p in (first, other)]
    assert explored[0] != explored[1]
    assert (first.chosen["shortlist_id"] == first.summary["shortlist_id"]).all()
    fewer = recommender.plan(creators.head(299), CAMPAIGN, 2_000, model, explore=0.5)
    assert fewer.summary["shortlist_id"] != first.summary["shortlist_id"]
    assert first.summary["shortlist_id"].startswith("k1:")


@pytest.mark.parametrize(("low", "high"), [(250.0, 350.0), (260.0, 700.0)])
def test_exploration_states_the_chance_its_draws_give(low: float, high: float):
    """Two candidates of one segment at the same cost, and a reserve for one: A (expected
    300, 80% interval [low, high]) or B (a sure 290). A is drawn from a two-piece normal
    with 10% beyond each end of its interval, so it beats B with chance Phi(10 / sd below):
    0.63 for [260, 700], where a normal as wide on both sides would give 0.52."""
    from scipy import stats

    z = float(stats.norm.ppf(0.9))
    truth = float(stats.norm.cdf(10 / ((300 - low) / z)))
    pair = pd.DataFrame({
        "creator_id": ["a", "b"], "cost_usd": 10.0, "expected_lift_usd": [300.0, 290.0],
        "lift_low_usd": [low, 290.0], "lift_high_usd": [high, 290.0], "niche": "pet",
        "audience_country": "US", "tier": "nano",
    })  # fmt: skip
    stated = []
    for seed in range(40):
        out = _explore(pair, segments(pair), np.zeros(2, bool), 10.0, True, (),
                       np.random.default_rng(seed), z)  # fmt: skip
        (row,) = out.itertuples()
        chance = row.selection_probability
        stated.append(chance if row.creator_id == "a" else 1 - chance)
    assert np.mean(stated) == pytest.approx(truth, abs=0.015)  # 40 x 401 draws: sd 0.004
    assert np.std(stated) < 0.04  # each plan's own figure is near it too


@pytest.mark.parametrize("seed", [-1, True, 1.5, "7"])
def test_a_seed_that_is_not_a_whole_number_from_0_is_a_setting_error(market, model, seed):
    with pytest.raises(SettingError, match="seed must be a whole number from 0"):
        recommender.plan(market.creators.head(30), CAMPAIGN, 2_000, model, explore=0.5,
                         seed=seed)  # fmt: skip


def test_plan_honours_audience_constraints(market, model_dir):
    creators = market.creators.head(600).copy()
    creators.loc[creators.index[:40], "audience_country"] = None  # unknown audiences
    constraints = Constraints(target_country="US", max_segment_share=0.25,
                              max_sponsorship_ratio=0.3, min_followers=2_000)  # fmt: skip
    result = recommender.plan(creators, CAMPAIGN, 3_000, model_dir, explore=0.2,
                              constraints=constraints)  # fmt: skip
    chosen = result.chosen
    assert len(chosen) >= 3
    assert (chosen["audience_country"] == "US").all() and (chosen["followers"] >= 2_000).all()
    ratio = chosen["recent_sponsored_posts"] / chosen["recent_posts"]
    assert (ratio.dropna() <= 0.3).all()
    by_segment = chosen.groupby(segments(chosen))["cost_usd"].sum()
    assert (by_segment <= 0.25 * 3_000 + 1e-6).all()
    # An unknown audience is left out with its own reason, not as "elsewhere".
    unknown = result.candidates.loc[result.candidates["audience_country"].isna(), "why_not"]
    earlier = ["no positive expected lift", "price unknown"]  # rules checked before country
    assert unknown.isin(["audience country unknown", *earlier]).all()
    left_out = result.summary["left_out"]
    assert left_out["audience country unknown"] == (unknown == "audience country unknown").sum() > 0
    assert left_out["audience elsewhere"] > 0
    assert sum(left_out.values()) == (result.candidates["why_not"] != "").sum()


def test_plan_figure_shows_the_spend_by_tier_and_both_lifts(market, model_dir):
    from recommender.scoring import plots

    result = recommender.plan(market.creators.head(400), CAMPAIGN, 2_000, model_dir, explore=0.2)
    figure = plots.plan_figure(result.chosen, result.summary)
    spend, lift = figure.axes
    heights = [bar.get_height() for bar in spend.patches]
    assert sum(heights) == pytest.approx(result.chosen["cost_usd"].sum())
    shown = [bar.get_height() for bar in lift.patches]
    summary = result.summary
    assert shown == pytest.approx(
        [summary["expected_lift_usd"], summary["largest_creators_expected_lift_usd"]]
    )
    plots.close([figure])


@pytest.mark.parametrize("budget", [1e-15, 1e-300, 0.01])
def test_a_budget_below_every_price_is_an_empty_plan(market, model, budget: float):
    result = recommender.plan(market.creators.head(100), CAMPAIGN, budget, model, explore=0.5)
    assert result.chosen.empty  # the market's cheapest creator asks $6
    assert result.summary["creators"] == 0 and result.summary["total_cost_usd"] == 0
    assert result.summary["optimality_gap"] == 0


@pytest.mark.parametrize(
    "budget", [0.0, -5.0, float("nan"), float("inf"), -float("inf"), 1e300, 1.01e12]
)
def test_a_budget_no_plan_can_use_is_a_setting_error(market, model, budget: float):
    with pytest.raises(SettingError, match="budget must be a positive amount"):
        recommender.plan(market.creators.head(10), CAMPAIGN, budget, model)


def test_settings_take_any_kind_of_number_and_refuse_text(market, model_dir):
    from decimal import Decimal

    creators = market.creators.head(60)
    by_float = recommender.plan(creators, CAMPAIGN, 3000.0, model_dir, explore=0.2)
    by_decimal = recommender.plan(creators, CAMPAIGN, Decimal("3000"), model_dir,
                                  explore=Decimal("0.2"))  # fmt: skip
    assert by_decimal.chosen["creator_id"].tolist() == by_float.chosen["creator_id"].tolist()
    for budget in ("3000", True):
        with pytest.raises(SettingError, match="budget must be a number"):
            recommender.plan(creators, CAMPAIGN, budget, model_dir)  # type: ignore[arg-type]
    with pytest.raises(SettingError, match="min_followers must be a number"):
        Constraints(min_followers="12.5K")  # type: ignore[arg-type]


def test_constraints_read_platforms_as_creators_files_do():
    assert Constraints(platform=" TikTok ").platform == "tiktok"
    with pytest.raises(SettingError, match="platform must be one of"):
        Constraints(platform="myspace")
