"""Check an export against the data contract before training.

    python -m recommender.validate --creators F [--campaigns F] [--outcomes F] [--rejects F]

Prints how many rows of each table are valid and rejected, the most common
reasons, and writes every rejected row (with `table` and `reject_reason`) to
--rejects. Exits 1 only when a file as a whole is unusable or a table has no
valid row; the message is one line, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from recommender import schema
from recommender.io import DataFileError, read_table, write_table

TABLE_COLUMN = "table"


def load_table(
    path: str | Path, table: schema.Table, known: Mapping[str, Iterable[object]] | None = None
) -> schema.Validated:
    """Read and validate one file; DataFileError for whole-file problems."""
    frame = read_table(path)
    try:
        return schema.validate(frame, table, known=known, source=str(path))
    except schema.ContractError as exc:
        raise DataFileError(str(exc)) from None


def load_tables(
    creators: str | Path, campaigns: str | Path | None = None, outcomes: str | Path | None = None
) -> dict[str, schema.Validated]:
    """Validate a set of files; outcomes are checked against the valid creators and campaigns."""
    result = {"creators": load_table(creators, schema.CREATORS)}
    if campaigns is not None:
        result["campaigns"] = load_table(campaigns, schema.CAMPAIGNS)
    if outcomes is not None:
        known: dict[str, Iterable[object]] = {"creator_id": result["creators"].valid["creator_id"]}
        if "campaigns" in result:
            known["campaign_id"] = result["campaigns"].valid["campaign_id"]
        result["outcomes"] = load_table(outcomes, schema.OUTCOMES, known=known)
    return result


def summarise(tables: dict[str, schema.Validated], top: int = 5) -> list[str]:
    """Lines for the user: counts per table, then the most common problems."""
    lines = []
    for name, checked in tables.items():
        n_valid, n_rejected = checked.counts
        lines.append(f"{name}: {n_valid:,} valid, {n_rejected:,} rejected")
        if n_rejected:
            problems = (
                checked.rejects[schema.REJECT_REASON]
                .str.split("; ")
                .explode()
                .str.replace(r" \(got .*\)$", "", regex=True)
                .value_counts()
            )
            for problem, count in problems.head(top).items():
                lines.append(f"  {count:>8,}  {problem}")
    return lines


def combined_rejects(tables: dict[str, schema.Validated]) -> pd.DataFrame:
    parts = [
        checked.rejects.assign(**{TABLE_COLUMN: name})
        for name, checked in tables.items()
        if len(checked.rejects)
    ]
    if not parts:
        return pd.DataFrame(columns=[TABLE_COLUMN, schema.REJECT_REASON])
    rejects = pd.concat(parts, ignore_index=True)
    first = [TABLE_COLUMN, schema.REJECT_REASON]
    return rejects[first + [c for c in rejects.columns if c not in first]]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m recommender.validate", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--creators", required=True, help="creators file (.csv/.parquet/.jsonl)")
    parser.add_argument("--campaigns", help="campaigns file")
    parser.add_argument("--outcomes", help="outcomes file (checked against the two above)")
    parser.add_argument("--rejects", help="write rejected rows here, with table and reason")
    args = parser.parse_args(argv)
    try:
        tables = load_tables(args.creators, args.campaigns, args.outcomes)
        for line in summarise(tables):
            print(line)
        rejects = combined_rejects(tables)
        if args.rejects:
            write_table(rejects, args.rejects)
            print(f"wrote {len(rejects):,} rejected rows to {args.rejects}")
        elif len(rejects):
            print("(pass --rejects FILE to write the rejected rows with their reasons)")
    except DataFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    empty = [name for name, checked in tables.items() if checked.counts[0] == 0]
    if empty:
        print(f"error: no valid rows in {', '.join(empty)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
