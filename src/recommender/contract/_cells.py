"""A column's cells read as a contract column holds them, on Arrow arrays: stripped text,
emptiness, numbers as people write them, case and lists normalised. validation's
checks are built on these.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from recommender.contract.numbers import decimal_points, read_numbers
from recommender.contract.tables import LIST_SEPARATOR, Column, Kind


class RowReasons:
    """Collects per-row problems; only bad rows ever get a string, so it stays cheap."""

    def __init__(self, n: int) -> None:
        self.bad = np.zeros(n, dtype=bool)
        self.cell_text: dict[int, list[str]] = {}

    def add(self, mask: np.ndarray, column: str, problem: str, values: pd.Series | None) -> None:
        """Note `problem` on the rows of `mask`, quoting each row's value from `values`."""
        rows = np.flatnonzero(mask)
        if rows.size == 0:
            return
        self.bad[rows] = True
        if values is None:
            texts = [f"{column}: {problem}"] * rows.size
        else:
            texts = [f"{column}: {problem} (got {shown(v)})" for v in values.iloc[rows].tolist()]
        for r, text in zip(rows.tolist(), texts, strict=True):
            self.cell_text.setdefault(r, []).append(text)

    def add_each(self, rows: np.ndarray, column: str, problems: list[str]) -> None:
        """Note on each of `rows` a problem of its own (problems[i] on rows[i])."""
        self.bad[rows] = True
        for r, problem in zip(rows.tolist(), problems, strict=True):
            self.cell_text.setdefault(r, []).append(f"{column}: {problem}")

    def strings(self) -> list[str]:
        """One reason per bad row, in row order: its problems joined by '; '."""
        return ["; ".join(self.cell_text[r]) for r in np.flatnonzero(self.bad).tolist()]


def shown(value: object) -> str:
    """A value as a reason quotes it: its text in quotes, cut at 40 characters."""
    text = str(value)
    return repr(text[:40] + "…") if len(text) > 40 else repr(text)


def is_empty(raw: pd.Series, text: pa.ChunkedArray | None = None) -> np.ndarray:
    """Missing: NaN/None, or text that is blank once stripped (`text`: raw as stripped
    reads it, when already read)."""
    empty = missing_cells(raw)
    if raw.dtype == object or pd.api.types.is_string_dtype(raw.dtype):
        empty |= blank(stripped(raw) if text is None else text)
    return empty


def missing_cells(raw: pd.Series) -> np.ndarray:
    """raw.isna() as a writable array."""
    if raw.dtype == object:
        return np.asarray(pd.isna(raw.to_numpy()), dtype=bool)
    return np.array(raw.isna().to_numpy(), dtype=bool)


