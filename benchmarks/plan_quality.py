"""How good are plans, measured on the simulator's noise-free truth for held-out campaigns.

    python benchmarks/plan_quality.py [--seed 0] [--candidates 3000] [--campaigns 30]

Trains on the demo market, then for held-out campaigns plans over a sample of
candidates (on the campaign's platform) with the campaign's budget, and
compares the chosen creators' noise-free lift with
- the best selection possible under the same budget (knapsack on the true lift
  and true cost: an oracle no real tool has), and
- a niche-then-engagement greedy heuristic with the same budget.
Targets (issue 5): plan >= 0.93 of the oracle and >= 1.5x the heuristic.

With --ceilings it also prints what caps any plan made with the same
information: the best selection when every creator's noise-free lift is known
but costs and exclusions are the plan's own (estimated prices, flagged accounts
left out); plans from a model trained on the noise-free lift and true cost of
the same hires (what perfect measurement would give); and plans from models
fitted to the candidates' own noise-free lift, cross-validated by campaign
(what unlimited perfect data from the very same market would give), on the
plan's features and on those plus every hidden trait of the simulator.

--hide COLUMN and --shuffle COLUMN (repeatable) take a creators column away,
or shuffle it across creators, in what the model and the planner see; the
truth still uses the real values. A market whose data no longer shows the
relation the simulator uses tests that the models learn rather than recognise.
"""

from __future__ import annotations

import argparse
import statistics
import warnings
from typing import Any

import numpy as np
import pandas as pd
from lightgbm import LGBMRegressor
from sklearn.model_selection import GroupKFold

from recommender.datasets.simulate import expected_outcomes, generate_market
from recommender.modeling.training import TrainConfig, fit_and_evaluate
from recommender.scoring import candidate_pairs, checked_campaigns
from recommender.scoring.planning import Constraints, knapsack, plan

