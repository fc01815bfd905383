"""Columns as the features read them: numbers, cleaned text, ratios, text coded once per
distinct value. A column an export does not carry reads as missing, never as an error."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd


def col(frame: pd.DataFrame, name: str) -> pd.Series:
    """A numeric column, or all-NaN when the export does not carry it."""
    if name not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[name], errors="coerce").astype(float)


def numbers(frame: pd.DataFrame, name: str) -> np.ndarray:
    """`col`'s values as an array (read-only: it may be the frame's own)."""
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    column = frame[name]
    if column.dtype.kind in "fiu":  # numbers already, which to_numeric leaves as they are
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(column, errors="coerce").astype(float).to_numpy()


def text(frame: pd.DataFrame, name: str) -> pd.Series:
    """A text column stripped and lower-cased, or all-missing when the export does not carry it."""
    if name not in frame.columns:
        return pd.Series(pd.NA, index=frame.index, dtype="string")
    return cleaned(frame[name])


def cleaned(texts: pd.Series) -> pd.Series:
    """Texts stripped and lower-cased (missing where missing)."""
    return texts.astype("string").str.strip().str.lower()


def ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator / denominator (on one index), NaN where the denominator is 0 or unknown."""
    quotient = ratio_of(numerator.to_numpy(dtype=float), denominator.to_numpy(dtype=float))
    return pd.Series(quotient, index=numerator.index)


def ratio_of(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """`ratio` of arrays."""
    with np.errstate(all="ignore"):  # as pandas's arithmetic: inf and NaN say it all
        return np.asarray(numerator / np.where(denominator > 0, denominator, np.nan))


class Coded(NamedTuple):
    """A column as codes into its distinct values: row i holds values[codes[i]], or is
    missing (None) where codes[i] is -1. What is computed from the values is then computed
    once per distinct value, however many rows share it."""

    codes: np.ndarray
    values: list[Any]

    def at(self, code: int) -> Any:
        """The value of a code (None for -1)."""
        return self.values[code] if code >= 0 else None


def coded(values: np.ndarray) -> Coded:
    """An array (NaN or None where missing) as a Coded column."""
    codes, distinct = pd.factorize(values)
    return Coded(codes, np.asarray(distinct).tolist())


def texts(frame: pd.DataFrame, names: Sequence[str]) -> dict[str, Coded]:
    """`text` of each named column, coded: the strip and lower-case run once over the
    distinct texts of all the columns together, not over every row of each.

    The texts go through the very pandas string methods `text` uses (whose rules depend
    on the string storage); a column holding anything but text is read by `text` itself.
    """
    by_name: dict[str, Coded] = {}
    given: dict[str, tuple[np.ndarray, list[Any]]] = {}
    for name in names:
        if name not in frame.columns:
            by_name[name] = Coded(np.full(len(frame), -1, dtype=np.intp), [])
        elif pd.api.types.infer_dtype(frame[name], skipna=True) in ("string", "empty"):
            # (the cells as objects factorize alike, missing as missing, at half the cost)
            codes, uniques = pd.factorize(frame[name].to_numpy(dtype=object))
            given[name] = (codes, np.asarray(uniques, dtype=object).tolist())
        else:  # numbers or mixed types: to text as astype("string") writes them
            by_name[name] = coded(np.asarray(strings(text(frame, name)), dtype=object))
    everything = [text for _, distinct in given.values() for text in distinct]
    read = strings(cleaned(pd.Series(everything, dtype=object))) if everything else []
    for name, (codes, distinct) in given.items():
        by_name[name], read = Coded(codes, read[: len(distinct)]), read[len(distinct) :]
    return {name: by_name[name] for name in names}


def strings(texts: pd.Series) -> list[str | None]:
    """Cleaned texts as Python strings, None where missing."""
    return [text if isinstance(text, str) else None for text in texts.tolist()]


def mapped(column: Coded, table: Mapping[Any, float], missing: float = np.nan) -> np.ndarray:
    """table[value] of each row's value: NaN where the table lacks it, `missing` where the
    row has none (as Series.map with a dict, then fillna(missing))."""
    found = [table.get(value, np.nan) for value in column.values]
    return np.asarray(np.asarray([*found, missing], dtype=float)[column.codes])


def each_distinct(
    compute: Callable[..., tuple[float, ...]], width: int, *columns: Coded
) -> np.ndarray:
    """compute(*values) -> `width` numbers for each row, called once for each distinct
    combination of the columns' values (None where missing); one row of floats per row."""
    combined = np.zeros(len(columns[0].codes), dtype=np.int64)
    for column in columns:
        combined = combined * (len(column.values) + 1) + (column.codes + 1)
    rows, keys = pd.factorize(combined)
    results = []
    for key in keys.tolist():
        codes = []
        for column in reversed(columns):
            key, code = divmod(key, len(column.values) + 1)
            codes.append(code - 1)
        values = [column.at(code) for column, code in zip(columns, reversed(codes), strict=True)]
        results.append(compute(*values))
    return np.asarray(results, dtype=float).reshape(len(keys), width)[rows]
