"""Ranking and rounding worked out on a frame's arrays at once, for the frames that allow it.

Each function returns what its counterpart in rank.py or score.py would return for the same
frame, or None where it cannot promise that (the caller then uses the counterpart)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from recommender import contract


def rounded_columns(
    predictions: pd.DataFrame, decimals: Mapping[str, int]
) -> dict[Hashable, Any] | None:
    """The columns of `predictions.round(decimals)`, by name; None where a name is twice or
    the frame carries more than its columns (attrs)."""
    if not predictions.columns.is_unique or predictions.attrs:
        return None
    columns: dict[Hashable, Any] = {}
    for name, values in predictions.items():
        places = decimals.get(name) if isinstance(name, str) else None
        if places is not None and values.dtype == np.float64:
            values = pd.Series(np.round(values.to_numpy(), places), index=predictions.index)
        elif places is not None and (
            pd.api.types.is_integer_dtype(values.dtype) or pd.api.types.is_float_dtype(values.dtype)
        ):
            values = values.round(places)
        columns[name] = values
    return columns


def rank_order(scored: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    """(positions of the rows in rank.by_score's order, each row's rank in its campaign):
    the order and ranks that sorting the frame gives. None where ids may be missing, scores
    are not floats, or columns clash with rank's own."""
    names = set(scored.columns)
    if (
        not scored.columns.is_unique
        or not {"rank", "_score", "_fit"}.isdisjoint(names)
        or not set(contract.SCORED_COLUMNS) - {"rank"} <= names
        or any(scored[c].dtype != np.float64 for c in ("score", "fit_score"))
    ):
        return None
    ids = [scored["campaign_id"], scored["creator_id"]]
    if any(not isinstance(i.dtype, pd.StringDtype) or i.hasnans for i in ids):
        return None
    # The codes sort_values sorts text by (Categorical's: sorted factorize codes). Text
    # without gaps sorts by code point as Python compares it: np.unique's codes, for less.
    campaign, creator = (np.unique(i.to_numpy(dtype=object), return_inverse=True)[1]
                         for i in ids)  # fmt: skip
    best = [scored[c].to_numpy() for c in ("score", "fit_score")]
    best = [-np.where(np.isnan(b), -np.inf, b) for b in best]
    rows = np.lexsort([creator, best[1], best[0], campaign])  # the last key sorts first
    campaign = campaign[rows]
    position = np.arange(len(rows), dtype=np.int64)
    starts = np.flatnonzero(np.diff(campaign, prepend=-1))  # where each campaign's run begins
    first = np.repeat(starts, np.diff(np.append(starts, len(rows))))
    return rows, position - first + 1