HIDDEN = ["fake_follower_share", "genuine_engagement_rate", "engagement_quality",
          "sponsored_ratio", "true_audience_age_median", "true_audience_female_share",
          "true_country_match"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--candidates", type=int, default=3_000)
    parser.add_argument("--campaigns", type=int, default=30)
    parser.add_argument("--ceilings", action="store_true", help="also print what caps a plan")
    parser.add_argument("--hide", action="append", default=[], metavar="COLUMN")
    parser.add_argument("--shuffle", action="append", default=[], metavar="COLUMN")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    market = generate_market(seed=args.seed)
    creators = market.creators.drop(columns=args.hide)  # what the model and planner see
    for column in args.shuffle:
        creators[column] = creators[column].sample(frac=1, random_state=args.seed).to_numpy()
    result = fit_and_evaluate(creators, market.campaigns, market.outcomes, market.expected,
                              TrainConfig(seed=args.seed))  # fmt: skip
    perfect = None
    if args.ceilings:  # the same hires, measured without noise
        truth = market.outcomes[["campaign_id", "creator_id"]].merge(market.expected)
        measured = truth.rename(columns={"expected_lift_usd": "sales_lift_usd",
                                         "true_cost_usd": "cost_usd"})  # fmt: skip
        perfect = fit_and_evaluate(
            creators, market.campaigns,
            measured[["campaign_id", "creator_id", "sales_lift_usd", "cost_usd"]],
            config=TrainConfig(seed=args.seed),
        ).development_model  # fmt: skip
    rng = np.random.default_rng(args.seed)
    held_out = market.campaigns[market.campaigns["campaign_id"].isin(result.split["test"])]
    rows, candidates = [], []
    for campaign in held_out.head(args.campaigns).to_dict(orient="records"):
        pool = creators
        if isinstance(campaign["platform"], str):
            pool = pool[pool["platform"] == campaign["platform"]]
        pool = pool.iloc[rng.choice(len(pool), min(args.candidates, len(pool)), replace=False)]
        budget = float(campaign["budget_usd"])
        pairs = pd.DataFrame(
            {"campaign_id": campaign["campaign_id"], "creator_id": pool["creator_id"]}
        )
        truth = expected_outcomes(pairs, market.creators, market.creator_traits, market.campaigns)
        truth = truth.set_index("creator_id")
        planned = plan(pool, campaign, budget, result.development_model, constraints=Constraints())
        chosen = planned.chosen
        plan_lift = float(truth.loc[chosen["creator_id"], "expected_lift_usd"].sum())
        plan_spend = float(truth.loc[chosen["creator_id"], "true_cost_usd"].sum())
        picked, _ = knapsack(
            truth["expected_lift_usd"].to_numpy(), truth["true_cost_usd"].to_numpy(), budget
        )
        oracle = float(truth["expected_lift_usd"].to_numpy()[picked].sum())
        engagement = (pool["avg_likes"] + pool["avg_comments"]) / pool["followers"].clip(lower=1)
        order = pool.assign(_niche=pool["niche"] == campaign["niche"], _er=engagement).sort_values(
            ["_niche", "_er"], ascending=False
        )
        spent, greedy = 0.0, 0.0
        for creator in order["creator_id"]:
            cost = float(truth.loc[creator, "true_cost_usd"])
            if spent + cost <= budget:
                spent += cost
                greedy += float(truth.loc[creator, "expected_lift_usd"])
        row = {"campaign": campaign["campaign_id"], "budget": budget, "plan": plan_lift,
               "oracle": oracle, "greedy": greedy, "true_spend": plan_spend}  # fmt: skip
        if perfect is not None:
            eligible = planned.candidates[planned.candidates["why_not"] == ""]
            lift = truth.loc[eligible["creator_id"], "expected_lift_usd"].to_numpy()
            known, _ = knapsack(lift, eligible["cost_usd"].to_numpy(float), budget)
            row["known_lift"] = float(lift[known].sum())
            hired = plan(pool, campaign, budget, perfect, constraints=Constraints()).chosen
            row["perfect_data"] = float(truth.loc[hired["creator_id"], "expected_lift_usd"].sum())
            candidates.append(_candidate_frame(result.development_model, market, pool, campaign,
                                               eligible, truth, budget))  # fmt: skip
        rows.append(row)
    table = pd.DataFrame(rows)
    to_oracle = table["plan"].sum() / table["oracle"].sum()
    to_greedy = table["plan"].sum() / table["greedy"].sum()
    print(
        f"{len(table)} held-out campaigns, {args.candidates:,} candidates each (seed {args.seed})"
        + "".join(f", {c} hidden" for c in args.hide)
        + "".join(f", {c} shuffled" for c in args.shuffle)
    )
    print(f"plan / best possible (total noise-free lift):   {to_oracle:.3f}  (target >= 0.93)")
    print(f"plan / niche-then-engagement greedy:             {to_greedy:.2f}x (target >= 1.5x)")
    of_best = statistics.median(table["plan"] / table["oracle"])
    of_greedy = statistics.median(table["plan"] / table["greedy"].clip(lower=1e-9))
    print(f"median per campaign: {of_best:.3f} of best, {of_greedy:.2f}x greedy")
    over = (table["true_spend"] > table["budget"]).mean()
    by = ((table["true_spend"] - table["budget"]).clip(lower=0) / table["budget"]).mean()
    print(f"spend over budget (estimated prices): {over:.0%} of campaigns, by {by:.1%} on average")
    if perfect is not None:
        known = table["known_lift"].sum() / table["oracle"].sum()
        measured = table["perfect_data"].sum() / table["oracle"].sum()
        print(f"ceiling, every lift known (plan's prices and exclusions): {known:.3f} of best")
        print(f"plan from a model trained on noise-free outcomes:         {measured:.3f} of best")
        frame = pd.concat(candidates, ignore_index=True)
        features = list(result.test_features.columns)
        oracle = table["oracle"].sum()
        for name, columns in (("the plan's features", features),
                              ("those and every hidden trait", features + HIDDEN)):  # fmt: skip
            lift = _fitted_on_candidates(frame, columns, args.seed)
            print(f"plan from a model fitted to the candidates' own noise-free lift "
                  f"({name}): {lift / oracle:.3f} of best")  # fmt: skip


def _candidate_frame(
    recommender: Any, market: Any, pool: pd.DataFrame, campaign: dict[str, Any],
    eligible: pd.DataFrame, truth: pd.DataFrame, budget: float,
) -> pd.DataFrame:  # fmt: skip
    """The eligible candidates' features as the plan saw them, their hidden traits and truth."""
    pairs, _ = candidate_pairs(
        pool[pool["creator_id"].isin(eligible["creator_id"])], checked_campaigns(campaign).valid
    )
    frame = recommender.features_for(pairs).reset_index(drop=True)
    ids = pairs["creator_id"].to_numpy()
    traits = market.creator_traits.set_index("creator_id").loc[ids]
    for column in HIDDEN[:-1]:
        frame[column] = traits[column].to_numpy(dtype=float)
    target = campaign.get("target_country")
    frame["true_country_match"] = (
        1.0 if not isinstance(target, str) else (traits["true_audience_country"] == target)
    )
    cost = eligible.set_index("creator_id")["cost_usd"]
    frame["_cost"] = cost.loc[ids].to_numpy(dtype=float)
    frame["_lift"] = truth.loc[ids, "expected_lift_usd"].to_numpy()
    frame["_campaign"], frame["_budget"] = campaign["campaign_id"], budget
    return frame


def _fitted_on_candidates(frame: pd.DataFrame, columns: list[str], seed: int) -> float:
    """Total noise-free lift of plans whose lift per dollar comes from a model fitted to other
    campaigns' candidates (5 folds by campaign), planned on the plan's own costs."""
    X = frame[columns].astype(float)
    target = np.log(frame["_lift"] / frame["_cost"])
    predicted = np.zeros(len(frame))
    for fit, held in GroupKFold(n_splits=5).split(X, target, frame["_campaign"]):
        model = LGBMRegressor(n_estimators=600, learning_rate=0.03, num_leaves=63,
                              min_child_samples=10, random_state=seed, verbose=-1)  # fmt: skip
        predicted[held] = model.fit(X.iloc[fit], target.iloc[fit]).predict(X.iloc[held])
    value = np.exp(predicted) * frame["_cost"].to_numpy()
    total = 0.0
    for _, rows in frame.groupby("_campaign", sort=False):
        at = rows.index.to_numpy()
        chosen, _ = knapsack(value[at], rows["_cost"].to_numpy(), float(rows["_budget"].iloc[0]))
        total += float(rows["_lift"].to_numpy()[chosen].sum())
    return total


if __name__ == "__main__":
    main()
