#!/usr/bin/env python
"""Serve the trained creator recommender: score files, or answer over HTTP.

    python serve.py score --creators FILE --campaign FILE [--model DIR_OR_URI] [--out FILE]
                          [--rejects FILE] [--top K] [--show N] [--workers N]
    python serve.py plan --creators FILE --campaign FILE --budget USD [--explore FRACTION]
                         [--model DIR_OR_URI] [--out FILE] [--rejects FILE] [constraints]
    python serve.py http [--host 127.0.0.1] [--port 8000] [--model DIR_OR_URI]

--campaign is a .json file with one campaign object, or a campaigns file
(.csv/.parquet/.jsonl). --model is a model directory (default models/latest)
or an MLflow URI such as models:/creator-recommender@champion.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    score = commands.add_parser("score", help="score a creators file for one or more campaigns")
    score.add_argument("--creators", required=True, type=Path)
    score.add_argument("--campaign", required=True, type=Path)
    score.add_argument("--model", help="model directory or MLflow URI (default models/latest)")
    score.add_argument("--out", type=Path, default=Path("scored.csv"))
    score.add_argument("--rejects", type=Path, help="default: <out>.rejects.csv beside --out")
    score.add_argument("--top", type=int, help="keep the best K creators of each campaign")
    score.add_argument("--show", type=int, default=0, help="print the best N rows with reasons")
    score.add_argument(
        "--workers", type=int, help="scoring processes (default: one per core for large files)"
    )
    plan = commands.add_parser("plan", help="choose creators within a budget")
    plan.add_argument("--creators", required=True, type=Path)
    plan.add_argument("--campaign", required=True, type=Path)
    plan.add_argument("--budget", required=True, type=float, help="USD")
    plan.add_argument("--explore", type=float, default=0.0, help="share of budget for learning")
    plan.add_argument("--model", help="model directory or MLflow URI (default models/latest)")
    plan.add_argument("--out", type=Path, default=Path("plan.csv"))
    plan.add_argument("--rejects", type=Path, help="default: <out>.rejects.csv beside --out")
    rules = plan.add_argument_group("constraints (the campaign's platform always holds)")
    rules.add_argument("--target-country", help="hire only creators whose audience is there")
    rules.add_argument("--min-followers", type=float)
    rules.add_argument("--max-followers", type=float)
    rules.add_argument("--max-sponsorship", type=float, metavar="SHARE",
                       help="most sponsored share of recent posts")  # fmt: skip
    rules.add_argument("--max-niche-share", type=float, help="cap on any one niche's budget share")
    segment = "cap per audience segment (niche x audience country x tier)"
    rules.add_argument("--max-segment-share", type=float, help=segment)
    flagged = "also hire accounts flagged suspect_followers or high_sponsorship"
    rules.add_argument("--include-flagged", action="store_true", help=flagged)
    http = commands.add_parser("http", help="serve POST /score, POST /plan and GET /health")
    http.add_argument("--host", default="127.0.0.1")
    http.add_argument("--port", type=int, default=8000)
    http.add_argument("--model", help="model directory or MLflow URI (default models/latest)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)

    from recommender.io import DataFileError
    from recommender.scoring import ScoringError

    if args.command in ("score", "plan") and args.rejects is None:
        args.rejects = args.out.with_name(f"{args.out.stem}.rejects{args.out.suffix}")
    try:
        if args.command == "score":
            from recommender.batch import score_file

            if args.top is not None and args.top < 1:
                parser.error("--top must be at least 1")
            if args.workers is not None and args.workers < 1:
                parser.error("--workers must be at least 1")
            report = score_file(
                args.creators, args.campaign, args.out, args.rejects, args.model, args.top,
                workers=args.workers,
            )  # fmt: skip
            if report.scored == 0:
                print("error: nothing could be scored; see the rejects file", file=sys.stderr)
                return 1
            if args.show:
                from recommender.batch import show_top

                print(show_top(args.out, args.show))
            return 0
        if args.command == "plan":
            from recommender.batch import plan_file

            return plan_file(args)
        import uvicorn

        from recommender.http_api import create_app

        uvicorn.run(create_app(args.model), host=args.host, port=args.port, log_level="warning")
        return 0
    except (DataFileError, ScoringError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `serve.py ... | head`: the reader left; the files are written
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 1


if __name__ == "__main__":
    sys.exit(main())
