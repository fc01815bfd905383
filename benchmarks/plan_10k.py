"""Time planning a campaign over 10,000 candidates (scoring included), median of several runs.

    python benchmarks/plan_10k.py [--candidates 10000] [--runs 5] [--explore 0.2]
                                  [--max-niche-share S] [--max-segment-share S]

Target (issue 5): under 5 s. Also prints the knapsack alone and the plan's
optimality gap (the solver's proven bound). With a cap the knapsack is HiGHS's
mixed-integer program instead of the dynamic programme.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from pathlib import Path

import numpy as np

import recommender
from recommender.datasets.simulate import generate_creators
from recommender.engines.local import native_stdout_silenced
from recommender.scoring.planning import Constraints, knapsack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--explore", type=float, default=0.2)
    parser.add_argument("--max-niche-share", type=float)
    parser.add_argument("--max-segment-share", type=float)
    parser.add_argument(
        "--model", default=str(Path(__file__).resolve().parents[1] / "models" / "latest")
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    creators, _ = generate_creators(args.candidates, np.random.default_rng(3))
    campaign = {
        "campaign_id": "bench",
        "niche": "pet",
        "target_country": "US",
        "product_price_usd": 25,
    }
    model = recommender.load_model(args.model)
    constraints = Constraints(
        max_niche_share=args.max_niche_share, max_segment_share=args.max_segment_share
    )
    totals, solves = [], []
    for _ in range(args.runs):
        start = time.perf_counter()
        with native_stdout_silenced():  # HiGHS's stray debug lines
            plan = recommender.plan(creators, campaign, 20_000, model, args.explore, constraints)
        totals.append(time.perf_counter() - start)
        eligible = plan.candidates[plan.candidates["why_not"] == ""]
        start = time.perf_counter()
        knapsack(
            eligible["expected_lift_usd"].to_numpy(float),
            eligible["cost_usd"].to_numpy(float),
            16_000,
        )
        solves.append(time.perf_counter() - start)
    caps = [f"{name} {share:.0%}" for name, share in
            (("niche cap", args.max_niche_share), ("segment cap", args.max_segment_share))
            if share]  # fmt: skip
    print(f"{args.candidates:,} candidates, budget $20,000, explore {args.explore:.0%}"
          + "".join(f", {cap}" for cap in caps))  # fmt: skip
    print(f"plan (score + knapsack + exploration): median {statistics.median(totals):.2f} s "
          f"over {args.runs} runs (target < 5 s)")  # fmt: skip
    solve = statistics.median(solves)
    print(f"uncapped knapsack alone over {len(eligible):,} eligible: median {solve:.2f} s")
    print(
        f"chosen {plan.summary['creators']}, optimality gap <= {plan.summary['optimality_gap']:.4%}"
    )


if __name__ == "__main__":
    main()
