#!/usr/bin/env python
"""Train the creator recommender on campaign history and track it in MLflow.

    python train.py [--data DIR] [--model-dir DIR] [--experiment NAME] [--seed N]

DIR holds creators, campaigns and outcomes files (.csv, .parquet or .jsonl).
Without --data, the built-in demo market is generated into data/demo first.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="folder with creators, campaigns, outcomes")
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models" / "latest")
    parser.add_argument("--experiment", default="creator-recommender", help="MLflow experiment")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the split, models and demo data"
    )
    args = parser.parse_args(argv)

    from recommender.io import DataFileError
    from recommender.modeling.training import TrainConfig
    from recommender.simulate import generate_market, write_market
    from recommender.workflow import run_training

    warnings.filterwarnings("ignore", category=UserWarning, module="lightgbm")
    # MLflow's own INFO lines and download bars drown the table this command prints.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow  # noqa: F401  (configures its loggers on import; quiet them after)

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    data_dir = args.data
    if data_dir is None:
        data_dir = ROOT / "data" / "demo"
        write_market(generate_market(seed=args.seed), data_dir)
        print(f"generated the demo market (seed {args.seed}) into {data_dir}")
    try:
        run_training(data_dir, args.model_dir, ROOT, args.experiment, TrainConfig(seed=args.seed))
    except (DataFileError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
