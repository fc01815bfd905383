"""Time training on 12,000+ outcome rows, the whole job as train.py runs it.

    python benchmarks/train_12k.py [--runs 3] [--campaigns 305]

Each run validates the files, trains (out-of-fold loss comparison, final
models, held-out evaluation), logs to a throwaway MLflow store and exports the
model. Prints the median of the runs. Target (issue 3): under 90 s on 2 cores.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

from recommender.api import train
from recommender.datasets.simulate import generate_market, write_market
from recommender.modeling.training import TrainConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--campaigns", type=int, default=305)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        market = generate_market(n_creators=20_000, n_campaigns=args.campaigns, seed=0)
        write_market(market, root / "data")
        totals, trainings = [], []
        for run in range(args.runs):
            os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / f'mlflow{run}.db'}"
            logging.getLogger("mlflow").setLevel(logging.WARNING)
            start = time.perf_counter()
            job = train(root / "data", options=TrainConfig(), track=True, experiment="bench",
                        model_dir=root / "model")  # fmt: skip
            totals.append(time.perf_counter() - start)
            trainings.append(job.timings["total_s"])
    print(
        f"outcome rows: {len(market.outcomes):,} in {args.campaigns} campaigns, "
        f"{os.cpu_count()} cores"
    )
    print(
        f"training only (fit_and_evaluate): median {statistics.median(trainings):6.1f} s, "
        f"{args.runs} runs"
    )
    print(f"whole job (with MLflow):  median {statistics.median(totals):6.1f} s  (target < 90 s)")
    print(f"model ndcg_roi@10 {job.metrics.loc['model', 'ndcg_roi@10']:.3f}")


if __name__ == "__main__":
    main()
