"""Outcome feedback: new campaign results join the training history, each exactly once.

    python -m recommender.feedback --data DIR --new FILE

Validates FILE against the outcomes contract (and DIR's creators and
campaigns), refuses rows the history already holds (same campaign_id and
creator_id) and rows that repeat within FILE, appends the rest to DIR's
outcomes file atomically, and says how many rows went where. Then run
`python train.py --data DIR`: the champion gate decides whether the retrained
model replaces the current one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from recommender import schema
from recommender.io import DataFileError, read_table, write_table


@dataclass(frozen=True)
class Added:
    combined: pd.DataFrame  # the history with the new rows appended
    added: int
    rejects: pd.DataFrame  # new rows refused, with reject_reason


def add_outcomes(
    history: pd.DataFrame,
    new: pd.DataFrame,
    creator_ids: pd.Series | None = None,
    campaign_ids: pd.Series | None = None,
) -> Added:
    """Append valid new outcome rows that the history does not already hold."""
    known = {}
    if creator_ids is not None:
        known["creator_id"] = creator_ids
    if campaign_ids is not None:
        known["campaign_id"] = campaign_ids
    checked = schema.validate(new, schema.OUTCOMES, known=known)
    valid = checked.valid
    seen = set(
        zip(history["campaign_id"].astype(str), history["creator_id"].astype(str), strict=True)
    )
    again = pd.Series(
        [
            k in seen
            for k in zip(
                valid["campaign_id"].astype(str), valid["creator_id"].astype(str), strict=True
            )
        ],
        index=valid.index,
        dtype=bool,
    )
    repeated = valid.loc[again].assign(
        **{schema.REJECT_REASON: "campaign_id+creator_id: already in the outcome history"}
    )
    fresh = valid.loc[~again]
    combined = pd.concat([history, fresh], ignore_index=True)
    rejects = pd.concat([checked.rejects, repeated], ignore_index=True)
    return Added(combined, len(fresh), rejects)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m recommender.feedback", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--data", required=True, type=Path, help="training folder (creators, campaigns, outcomes)"
    )
    parser.add_argument("--new", required=True, type=Path, help="new outcomes file")
    parser.add_argument(
        "--rejects", type=Path, help="where refused rows go (default: beside --new)"
    )
    args = parser.parse_args(argv)
    from recommender.workflow import find_table

    try:
        paths = {
            name: find_table(args.data, name) for name in ("creators", "campaigns", "outcomes")
        }
        creators = read_table(paths["creators"])  # type: ignore[arg-type]
        campaigns = read_table(paths["campaigns"])  # type: ignore[arg-type]
        history = read_table(paths["outcomes"])  # type: ignore[arg-type]
        result = add_outcomes(
            history, read_table(args.new), creators["creator_id"], campaigns["campaign_id"]
        )
    except (DataFileError, schema.ContractError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    write_table(result.combined, paths["outcomes"])  # type: ignore[arg-type]
    rejects = args.rejects or args.new.with_name(f"{args.new.stem}.rejects.csv")
    write_table(result.rejects, rejects)
    print(f"added {result.added:,} outcome rows to {paths['outcomes']}; "
          f"{len(result.rejects):,} refused -> {rejects}")  # fmt: skip
    return 0 if result.added else 1


if __name__ == "__main__":
    sys.exit(main())
