"""Held-out quality of the model against the baselines, over several demo markets.

    python benchmarks/model_quality.py [--seeds 0 1 2 3 4]

For each seed: a demo market (20,000 creators, 300 campaigns) and training
with that seed; prints NDCG@10 of the ROI ranking against the noise-free truth
for the model and the best baseline, their ratio, and interval coverage.
Targets (issue 3): model >= 0.9 and >= 1.5x the best baseline.
"""

from __future__ import annotations

import argparse
import statistics
import warnings

from recommender.datasets.simulate import generate_market
from recommender.modeling.training import TrainConfig, fit_and_evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    print("seed  model  best_baseline  ratio  coverage  fit@10  lift_loss")
    models, ratios = [], []
    for seed in args.seeds:
        market = generate_market(seed=seed)
        result = fit_and_evaluate(market.creators, market.campaigns, market.outcomes,
                                  market.expected, TrainConfig(seed=seed))  # fmt: skip
        metrics = result.metrics
        model = metrics.loc["model", "ndcg_roi@10"]
        best = metrics.drop(index="model")["ndcg_roi@10"].max()
        models.append(model)
        ratios.append(model / best)
        print(
            f"{seed:>4}  {model:.3f}  {best:13.3f}  {model / best:5.2f}  "
            f"{metrics.loc['model', 'interval_coverage']:8.3f}  "
            f"{metrics.loc['model', 'ndcg_fit@10']:6.3f}  "
            f"{result.development_model.lift_loss_}"
        )
    print(
        f"median model {statistics.median(models):.3f}, "
        f"median ratio {statistics.median(ratios):.2f}"
    )


if __name__ == "__main__":
    main()
