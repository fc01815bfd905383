"""Time validating a 1M-row creators CSV (read + validate), as recommender.contract.validation does.

    python benchmarks/validate_1m.py [--rows 1000000] [--runs 3] [--bad-share 0.01]

Generates simulated creators, breaks a share of rows in assorted ways so the
reject path is exercised too, and prints the median of several runs for the
read and the validation. Target (issue 2): under 15 s in all.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from recommender.contract import CREATORS, validate
from recommender.datasets.simulate import generate_creators
from recommender.io import read_table, write_table

BREAKAGES = {"followers": "-5", "avg_likes": "n/a", "platform": "myspace", "niche": "",
             "audience_female_share": "1.7", "price_per_post_usd": "inf"}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--bad-share", type=float, default=0.01)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    creators, _ = generate_creators(args.rows, rng)
    creators = creators.astype(object)
    bad = np.flatnonzero(rng.random(args.rows) < args.bad_share)
    columns = list(BREAKAGES)
    for i, row in enumerate(bad):
        column = columns[i % len(columns)]
        creators.iat[row, creators.columns.get_loc(column)] = BREAKAGES[column]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "creators.csv"
        write_table(creators, path)
        size_mb = path.stat().st_size / 1e6
        reads, checks = [], []
        for _ in range(args.runs):
            start = time.perf_counter()
            frame = read_table(path)
            middle = time.perf_counter()
            checked = validate(frame, CREATORS)
            end = time.perf_counter()
            reads.append(middle - start)
            checks.append(end - middle)
    read_s, check_s = statistics.median(reads), statistics.median(checks)
    print(f"rows: {args.rows:,} ({size_mb:,.0f} MB CSV), broken on purpose: {len(bad):,}")
    print(f"valid: {checked.counts[0]:,}  rejected: {checked.counts[1]:,}")
    print(f"read     median {read_s:6.2f} s over {args.runs} runs")
    print(f"validate median {check_s:6.2f} s")
    print(
        f"total    median {read_s + check_s:6.2f} s  ({args.rows / (read_s + check_s):,.0f} rows/s)"
    )


if __name__ == "__main__":
    main()
