"""Whole tables checked together: creators, campaigns and outcomes.

`validate_tables` checks frames, outcomes against the valid creators and
campaigns; `summarise` says what happened in lines for people and
`combined_rejects` puts every rejected row in one frame (with `table` and
`reject_reason` first). The `validate` command is built on them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from recommender.contract.headers import renamed_text
from recommender.contract.tables import REJECT_REASON, TABLES, Validated, reason_first, validate
from recommender.errors import ContractError, DataFileError

TABLE_COLUMN = "table"


def validate_tables(
    frames: Mapping[str, pd.DataFrame], sources: Mapping[str, object] | None = None
) -> dict[str, Validated]:
    """Validate the creators frame and, when given, the campaigns and outcomes frames.

    `frames` maps table names (creators, campaigns, outcomes) to frames; `sources`
    names where each came from, for messages. Outcomes must name valid creators
    (and valid campaigns, when campaigns are given). Raises DataFileError when a
    table lacks a required column altogether.
    """
    result: dict[str, Validated] = {}
    for name in ("creators", "campaigns", "outcomes"):
        if name not in frames:
            continue
        known: dict[str, Iterable[object]] = {}
        if name == "outcomes":
            known["creator_id"] = result["creators"].valid["creator_id"]
            if "campaigns" in result:
                known["campaign_id"] = result["campaigns"].valid["campaign_id"]
        source = str((sources or {}).get(name, "")) or None
        try:
            result[name] = validate(frames[name], TABLES[name], known=known, source=source)
        except ContractError as exc:
            raise DataFileError(str(exc)) from None
    return result


def summarise(tables: Mapping[str, Validated], top: int = 5) -> list[str]:
    """Lines for the user: counts per table, then the most common problems."""
    lines = []
    for name, checked in tables.items():
        n_valid, n_rejected = checked.counts
        if checked.renamed:
            lines.append(f"{name}: read {len(checked.renamed)} headers as contract columns:")
            lines += [f"  {renamed_text([pair])}" for pair in checked.renamed]
        lines.append(f"{name}: {n_valid:,} valid, {n_rejected:,} rejected")
        if n_rejected:
            problems = (
                checked.rejects[REJECT_REASON]
                .str.split("; ")
                .explode()
                .str.replace(r" \(got .*\)$", "", regex=True)
                .value_counts()
            )
            for problem, count in problems.head(top).items():
                lines.append(f"  {count:>8,}  {problem}")
    return lines


def combined_rejects(tables: Mapping[str, Validated]) -> pd.DataFrame:
    """Every table's rejected rows in one frame, `table` and `reject_reason` first."""
    parts = [
        checked.rejects.assign(**{TABLE_COLUMN: name})
        for name, checked in tables.items()
        if len(checked.rejects)
    ]
    rejects = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return reason_first(rejects, TABLE_COLUMN)