def stripped(raw: pd.Series) -> pa.ChunkedArray:
    """Each cell as `raw.astype("string").str.strip()` reads it, as Arrow text (null where
    missing): one conversion a column, which every check of its text then shares."""
    cells = raw.to_numpy() if raw.dtype == object else None
    text: pa.Array | pa.ChunkedArray | None = None
    if cells is not None and pd.api.types.infer_dtype(cells, skipna=True) in ("string", "empty"):
        # Text already: the very call astype("string") ends in, without its fixed cost
        # (most of the time of a small frame). Cells Arrow refuses take the long way.
        try:
            text = pa.array(cells, type=pa.large_string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            text = None
    if text is None:
        text = pa.array(raw.astype("string").array)
    if isinstance(text, pa.Array):
        text = pa.chunked_array([text])
    return pc.utf8_trim_whitespace(text)


def blank(text: pa.ChunkedArray) -> np.ndarray:
    """Which cells of stripped text are empty or missing."""
    lengths = pc.binary_length(text).to_numpy(zero_copy_only=False)  # NaN where missing
    return np.asarray(~(lengths > 0), dtype=bool)


def masked(text: pa.ChunkedArray, mask: np.ndarray) -> pa.ChunkedArray:
    """text, missing where `mask` is set."""
    if not mask.any():
        return text
    return pc.if_else(pa.array(mask), pa.scalar(None, type=text.type), text)


def as_series(text: pa.ChunkedArray, like: pd.Series) -> pd.Series:
    """Arrow text as the pandas "string" column `like.astype("string")` would be."""
    values = pd.array(text, dtype=pd.StringDtype())
    return pd.Series(values, index=like.index, name=like.name, copy=False)


# What pandas infers for an object column of numbers alone (NumPy's included).
NUMBER_KINDS = ("integer", "floating", "mixed-integer-float", "empty")


def plain_numbers(raw: pd.Series, col: Column) -> np.ndarray | None:
    """An object column's numbers when every cell is a Python int, a float or missing (as
    JSON clients send them): what their text would parse to, read without the text.

    A float's text (its repr) and an int's digits parse back to float(cell) exactly, so
    only cells whose text would read otherwise take the long way: a count written as a
    fraction (1.125 is 1125 in a whole-number column, see dots_as_thousands), an
    infinite count, or an int too large for a float. None for any other column.
    """
    if raw.dtype != object:
        return None
    cells = raw.to_numpy()
    if pd.api.types.infer_dtype(cells, skipna=True) not in NUMBER_KINDS:  # (a quick "no")
        return None
    kinds = set(map(type, cells))
    if not kinds <= {int, float, type(None)}:
        return None
    missing = pd.isna(cells)
    if col.kind == Kind.INT and any(
        type(c) is float and not (c.is_integer() or c != c) for c in cells
    ):  # a fraction or an infinity in a count (NaN is missing, c != c)
        return None
    number = np.full(len(cells), np.nan)
    try:
        number[~missing] = cells[~missing].astype(float)
    except OverflowError:
        return None
    return number


def numeric(raw: pd.Series, col: Column, text: pa.ChunkedArray | None = None) -> np.ndarray:
    """Each cell of `raw` as a number, NaN where it is none (`text`: raw as stripped reads it)."""
    if numbers_already(raw):
        return raw.to_numpy(dtype=float, na_value=np.nan)
    text = stripped(raw) if text is None else text
    try:  # Arrow parses a clean column many times faster, and refuses if any cell is not a number
        cells = masked(text, blank(text))
        number = np.asarray(pc.cast(cells, pa.float64()).to_numpy(zero_copy_only=False), float)
        return dots_as_thousands(cells, number) if col.kind == Kind.INT else number
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        # A column written 12,5 and 1.250,50 is read in decimal points first.
        written = decimal_points(as_series(text, raw))
        number = pd.to_numeric(written, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    # What plain parsing refused may be written for people: 12.5K, 3,400, 62.5%, $1,250.
    rows = np.flatnonzero(np.isnan(number) & (written != "").fillna(False).to_numpy(dtype=bool))
    if rows.size:
        number[rows] = read_numbers(written.iloc[rows], percent=col.share, money=col.money)
    return number


def dots_as_thousands(cells: pa.ChunkedArray, number: np.ndarray) -> np.ndarray:
    """A count written 2.000 or 12.500 is thousands (nobody counts 2.000 followers as 2):
    such cells of a whole-number column, read again without their dots."""
    if not pc.any(pc.match_substring(cells, ".")).as_py():  # the common case: one cheap pass
        return number
    grouped = pc.match_substring_regex(cells, r"^[+-]?[1-9][0-9]{0,2}(\.[0-9]{3})+$")
    rows = np.flatnonzero(pc.fill_null(grouped, False).to_numpy(zero_copy_only=False))
    if rows.size:
        undotted = pc.replace_substring(cells.take(pa.array(rows)), ".", "")
        number = number.copy()
        number[rows] = np.asarray(pc.cast(undotted, pa.float64()).to_numpy(zero_copy_only=False))
    return number


def normalised(text: pa.ChunkedArray, kind: Kind) -> pa.ChunkedArray:
    """Stripped text as a column of `kind` holds it: lower or upper case, lists tidied."""
    if kind in (Kind.LOWER, Kind.LIST):
        text = pc.utf8_lower(text)
    if kind == Kind.LIST:
        # Normalise "Pet ; Food;" to "pet;food": niche names match case-insensitively.
        spaced = rf"\s*{LIST_SEPARATOR}\s*"
        text = pc.replace_substring_regex(text, pattern=spaced, replacement=LIST_SEPARATOR)
        text = pc.utf8_trim(text, characters=LIST_SEPARATOR)
    if kind == Kind.COUNTRY:
        text = pc.utf8_upper(text)
    return text


def cell_text(raw: pd.Series, kind: Kind) -> pd.Series:
    """raw as the text a column of `kind` holds (pandas "string", <NA> where missing)."""
    return as_series(normalised(stripped(raw), kind), raw)


def numbers_already(raw: pd.Series) -> bool:
    """Whether raw holds numbers as such (not text, not booleans)."""
    return pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype)
