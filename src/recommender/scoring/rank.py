"""Rank scored rows within each campaign: rank 1 is the best score (ties: the higher fit, then
the creator_id), and keep the best few of each."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from recommender import contract
from recommender.scoring._arrays import rank_order


def by_score(scored: pd.DataFrame) -> pd.DataFrame:
    """Rows in rank order: campaign, then best score (ties: higher fit, then creator_id)."""
    return scored.assign(
        _score=scored["score"].fillna(-np.inf), _fit=scored["fit_score"].fillna(-np.inf)
    ).sort_values(
        ["campaign_id", "_score", "_fit", "creator_id"],
        ascending=[True, False, False, True],
        kind="stable",
    )


def best_of_each_campaign(scored: pd.DataFrame, top: int) -> pd.DataFrame:
    """The `top` best rows of each campaign, unranked (bounds what a long file keeps)."""
    ordered = by_score(scored)
    return scored.loc[ordered.groupby("campaign_id", sort=False).head(top).index]


def rank(scored: pd.DataFrame, top: int | None = None) -> pd.DataFrame:
    """Rank 1 = best score in each campaign (ties: higher fit, then creator_id); keep `top`."""
    in_order = rank_order(scored)
    if in_order is not None:
        rows, ranks = in_order
        if top is not None:
            rows, ranks = rows[ranks <= top], ranks[ranks <= top]
        own = [c for c in scored.columns if c not in contract.SCORED_COLUMNS]
        columns = [c for c in contract.SCORED_COLUMNS if c != "rank"] + own
        ranked = scored.iloc[rows]
        if list(scored.columns) != columns:  # (scored_rows' own frames are in order)
            ranked = ranked[columns]
        ranked.index = pd.RangeIndex(len(ranked))  # (what reset_index(drop=True) gives)
        ranked.insert(contract.SCORED_COLUMNS.index("rank"), "rank", ranks)
        return ranked
    return _ranked_by_sorting(scored, top)


def _ranked_by_sorting(scored: pd.DataFrame, top: int | None) -> pd.DataFrame:
    """rank, by sorting the frame: any frame (a missing id, scores as objects...)."""
    order = by_score(scored)
    order["rank"] = order.groupby("campaign_id", sort=False).cumcount() + 1
    if top is not None:
        order = order[order["rank"] <= top]
    columns = list(contract.SCORED_COLUMNS) + [
        c for c in order.columns if c not in (*contract.SCORED_COLUMNS, "_score", "_fit")
    ]  # an input's own _notes stay
    return order[columns].reset_index(drop=True)


def empty_scored(input_columns: Iterable[str]) -> pd.DataFrame:
    """A scored output with no rows: the scored columns, then the input's own."""
    own = [c for c in input_columns if c not in contract.SCORED_COLUMNS]
    return pd.DataFrame(columns=list(contract.SCORED_COLUMNS) + own)
