"""Workbooks read through openpyxl: a sheet's cells as written (text stays text, an
error cell shows its error), sheets counted from 1 as spreadsheets count them, and
the header found below title rows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd

from recommender.contract import (
    header_row,
)
from recommender.errors import DataFileError
from recommender.io._csv import refuse_repeated_headers


def read_xlsx(path: str | os.PathLike[str], sheet: str | int | None) -> pd.DataFrame:
    """A workbook sheet's cells as given (text such as "NA" or "null" stays text, an error
    such as #DIV/0! its text), its header below any title rows; blank rows are not rows."""
    with workbook(path) as book:
        name = sheet_named(path, book.sheetnames, sheet)
        rows = sheet_rows(book[name])
    if not rows:
        raise DataFileError(f"{path}: sheet {name!r} is empty")
    at = header_index(rows)
    header = list(header_cells(rows[at]))
    refuse_repeated_headers(path, header)
    body = [row for row in rows[at + 1 :] if row]
    width = max(len(row) for row in rows[at:])
    header += [""] * (width - len(header))
    names: list[str] = []
    for i, h in enumerate(header):
        name = h or f"Unnamed: {i}"
        while name in names or (not h and name in header):  # a header may read "Unnamed: 6"
            name += "_"
        names.append(name)
    cells = [row + [None] * (width - len(row)) for row in body]
    return pd.DataFrame(cells, columns=pd.Index(names), dtype=object)


@contextmanager
def workbook(path: str | os.PathLike[str]) -> Iterator[Any]:
    """An .xlsx workbook open for reading its cells' values (a formula's last result)."""
    import openpyxl  # type: ignore[import-untyped]

    book = openpyxl.load_workbook(path, read_only=True, data_only=True, keep_links=False)
    try:
        yield book
    finally:
        book.close()


def sheet_rows(sheet: Any, limit: int | None = None) -> list[list[Any]]:
    """A worksheet's first `limit` rows (all by default), its first as [0]: each cell's value
    (None where empty, whole numbers as int, an error such as #DIV/0! as its text), no
    empty cell at a row's end and no empty row at the end."""
    sheet.reset_dimensions()  # a size saved wrong by the writing program would cut rows off
    rows: list[list[Any]] = []
    for values in sheet.iter_rows(values_only=True):
        row = [_cell(value) for value in values]
        while row and row[-1] is None:
            row.pop()
        rows.append(row)
        if limit is not None and len(rows) >= limit:
            break
    while rows and not rows[-1]:
        rows.pop()
    return rows


def _cell(value: Any) -> Any:
    if value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)  # as spreadsheets show it: 1500, not 1500.0
    return value


def header_index(rows: list[list[Any]]) -> int:
    """The header's row in a sheet's rows: the one naming the most contract columns, below
    any title rows (contract.header_row), else the first with a cell."""
    found = header_row(rows)
    if found is not None:
        return found
    return next((i for i, row in enumerate(rows) if row), 0)


def header_cells(row: list[Any]) -> tuple[str, ...]:
    """A sheet row's cells as header text (an empty cell is '')."""
    return tuple("" if h is None else str(h).strip() for h in row)


def sheet_named(path: str | os.PathLike[str], names: list[str], sheet: str | int | None) -> str:
    """The sheet asked for: a name (exactly, else ignoring case), or a number counting from 1
    as spreadsheets do (also given as text, "2"); the first by default."""
    if sheet is None:
        return names[0]
    text = str(sheet).strip()
    if text in names:
        return text
    alike = [name for name in names if name.strip().casefold() == text.casefold()]
    if len(alike) == 1:
        return alike[0]
    if text.isascii() and text.isdigit() and 1 <= int(text) <= len(names):
        return names[int(text) - 1]
    listed = ", ".join(f"{number} {name!r}" for number, name in enumerate(names, start=1))
    raise DataFileError(f"{path}: no sheet {sheet!r}; its sheets are {listed} (a name, or a "
                        "number from 1)")  # fmt: skip
