"""Tables read as people export them: CSV, Parquet (a file or a folder of parts), JSON
(Lines or an array) and XLSX, by extension.

Readers keep values as the file holds them (CSV cells stay text) so that a
rejected row can be written back exactly as it came in; contract.validate does
the typing. A whole-file problem is one DataFileError line naming the file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from recommender.contract import (
    HEADER_SEARCH_ROWS,
)
from recommender.errors import DataFileError, one_line
from recommender.io._csv import (
    RAGGED,
    csv_layout,
    csv_options,
    longer_rows_refused,
    without_trailing_cells,
)
from recommender.io._json import read_json
from recommender.io._xlsx import (
    header_cells,
    header_index,
    read_xlsx,
    sheet_named,
    sheet_rows,
    workbook,
)
from recommender.io.paths import file_format, part_files

NO_ROWS = "the file has no data rows"


@contextmanager
def _whole_file_errors(path: str | os.PathLike[str], fmt: str) -> Iterator[None]:
    """Turn any failure while reading `path` into one DataFileError line."""
    if Path(path).is_dir():
        part_files(path)  # refuses a folder with no part in it
    elif not Path(path).is_file():
        raise DataFileError(f"{path}: no such file")
    try:
        yield
    except DataFileError:
        raise
    except pd.errors.EmptyDataError:
        raise DataFileError(f"{path}: file is empty") from None
    except pd.errors.ParserWarning:
        raise DataFileError(f"{path}: {RAGGED} in the first rows") from None
    except Exception as exc:  # any parser failure is a whole-file problem for the user
        ragged = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if ragged:
            header, line, cells = ragged.groups()
            raise DataFileError(f"{path}: {RAGGED}: line {line} has {cells} cells, the "
                                f"header {header}") from None  # fmt: skip
        raise DataFileError(f"{path}: cannot read as {fmt}: {one_line(exc)}") from None


def read_table(
    path: str | os.PathLike[str], sheet: str | int | None = None, *, require_rows: bool = False
) -> pd.DataFrame:
    """Read a whole table; raise DataFileError with one line on any file-level problem.

    `sheet`: the workbook sheet to read, by name or by number counting from 1 as
    spreadsheets do (default the first). Title rows above the header are skipped
    (`table_layout` says where the header is). `require_rows`: a table with no row
    (a header alone) is refused, "the file has no data rows".
    """
    fmt = _readable(path, sheet)
    with _whole_file_errors(path, fmt):
        if fmt == "csv":
            options = csv_options(path)
            with longer_rows_refused():
                frame: pd.DataFrame = without_trailing_cells(pd.read_csv(path, **options), path)
        elif fmt == "parquet":  # a folder's own parts, not what pyarrow finds in subfolders
            frames = [_parquet_part(part).read().to_pandas() for part in part_files(path)]
            frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        elif fmt == "xlsx":
            frame = read_xlsx(path, sheet)
        else:
            frame = read_json(path)
    if require_rows and not len(frame):
        raise DataFileError(f"{path}: {NO_ROWS}")
    return frame


def read_chunks(
    path: str | os.PathLike[str], rows: int, sheet: str | int | None = None
) -> Iterator[pd.DataFrame]:
    """A table in chunks of about `rows` rows, none empty (CSV and Parquet stream; JSON and
    XLSX are read whole); DataFileError "the file has no data rows" for a table with no
    row (a header alone)."""
    fmt = _readable(path, sheet)
    with _whole_file_errors(path, fmt):
        given = 0
        for chunk in _chunks(path, fmt, rows, sheet):
            if len(chunk):
                given += len(chunk)
                yield chunk
        if not given:
            raise DataFileError(f"{path}: {NO_ROWS}")


def _chunks(
    path: str | os.PathLike[str], fmt: str, rows: int, sheet: str | int | None
) -> Iterator[pd.DataFrame]:
    if fmt == "csv":
        reader = pd.read_csv(path, chunksize=rows, **csv_options(path))
        while True:
            with longer_rows_refused():  # around each read only: the filter is global
                chunk = next(reader, None)
            if chunk is None:
                return
            yield without_trailing_cells(chunk, path)
    elif fmt == "parquet":
        for part in part_files(path):
            for batch in _parquet_part(part).iter_batches(batch_size=rows):
                yield batch.to_pandas()
    elif fmt == "xlsx":
        yield read_xlsx(path, sheet)
    else:
        yield read_json(path)


@dataclass(frozen=True)
class Layout:
    """Where a file's table is: for a workbook, the sheet read among its sheets; the row of
    its header (1 is the first), and how many rows with cells above it were skipped as
    titles; the header's cells (for a workbook)."""

    header_row: int = 1
    skipped: int = 0
    sheet: str | None = None
    sheets: tuple[str, ...] = ()
    header: tuple[str, ...] = ()

    def sheet_text(self) -> str:
        """The sheet as people count them: "sheet 'Creators', 2 of 2" ('' for no workbook)."""
        if self.sheet is None:
            return ""
        return f"sheet {self.sheet!r}, {self.sheets.index(self.sheet) + 1} of {len(self.sheets)}"

    def notes(self) -> list[str]:
        """What a reader of the file should know: the sheet read, title rows skipped."""
        notes = [f"read {self.sheet_text()}"] if self.sheet is not None else []
        if self.skipped:
            rows = "1 row" if self.skipped == 1 else f"{self.skipped} rows"
            notes.append(f"the header is on row {self.header_row}: skipped {rows} above it")
        return notes


def table_layout(path: str | os.PathLike[str], sheet: str | int | None = None) -> Layout:
    """Where read_table(path, sheet) finds the table (see Layout); DataFileError with one
    line for a file it would refuse."""
    fmt = _readable(path, sheet)
    with _whole_file_errors(path, fmt):
        if fmt == "csv":
            _, header_line, skipped = csv_layout(path)
            return Layout(header_row=header_line + 1, skipped=skipped)
        if fmt != "xlsx":
            return Layout()
        with workbook(path) as book:
            names = tuple(book.sheetnames)
            name = sheet_named(path, list(names), sheet)
            rows = sheet_rows(book[name], HEADER_SEARCH_ROWS)
        at = header_index(rows)
        return Layout(
            header_row=at + 1,
            skipped=sum(1 for row in rows[:at] if row),
            sheet=name,
            sheets=names,
            header=header_cells(rows[at]) if rows else (),
        )


def sheet_headers(path: str | os.PathLike[str]) -> dict[str, tuple[str, ...]]:
    """Each sheet of a workbook and its header's cells, found as read_table finds them
    (a sheet with no cell, or a chart, has none)."""
    with _whole_file_errors(path, "xlsx"), workbook(path) as book:
        headers = {}
        for name in book.sheetnames:
            sheet = book[name]
            rows = sheet_rows(sheet, HEADER_SEARCH_ROWS) if hasattr(sheet, "iter_rows") else []
            headers[name] = header_cells(rows[header_index(rows)]) if rows else ()
        return headers


def _parquet_part(part: Path) -> Any:
    """A Parquet file to read (pyarrow's ParquetFile); DataFileError naming it if it is none
    (in a folder of parts: an earlier output left there?)."""
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(part)
    except Exception as exc:  # pyarrow's ArrowInvalid, or an OSError
        raise DataFileError(f"{part}: cannot read as parquet: {one_line(exc)}") from None


def _readable(path: str | os.PathLike[str], sheet: str | int | None) -> str:
    fmt = file_format(path)
    if sheet is not None and fmt != "xlsx":
        raise DataFileError(f"{path}: a sheet ({sheet!r}) was asked for, but this is not .xlsx")
    return fmt
