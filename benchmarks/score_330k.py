"""Time `serve.py score` on a large candidate list, stage by stage, against a plain read + write.

    python benchmarks/score_330k.py [--rows 330000] [--runs 3] [--also 3300000]

For each size: simulated creators written to CSV; the baseline is pandas
reading that CSV and writing it back; then the scoring job (as the CLI runs
it: read, validate, features + predictions + flags + reasons, rank, write).
Prints the median of `--runs`, each stage's share, rows per second, peak
memory (the measured process's own; scale.py counts the whole process tree),
and the ratio to the baseline (target, issue 15: at most 3x). Each measurement
runs in a fresh process, so peak memory is its own, and the times compared are
those of the whole processes, the interpreter's start and imports included on
both sides (as in scale.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MEASURE = r"""
import contextlib, io, json, resource, sys
mode, creators, campaign, model, out = sys.argv[1:6]
if mode == "baseline":
    import pandas as pd
    pd.read_csv(creators).to_csv(out, index=False)
    stages = {}
else:  # the command itself, as a user runs it
    from recommender.cli import main
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["score", "--creators", creators, "--campaign", campaign, "--model", model,
                     "--out", out])
    if code:
        raise SystemExit(f"score failed ({code})")
    stages = json.loads(open(out.removesuffix(".csv") + ".summary.json").read())["seconds"]
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"stages": stages, "peak_mb": peak_mb}))
"""


def measure(mode: str, creators: Path, campaign: Path, model: str, out: Path) -> dict[str, object]:
    """One run in a fresh process: its stages and peak, and the whole process's wall time
    (the interpreter's start and imports included, for the floor as for the job)."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, mode, str(creators), str(campaign), model, str(out)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall"] = time.perf_counter() - start
    return result


def run_size(rows: int, runs: int, model: str, tmp: Path) -> None:
    import numpy as np

    from recommender.datasets.simulate import generate_creators
    from recommender.io import write_table

    creators, _ = generate_creators(rows, np.random.default_rng(1))
    path = tmp / f"creators_{rows}.csv"
    write_table(creators, path)
    campaign = tmp / "campaign.json"
    campaign.write_text(json.dumps({"campaign_id": "bench", "niche": "pet", "target_country": "US",
                                    "product_price_usd": 25}))  # fmt: skip
    baseline = [measure("baseline", path, campaign, model, tmp / "copy.csv") for _ in range(runs)]
    scoring = [measure("score", path, campaign, model, tmp / "scored.csv") for _ in range(runs)]
    base_s = statistics.median(float(r["wall"]) for r in baseline)  # type: ignore[arg-type]
    score_s = statistics.median(float(r["wall"]) for r in scoring)  # type: ignore[arg-type]
    print(f"\n{rows:,} creators ({path.stat().st_size / 1e6:,.0f} MB CSV), median of {runs} runs")
    print(f"  pandas read + write      {base_s:7.1f} s   peak {baseline[0]['peak_mb']:,.0f} MB")
    print(f"  serve.py score           {score_s:7.1f} s   peak {scoring[0]['peak_mb']:,.0f} MB"
          f"   {rows / score_s:,.0f} rows/s")  # fmt: skip
    stages: dict[str, list[float]] = {}
    for r in scoring:
        for stage, seconds in r["stages"].items():  # type: ignore[attr-defined]
            stages.setdefault(stage, []).append(seconds)
    for stage, values in stages.items():
        print(f"    {stage:<22} {statistics.median(values):7.2f} s")
    print(f"  ratio to read + write    {score_s / base_s:7.2f}x  (target, issue 15: <= 3x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=330_000)
    parser.add_argument("--also", type=int, nargs="*", default=[], help="more sizes, e.g. 3300000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--model", default=str(Path(__file__).resolve().parents[1] / "models" / "latest")
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for rows in [args.rows, *args.also]:
            run_size(rows, args.runs, args.model, Path(tmp))


if __name__ == "__main__":
    main()
