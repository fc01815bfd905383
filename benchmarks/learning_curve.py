"""How much history is enough: ranking quality against the campaigns a brand has run.

    python benchmarks/learning_curve.py [--campaigns 5 12 40 300] [--seeds 0 1 2]
                                        [--hiring random habitual] [--hires 25]
                                        [--market ours steady saturating]

For each market x size x hiring x seed: a simulated market of 5,000 creators whose brand
ran that many campaigns, each hiring HIRES creators (at random, or by habit: the biggest it could
pay in its own niche). The model is trained on that history. It is then measured where it
is used: on 40 fresh campaigns, each with 200 candidates drawn at random from the market
(most of them unlike anyone the brand hired), by NDCG@10 of its sales ranking against the
simulator's noise-free return per dollar. Beside it, the same NDCG for the baselines: the
rule of thumb (engagements per dollar, discounted off-niche, elsewhere-audience and
mostly-sponsored), cheapest first, and the best of the others.
With --market other than `ours`, the sales of hires and candidates (and so the truth the
ranking is measured against) come about as in markets made another way
(other_markets.py), on the same creators and hires.
Printed: one row per market x size x hiring, the mean over seeds (min-max in brackets).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
import warnings

import numpy as np
import pandas as pd
from other_markets import MARKETS, Process, remeasured

from recommender import contract
from recommender.datasets.simulate import expected_outcomes, generate_campaigns, generate_market
from recommender.modeling import evaluation, evidence
from recommender.modeling.estimator import without_outcomes
from recommender.modeling.training import TrainConfig, fit_and_evaluate

FRESH_CAMPAIGNS = 40
CANDIDATES = 200
CREATORS = 5_000


def fresh_lists(
    market, seed: int, process: Process = expected_outcomes
) -> tuple[pd.DataFrame, np.ndarray]:
    """Fresh campaigns' candidate pairs (a pair frame) and each pair's true return per dollar,
    as `process` says the market sells."""
    rng = np.random.default_rng(10_000 + seed)
    campaigns = generate_campaigns(FRESH_CAMPAIGNS, rng)
    campaigns["campaign_id"] = [f"fresh{i:03d}" for i in range(len(campaigns))]
    ids = market.creators["creator_id"].to_numpy()
    pairs = pd.DataFrame(
        {
            "campaign_id": np.repeat(campaigns["campaign_id"].to_numpy(), CANDIDATES),
            "creator_id": np.concatenate(
                [rng.choice(ids, CANDIDATES, replace=False) for _ in range(len(campaigns))]
            ),
        }
    )
    truth = process(pairs, market.creators, market.creator_traits, campaigns)
    roi = (truth["expected_lift_usd"] / truth["true_cost_usd"]).to_numpy(dtype=float)
    return contract.pair_frame(market.creators, campaigns, pairs), roi


def measure(
    campaigns: int, hiring: str, seed: int, hires: int, prior: bool, process: Process
) -> dict[str, float]:
    market = generate_market(CREATORS, campaigns, seed=seed, hires=hires, hiring=hiring)
    market = remeasured(market, process, seed)
    config = TrainConfig(seed=seed, prior=prior)
    result = fit_and_evaluate(market.creators, market.campaigns, market.outcomes, config=config)
    model = result.recommender
    pairs, roi = fresh_lists(market, seed, process)
    frame = pairs[["campaign_id"]].assign(truth=roi)
    scores = {"model": evidence.sales_ranking(model, model.predict(pairs))}
    features = model.features_for(without_outcomes(pairs))
    for name, baseline in evaluation.BASELINES.items():
        scores[name] = np.asarray(baseline(features, seed), dtype=float)
    return {
        name: evaluation.ndcg_at_k(frame.assign(score=score), "score", "truth", 10)
        for name, score in scores.items()
    }


def cell(runs: list[dict[str, float]], name: str) -> str:
    values = [run[name] for run in runs]
    return f"{statistics.mean(values):.3f} [{min(values):.2f}-{max(values):.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--campaigns", type=int, nargs="+", default=[5, 12, 40, 300])
    parser.add_argument("--hiring", nargs="+", default=["random", "habitual"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--hires", type=int, default=25)
    parser.add_argument("--no-prior", action="store_true", help="the lift models without it")
    parser.add_argument(
        "--market",
        nargs="+",
        default=["ours"],
        choices=MARKETS,
        help="how hires sell: the simulator's way, or others (other_markets.py)",
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    seeds = " ".join(map(str, args.seeds))
    print(f"NDCG@10 by true ROI on {FRESH_CAMPAIGNS} fresh campaigns x {CANDIDATES} random "
          f"candidates; {args.hires} hires per campaign; mean [min-max] of seeds {seeds}"
          f"{'; without the prior' if args.no_prior else ''}")  # fmt: skip
    print(f"{'market':10} {'campaigns':>9} {'hiring':9} {'model':>17} {'rule_of_thumb':>17} "
          f"{'lowest_price':>17} {'best other':>28}")  # fmt: skip
    start = time.perf_counter()
    for market, campaigns, hiring in itertools.product(args.market, args.campaigns, args.hiring):
        runs = [
            measure(campaigns, hiring, s, args.hires, not args.no_prior, MARKETS[market])
            for s in args.seeds
        ]
        others = [n for n in evaluation.BASELINES if n not in ("rule_of_thumb", "lowest_price")]
        best = max(others, key=lambda n: statistics.mean(run[n] for run in runs))
        cells = [cell(runs, name) for name in ("model", "rule_of_thumb", "lowest_price")]
        print(f"{market:10} {campaigns:>9} {hiring:9} {cells[0]:>17} {cells[1]:>17} "
              f"{cells[2]:>17} {best + ' ' + cell(runs, best):>28}", flush=True)  # fmt: skip
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
