"""Rows that repeat a key: the first otherwise valid row of an account (or of a campaign
and an account) wins; later ones, and ones met before (`seen`), are rejected with the
first spelling named.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from recommender.contract._cells import RowReasons, shown
from recommender.contract._keyset import KeySet, joined_key, key_parts
from recommender.contract.accounts import ACCOUNT_COLUMNS, AS_LATIN
from recommender.contract.tables import DUPLICATE


def reject_duplicates(
    keys: pd.DataFrame,
    compared: pd.DataFrame,
    reasons: RowReasons,
    seen: KeySet | None,
    seen_problem: str,
) -> None:
    """The first otherwise valid row of a key wins: a broken earlier row does not block it.
    Keys are compared as `compared` holds them (compared_keys). A row whose key `seen`
    holds is rejected with `seen_problem`; a later row that spells the account otherwise
    is told the first spelling. The keys of the rows that win join `seen`."""
    candidate = ~reasons.bad
    for column in keys.columns:
        candidate &= keys[column].notna().to_numpy()
    rows = np.flatnonzero(candidate)
    texts = joined_key(compared.iloc[rows]) if seen is not None else np.zeros(0, dtype=object)
    if seen is not None:
        met = _reject_seen(keys, rows, texts, reasons, seen, seen_problem)
        rows, texts = rows[~met], texts[~met]
    duplicate = np.zeros(len(rows), dtype=bool)
    if rows.size > 1:  # (a single row is no one's duplicate)
        duplicate = compared.iloc[rows].duplicated(keep="first").to_numpy()
    if duplicate.any():
        _reject_copies(keys, compared, rows, duplicate, reasons)
    if seen is not None:
        _remember(seen, keys, compared, rows[~duplicate], texts[~duplicate])


def _reject_seen(
    keys: pd.DataFrame,
    rows: np.ndarray,
    texts: np.ndarray,
    reasons: RowReasons,
    seen: KeySet,
    problem: str,
) -> np.ndarray:
    """Reject those of `rows` (their keys' texts: `texts`) whose key `seen` holds, naming
    the spelling it was first met in; returns which they were."""
    met = seen.met(texts)
    if met.any():
        parts = [key_parts(text, len(keys.columns)) for text in seen.written(texts[met])]
        first = _spellings(pd.DataFrame(parts, columns=keys.columns))
        problems = _as_spelled(keys.iloc[rows[met]], first, problem)
        reasons.add_each(rows[met], "+".join(keys.columns), problems)
    return met


def _reject_copies(
    keys: pd.DataFrame,
    compared: pd.DataFrame,
    rows: np.ndarray,
    duplicate: np.ndarray,
    reasons: RowReasons,
) -> None:
    """Reject rows[duplicate], copies of an earlier row of `rows`, naming its spelling."""
    copies = rows[duplicate]
    # The first row of each key that has copies: few rows, looked up one by one.
    repeated = rows[compared.iloc[rows].duplicated(keep=False).to_numpy()]
    first: dict[tuple[object, ...], int] = {}
    for row, key in zip(repeated.tolist(), _tuples(compared.iloc[repeated]), strict=True):
        first.setdefault(key, row)
    earlier = [first[key] for key in _tuples(compared.iloc[copies])]
    problems = _as_spelled(keys.iloc[copies], _spellings(keys.iloc[earlier]), DUPLICATE)
    reasons.add_each(copies, "+".join(keys.columns), problems)


def _remember(
    seen: KeySet, keys: pd.DataFrame, compared: pd.DataFrame, rows: np.ndarray, texts: np.ndarray
) -> None:
    """Add the keys of `rows` (their texts `texts`) to `seen`, with how they were written
    where that differs from how they are compared."""
    changed = np.zeros(len(rows), dtype=bool)
    for column in keys.columns:
        written, read = keys[column].iloc[rows], compared[column].iloc[rows]
        changed |= (written != read).to_numpy(dtype=bool)
    spelled = np.full(len(rows), None, dtype=object)
    spelled[changed] = joined_key(keys.iloc[rows[changed]])
    seen.add(texts, spelled)


def _tuples(keys: pd.DataFrame) -> Iterable[tuple[object, ...]]:
    return keys.itertuples(index=False, name=None)


def _spellings(keys: pd.DataFrame) -> list[str]:
    """Each row's account columns as written, joined by '+' (for people to read)."""
    columns = [c for c in keys.columns if c in ACCOUNT_COLUMNS]
    return ["+".join(map(str, parts)) for parts in _tuples(keys[columns])]


def _as_spelled(keys: pd.DataFrame, first: list[str], problem: str) -> list[str]:
    """`problem` for each row of `keys` repeating a key first written `first`, naming the
    first spelling where the row's differs ('@Handle' after 'handle')."""
    return [
        problem if later == earlier
        else f"{problem} (got {_show_id(later)}, the same account as {_show_id(earlier)})"
        for later, earlier in zip(_spellings(keys), first, strict=True)
    ]  # fmt: skip


def _show_id(text: str) -> str:
    """An id as shown quotes it, its look-alike letters as escapes (which a reader could
    not tell from Latin ones): 'h\\u0430ndle'. Invisible characters repr escapes already."""
    return "".join(f"\\u{ord(c):04x}" if ord(c) in AS_LATIN else c for c in shown(text))
