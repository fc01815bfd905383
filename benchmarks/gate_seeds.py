"""The champion gate against noise, over many small habitual histories.

    python benchmarks/gate_seeds.py [--seeds 0 1 ... 9] [--campaigns 12] [--hires 25]
                                    [--hiring habitual]

For each seed: a simulated market whose brand ran CAMPAIGNS campaigns of HIRES hires chosen
by habit, and the same history with its sales lifts shuffled among the hires (a history
that teaches nothing). Two models are trained, one on each. Then the gate is asked twice,
as `train` asks it:
  shuffled retrain: the real model is champion, the shuffled one challenges, on the
                    shuffled history (it must never be promoted);
  real retrain:     the shuffled model is champion, the real one challenges, on the real
                    history.
Printed per seed: each question's paired improvement over the champion, over the best
baseline and over its prior, the rule of thumb (NDCG@10 of return per dollar, out of
sample, 90% Student t interval over campaigns) and the decision; then the counts.
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import replace

import numpy as np

from recommender.datasets.simulate import Market, generate_market
from recommender.modeling import evidence
from recommender.modeling.training import TrainConfig, TrainResult, fit_and_evaluate, rival_evidence


def trained(market: Market, seed: int) -> TrainResult:
    return fit_and_evaluate(
        market.creators, market.campaigns, market.outcomes, config=TrainConfig(seed=seed)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--campaigns", type=int, default=12)
    parser.add_argument("--hires", type=int, default=25)
    parser.add_argument("--hiring", default="habitual")
    parser.add_argument("--creators", type=int, default=3000)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    print(f"{args.campaigns} campaigns x {args.hires} {args.hiring} hires, "
          f"{args.creators:,} creators; 90% intervals")  # fmt: skip
    counts = {"shuffled promoted": 0, "real promoted": 0, "real credibly over champion": 0}
    start = time.perf_counter()
    for seed in args.seeds:
        market = generate_market(
            args.creators, args.campaigns, seed=seed, hires=args.hires, hiring=args.hiring
        )
        lifts = market.outcomes["sales_lift_usd"].to_numpy()
        shuffled_lifts = np.random.default_rng(1000 + seed).permutation(lifts)
        shuffled = replace(market, outcomes=market.outcomes.assign(sales_lift_usd=shuffled_lifts))
        real_run, shuffled_run = trained(market, seed), trained(shuffled, seed)
        questions = {
            "shuffled retrain": (shuffled_run, real_run),
            "real retrain": (real_run, shuffled_run),
        }
        print(f"seed {seed}:")
        for name, (challenger, champion) in questions.items():
            rival = rival_evidence(challenger, champion.recommender)
            decision = evidence.decide(challenger.evidence, rival, ("2", "1"))
            print(f"  {name:16s} {decision.line}")
            kind = name.split()[0]
            counts[f"{kind} promoted"] += decision.promote
            if kind == "real":
                counts["real credibly over champion"] += challenger.evidence.versus(
                    rival.ndcg[evidence.MODEL]
                ).credible
    n = len(args.seeds)
    print(f"over {n} seeds ({time.perf_counter() - start:.0f} s):")
    for name, count in counts.items():
        print(f"  {name}: {count} of {n}")


if __name__ == "__main__":
    main()
