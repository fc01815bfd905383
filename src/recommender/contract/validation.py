"""Validation: a raw table split into the rows that meet the contract and those that do not.

`validate` returns the valid rows typed and normalised, and the rejected rows as
they were given plus a `reject_reason` naming each failing column and problem.
`validate_tables` checks a brand's tables together (outcomes must name valid
creators and campaigns); `summarise` says what happened in lines for people and
`combined_rejects` puts every rejected row in one frame.

Written as vectorised pandas, numpy and Arrow checks rather than with a schema
library: every bad row needs one human-readable reason and its original values.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from recommender.contract import headers
from recommender.contract._cells import (
    RowReasons,
    as_series,
    cell_text,
    is_empty,
    masked,
    missing_cells,
    normalised,
    numbers_already,
    numeric,
    plain_numbers,
    stripped,
)
from recommender.contract._frames import numbered, typed_frame
from recommender.contract._keyset import KeySet
from recommender.contract.accounts import ACCOUNT_COLUMNS, account
from recommender.contract.duplicates import reject_duplicates
from recommender.contract.headers import renamed_text
from recommender.contract.numbers import EXCEL_ERRORS, UNKNOWN_NUMBER, nested_cells
from recommender.contract.tables import (
    DUPLICATE,
    LIST_SEPARATOR,
    MAX_MAGNITUDE,
    REJECT_REASON,
    TABLES,
    Column,
    Kind,
    Table,
)
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


@dataclass(frozen=True)
class Validated:
    """The two halves of a validated table: every input row is in exactly one."""

    valid: pd.DataFrame
    rejects: pd.DataFrame
    # Headers read as contract columns: (header as given, column), as headers.contract_headers.
    renamed: tuple[tuple[str, str], ...] = ()

    @property
    def counts(self) -> tuple[int, int]:
        """(valid rows, rejected rows)."""
        return len(self.valid), len(self.rejects)


def missing_columns(frame: pd.DataFrame, table: Table) -> list[str]:
    """The required columns of `table` that `frame` lacks."""
    return [c for c in table.required if c not in frame.columns]


def check_columns(frame: pd.DataFrame, table: Table, source: str | None = None) -> None:
    """Raise ContractError when a required column of `table` is absent."""
    missing = missing_columns(frame, table)
    if missing:
        where = f"{source}: " if source else ""
        hint = next(
            (f" (is the file delimited by {d!r}? a header reads {h!r})"
             for h in map(str, frame.columns) for d in (";", "\t", "|", ",") if d in h),
            "",
        )  # fmt: skip
        raise ContractError(
            f"{where}missing required {table.name} column(s): {', '.join(missing)}{hint}"
        )


def _check_column(
    raw: pd.Series, col: Column, reasons: RowReasons, reported: np.ndarray | None = None
) -> pd.Series:
    """Check one column; return its typed, normalised values (NaN/<NA> where empty).
    `reported`: cells rejected already for a reason of their own (a NUL character)."""
    nested = nested_cells(raw)
    if col.kind == Kind.LIST and nested.any():
        raw = _lists_joined(raw, nested)
        nested = nested_cells(raw)
    if nested.any():
        reasons.add(nested, col.name, "not a single value", raw)
    if reported is not None:
        nested |= reported
    if nested.any():
        raw = raw.mask(nested)  # reported once: not also as missing or malformed
    numbers = plain_numbers(raw, col) if col.numeric else None
    text = None
    if numbers is None and not (col.numeric and numbers_already(raw)):
        text = stripped(raw)  # read once, shared by every check below
    empty = missing_cells(raw) if numbers is not None else is_empty(raw, text)
    if col.required:
        reasons.add(empty & ~nested, col.name, "required value missing", None)
    if col.numeric:
        return _check_number(raw, col, reasons, empty | nested, text, numbers)

    assert text is not None
    shown = _spreadsheet_errors(text, col.name, reasons)
    if shown.any():  # reported as such: not also as a wrong choice or country
        text, empty = masked(text, shown), empty | shown
    text = normalised(text, col.kind)
    if col.choices:
        choices = pa.array(col.choices, type=text.type)
        known = pc.fill_null(pc.is_in(text, value_set=choices), False)
        reasons.add(
            ~empty & ~known.to_numpy(), col.name, f"must be one of {', '.join(col.choices)}", raw
        )
    if col.kind == Kind.COUNTRY:
        two_letters = pc.fill_null(pc.match_substring_regex(text, r"^[A-Z]{2}$"), False)
        reasons.add(
            ~empty & ~two_letters.to_numpy(), col.name, "not a two-letter country code", raw
        )
    text = masked(text, empty)
    if col.default is not None:
        text = pc.fill_null(text, col.default)
    return as_series(text, raw)


def _spreadsheet_errors(
    text: pa.ChunkedArray, column: str, reasons: RowReasons, rows: np.ndarray | None = None
) -> np.ndarray:
    """Which cells of stripped text (of `rows` only, when given) show a spreadsheet's error
    rather than a value (#DIV/0!, #N/A...): each is rejected as "an Excel error (#DIV/0!)",
    not as missing nor as a value it is not."""
    where = np.arange(len(text)) if rows is None else rows
    cells = text if rows is None else text.take(pa.array(rows))
    found = np.zeros(len(text), dtype=bool)
    if not pc.any(pc.fill_null(pc.starts_with(cells, "#"), False)).as_py():
        return found  # (a first-character test: most columns hold no such cell)
    shown = pc.utf8_upper(cells)
    for error in sorted(EXCEL_ERRORS):
        hit = np.zeros(len(text), dtype=bool)
        equal = pc.fill_null(pc.equal(shown, error), False).to_numpy(zero_copy_only=False)
        hit[where[equal]] = True
        reasons.add(hit, column, f"an Excel error ({error})", None)
        found |= hit
    return found


def _holding_nul(values: pd.Series) -> np.ndarray | None:
    """Which cells are text holding a NUL character (None for a column of no text)."""
    if values.dtype != object and pd.api.types.is_string_dtype(values.dtype):
        with suppress(pa.ArrowInvalid, pa.ArrowTypeError):  # (text Arrow cannot hold: below)
            nul = pc.match_substring(pa.array(values.array), "\x00")
            return np.asarray(pc.fill_null(nul, False).to_numpy(zero_copy_only=False), bool)
    elif values.dtype != object:
        return None
    cells = values.to_numpy(dtype=object)
    return np.fromiter((isinstance(v, str) and "\0" in v for v in cells), bool, len(cells))


def _reject_nul_cells(frame: pd.DataFrame, reasons: RowReasons) -> dict[Hashable, np.ndarray]:
    """Reject the rows holding a NUL character in any column, the contract's or not: no text
    means one (it is a stray byte of a damaged export), and many programs end a text at it.
    Returns the cells found, by column."""
    found = {}
    for name, values in frame.items():
        nul = _holding_nul(values)
        if nul is not None and nul.any():
            reasons.add(nul, str(name), "contains a NUL character", values)
            found[name] = nul
    return found


def _lists_joined(raw: pd.Series, nested: np.ndarray) -> pd.Series:
    """A list column's cells given as lists of text (JSON clients send them) joined by ';'."""
    joined = raw.copy()
    for row in np.flatnonzero(nested).tolist():
        cell = raw.iloc[row]
        if isinstance(cell, (list, tuple)) and all(isinstance(item, str) for item in cell):
            joined.iloc[row] = LIST_SEPARATOR.join(cell)
    return joined


def _check_number(
    raw: pd.Series,
    col: Column,
    reasons: RowReasons,
    empty: np.ndarray,
    text: pa.ChunkedArray | None = None,
    numbers: np.ndarray | None = None,
) -> pd.Series:
    """Check a numeric column whose `empty` cells were already dealt with; return its values.
    (`text`: raw as stripped reads it; `numbers`: raw as plain_numbers reads it.)"""
    number = numeric(raw, col, text) if numbers is None else numbers
    unread = np.flatnonzero(~empty & np.isnan(number))
    if unread.size:  # exports write an unknown number as "-", "N/A"...: it is empty
        text = stripped(raw) if text is None else text
        said = pc.utf8_lower(text.take(pa.array(unread)))
        unknown = pa.array(sorted(UNKNOWN_NUMBER), type=said.type)
        placeholder = np.zeros(len(raw), dtype=bool)
        placeholder[unread] = pc.fill_null(pc.is_in(said, value_set=unknown), False).to_numpy()
        empty = empty | placeholder | _spreadsheet_errors(text, col.name, reasons, unread)
        if col.required:
            reasons.add(placeholder, col.name, "required value missing", raw)
    reasons.add(~empty & np.isnan(number), col.name, "not a number", raw)
    finite_or_nan = np.isnan(number) | np.isfinite(number)
    reasons.add(~finite_or_nan, col.name, "not a finite number", raw)
    ok = np.isfinite(number)
    absurd = ok & (np.abs(number) > MAX_MAGNITUDE)
    reasons.add(absurd, col.name, "implausibly large", raw)
    ok &= ~absurd
    if col.kind == Kind.INT:
        reasons.add(ok & (number != np.round(number)), col.name, "not a whole number", raw)
    if col.min is not None:
        below = number <= col.min if col.min_exclusive else number < col.min
        sign = ">" if col.min_exclusive else ">="
        reasons.add(ok & below, col.name, f"must be {sign} {col.min:g}", raw)
    if col.max is not None:
        hint = "; a share is 0.625 or 62.5%" if col.share else ""
        reasons.add(ok & (number > col.max), col.name, f"must be <= {col.max:g}{hint}", raw)
    if col.kind == Kind.INT:
        # pd.array(np.round(number), dtype="Int64") with NaN where not ok, built directly:
        # the same values and mask (and the 1 it stores under the mask), at a tenth of the cost.
        whole = np.where(ok, np.round(number), 1.0).astype(np.int64)
        return pd.Series(pd.arrays.IntegerArray(whole, ~ok), index=raw.index)
    return pd.Series(np.where(ok, number, np.nan), index=raw.index)  # (floats already)


def _reject_above(
    frame: pd.DataFrame, typed: Mapping[str, pd.Series], table: Table, reasons: RowReasons
) -> None:
    """Rows where a column exceeds one it must not (sponsored posts above recent posts)."""
    for low, high in table.not_above:
        if low in typed and high in typed:
            lo = typed[low].to_numpy(dtype=float, na_value=np.nan)
            hi = typed[high].to_numpy(dtype=float, na_value=np.nan)
            above = np.isfinite(lo) & np.isfinite(hi) & (lo > hi)
            reasons.add(above, low, f"greater than {high}", frame[low])


def _reject_unknown_ids(
    frame: pd.DataFrame,
    compared: Mapping[str, pd.Series],
    known: Mapping[str, Iterable[object]],
    reasons: RowReasons,
) -> None:
    """Rows naming an id outside `known` (outcomes of creators no file holds); ids are
    compared as `compared` holds a column's (account columns as `account` reads them)."""
    for id_column, ids in known.items():
        allowed = pd.Series(list(ids), dtype="string")
        present = compared.get(id_column)
        if present is None:
            present = cell_text(frame[id_column], Kind.STRING)
            present = account(present) if id_column in ACCOUNT_COLUMNS else present
        if id_column in ACCOUNT_COLUMNS:
            allowed = account(allowed)
        allowed_ids = pd.Index(pd.unique(allowed))
        unknown = present.notna().to_numpy() & ~present.isin(allowed_ids).to_numpy(dtype=bool)
        what = id_column.removesuffix("_id")
        reasons.add(unknown, id_column, f"unknown {what}", frame[id_column])


def reason_first(rejects: pd.DataFrame, *leading: str) -> pd.DataFrame:
    """Rejected rows with `leading` columns, then reject_reason, first (a header alone if none)."""
    first = [*leading, REJECT_REASON]
    if REJECT_REASON not in rejects.columns:
        return pd.DataFrame(columns=first)
    return rejects[first + [c for c in rejects.columns if c not in first]]


def _check_ids(
    frame: pd.DataFrame,
    typed: Mapping[str, pd.Series],
    known: Mapping[str, Iterable[object]],
    key: tuple[str, ...],
    reasons: RowReasons,
    seen: KeySet | None,
    seen_problem: str,
) -> None:
    """validate's checks of ids: an account id must name an account ('@' alone does not),
    ids must be `known`, and keys unique (and not in `seen`), as keys are compared."""
    accounts = {c: account(typed[c]) for c in ACCOUNT_COLUMNS if c in typed}
    for column, accounts_named in accounts.items():
        nameless = (accounts_named == "").fillna(False).to_numpy(dtype=bool)
        reasons.add(nameless, column, "names no account", frame[column])
    _reject_unknown_ids(frame, {**typed, **accounts}, known, reasons)
    keys = pd.DataFrame(
        {k: typed[k] if k in typed else cell_text(frame[k], Kind.STRING) for k in key}
    )
    named = {
        c: accounts[c] if c in accounts else account(keys[c]) for c in ACCOUNT_COLUMNS if c in key
    }
    reject_duplicates(keys, keys.assign(**named), reasons, seen, seen_problem)


def validate(
    frame: pd.DataFrame,
    table: Table,
    *,
    known: Mapping[str, Iterable[object]] | None = None,
    source: str | None = None,
    key: tuple[str, ...] | None = None,
    seen: KeySet | None = None,
    seen_problem: str = DUPLICATE,
) -> Validated:
    """Split `frame` into rows that meet `table`'s contract and rejected rows.

    `known` maps an id column to the ids it may take (outcomes must name known
    creators and campaigns). Valid rows come back typed and normalised; columns
    outside the contract pass through untouched. Rejected rows keep their
    original values plus `reject_reason`. Headers as exports write them ("Avg.
    Likes") are read as the column they mean (`renamed` lists them). Duplicate
    keys (`key`, by default the table's): the first otherwise valid row wins. Ids
    of accounts (creator_id) are compared as the account they name (`account`:
    '@Handle' is 'handle'), here and against `known` and `seen`; rows keep them
    as written.
    `seen` holds keys met before (earlier chunks of a file, a history): an
    otherwise valid row with such a key is rejected with `seen_problem`, and the
    keys of this frame's valid rows are added to it. A NUL character in any
    cell rejects its row. Raises ContractError when a required column is missing
    altogether.
    """
    match = headers.contract_headers(frame, table.name, [*table.names, *(known or {})], source)
    frame = match.frame
    check_columns(frame, table, source)
    frame = frame.reset_index(drop=True)
    reasons = RowReasons(len(frame))
    nul = _reject_nul_cells(frame, reasons)
    typed = {}
    for col in table.columns:
        if col.name in frame.columns:
            typed[col.name] = _check_column(frame[col.name], col, reasons, nul.get(col.name))
    _reject_above(frame, typed, table, reasons)
    _check_ids(frame, typed, known or {}, key or table.key, reasons, seen, seen_problem)

    bad = reasons.bad
    rejects = frame.iloc[np.flatnonzero(bad)]
    rejects[REJECT_REASON] = pd.Series(reasons.strings(), index=rejects.index, dtype="str")
    valid = typed_frame(frame, typed)
    if bad.any():
        valid = valid.iloc[np.flatnonzero(~bad)]
    for col in table.columns:
        if col.default is not None and col.name not in valid.columns:
            valid[col.name] = col.default
    return Validated(
        valid=valid if numbered(valid.index) else valid.reset_index(drop=True),
        rejects=rejects.reset_index(drop=True),
        renamed=match.renamed,
    )
