"""Reading and writing tables: CSV, Parquet, JSON (Lines or an array) and XLSX, by extension.

Readers take files as people export them: UTF-8 with or without a BOM, legacy
Windows text (cp1252/latin-1) as a fallback, CRLF, comma, semicolon, tab or pipe
delimiters (detected), title rows above the header (skipped; `table_layout` says
where the header was found), the first sheet of a workbook or the one named or
numbered from 1. They keep values as the file holds them (CSV cells stay text, a
workbook's #DIV/0! stays that text, a NUL byte in a cell stays in it) so that a
rejected row can be written back exactly as it came in; schema.validate does the
typing and rejects such cells. A header given twice, or a JSON object giving a key
twice, is refused: one of the two would be ignored.

Writers are atomic and leave nothing behind: the table is written to an
unnamed file in the target's folder (Linux's O_TMPFILE), linked in and renamed
over the target only once complete, so a reader never sees half a file and a
killed run leaves no temporary file. A run's files are one `output_set`: all
are put in place together at its end, or, on any failure, none. Outputs get the
umask's permissions (an existing file keeps its own). Cells holding lists or
mappings are written as JSON text; in CSV, text that a spreadsheet would run as
a formula (=, +, -, @) is prefixed with a quote, except ids such as `@handle` in
key columns. `check_outputs` refuses, before any work, outputs that cannot be
written, would replace an input or each other, or lie inside an input folder.
"""

from __future__ import annotations

import codecs
import csv
import fcntl
import gzip
import io
import json
import math
import os
import re
import secrets
import signal
import stat
import warnings
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import pandas as pd

from recommender import _libc
from recommender.contract import (
    HEADER_SEARCH_ROWS,
    KEY_COLUMNS,
    header_row,
    known_headers,
    nested_cells,
)
from recommender.errors import DataFileError

FORMATS = {
    ".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".xlsx": "xlsx", ".xlsm": "xlsx",
}  # fmt: skip
WRITABLE = ("csv", "parquet", "jsonl", "json")
TABLE_EXTENSIONS = (".csv", ".parquet", ".jsonl", ".json", ".xlsx")  # a data folder's files
SNIFF_BYTES = 1 << 16  # enough lines to tell the encoding and the delimiter
DELIMITERS = (",", ";", "\t", "|")
LEGACY_BYTES = "creator-recommender-legacy"  # codec error handler: stray bytes as cp1252
TRAILING_CELLS = "\0after the last delimiter"  # a column name no header has
RAGGED = "a row has more cells than the header (a delimiter inside a cell that is not quoted?)"
NO_ROWS = "the file has no data rows"
# The first bytes of files that are not text, and what they are.
SIGNATURES = {
    b"PK\x03\x04": "a zip file: an .xlsx workbook named .csv?",
    b"PAR1": "a Parquet file named .csv?",
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1": "an old .xls workbook: save it as .xlsx or CSV",
    b"\x1f\x8b": "gzip-compressed: name it .csv.gz",
    b"%PDF": "a PDF",
}
# Bytes no text export writes (tab, line ends and form feeds aside) but NUL, which is judged
# where it is (a cell's problem; the header's, for the whole file): a file whose first bytes
# hold many of them (one in 32; random bytes hold one in ten) is no text at all.
CONTROL_BYTES = bytes([*range(1, 9), *range(14, 32)])


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def file_format(path: str | os.PathLike[str]) -> str:
    """The format a path's extension names (csv, parquet, jsonl, json, xlsx); DataFileError
    otherwise."""
    if Path(path).is_dir():
        return "parquet"  # a folder of Parquet part files, as Spark and Dask write them
    suffixes = Path(path).suffixes
    ext = suffixes[-1].lower() if suffixes else ""
    if ext == ".gz" and len(suffixes) > 1:
        ext = suffixes[-2].lower()
    if ext not in FORMATS:
        raise DataFileError(
            f"{path}: unknown file type {ext or '(none)'!r}; "
            "use .csv, .tsv, .parquet, .jsonl, .json or .xlsx"
        )
    return FORMATS[ext]


def output_format(path: str | os.PathLike[str]) -> str:
    """The format to write `path` in (csv, parquet, jsonl or json); DataFileError otherwise."""
    if str(path).lower().endswith(".gz"):
        raise DataFileError(f"{path}: cannot write compressed files; drop the .gz")
    fmt = file_format(path)
    if fmt not in WRITABLE:
        raise DataFileError(f"{path}: cannot write {fmt}; use .csv, .parquet, .jsonl or .json")
    return fmt


# CSV cells stay text exactly as written; schema.validate does the typing.
CSV_OPTIONS: dict[str, Any] = {"dtype": str, "keep_default_na": False, "na_filter": False}


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
            options = _csv_options(path)
            with _longer_rows_refused():
                frame: pd.DataFrame = _without_trailing_cells(pd.read_csv(path, **options), path)
        elif fmt == "parquet":  # a folder's own parts, not what pyarrow finds in subfolders
            frames = [_parquet_part(part).read().to_pandas() for part in part_files(path)]
            frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        elif fmt == "xlsx":
            frame = _read_xlsx(path, sheet)
        else:
            frame = _read_json(path)
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
        reader = pd.read_csv(path, chunksize=rows, **_csv_options(path))
        while True:
            with _longer_rows_refused():  # around each read only: the filter is global
                chunk = next(reader, None)
            if chunk is None:
                return
            yield _without_trailing_cells(chunk, path)
    elif fmt == "parquet":
        for part in part_files(path):
            for batch in _parquet_part(part).iter_batches(batch_size=rows):
                yield batch.to_pandas()
    elif fmt == "xlsx":
        yield _read_xlsx(path, sheet)
    else:
        yield _read_json(path)


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
            _, header_line, skipped = _csv_layout(path)
            return Layout(header_row=header_line + 1, skipped=skipped)
        if fmt != "xlsx":
            return Layout()
        with _workbook(path) as book:
            names = tuple(book.sheetnames)
            name = _sheet(path, list(names), sheet)
            rows = _sheet_rows(book[name], HEADER_SEARCH_ROWS)
        at = _header_index(rows)
        return Layout(
            header_row=at + 1,
            skipped=sum(1 for row in rows[:at] if row),
            sheet=name,
            sheets=names,
            header=_header_cells(rows[at]) if rows else (),
        )


def sheet_headers(path: str | os.PathLike[str]) -> dict[str, tuple[str, ...]]:
    """Each sheet of a workbook and its header's cells, found as read_table finds them
    (a sheet with no cell, or a chart, has none)."""
    with _whole_file_errors(path, "xlsx"), _workbook(path) as book:
        headers = {}
        for name in book.sheetnames:
            sheet = book[name]
            rows = _sheet_rows(sheet, HEADER_SEARCH_ROWS) if hasattr(sheet, "iter_rows") else []
            headers[name] = _header_cells(rows[_header_index(rows)]) if rows else ()
        return headers


def part_files(path: str | os.PathLike[str]) -> list[Path]:
    """The files a path names: itself, or the part files directly in a folder, in name
    order (hidden and _-prefixed files such as _SUCCESS aside), Parquet here, CSV too for
    Spark. DataFileError if there is none, or if the folder holds a folder: only a
    folder's own files are read, and the rows in that one would be left out unsaid."""
    folder = Path(path)
    if not folder.is_dir():
        return [folder]
    entries = sorted(p for p in folder.iterdir() if is_part_name(p.name))
    inner = [p for p in entries if p.is_dir()]
    if inner:
        raise DataFileError(inner_folder_text(inner[0], path))
    parts = [p for p in entries if p.is_file()]
    if not parts:
        raise DataFileError(f"{path}: an empty folder; expected Parquet part files in it")
    return parts


def is_part_name(name: str) -> bool:
    """Whether an entry of this name in a folder of parts is one: hidden and _-prefixed
    files (_SUCCESS, _summary.json) and .crc checksums are not."""
    return not name.startswith(("_", ".")) and not name.endswith(".crc")


def inner_folder_text(inner: object, path: object) -> str:
    """Why a folder of parts holding a folder is refused (its rows would go unread)."""
    return (f"{inner}: a folder inside the input folder {path}; only the part files "
            "directly in it are read: move that folder out")  # fmt: skip


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


def _legacy_bytes(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: bytes that are not UTF-8 are read as Windows' cp1252 (latin-1
    where cp1252 has no character), as spreadsheet exports on Windows write them."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    text = "".join(_cp1252(byte) for byte in bad)
    return text, exc.end


def _cp1252(byte: int) -> str:
    try:
        return bytes([byte]).decode("cp1252")
    except UnicodeDecodeError:
        return bytes([byte]).decode("latin-1")


codecs.register_error(LEGACY_BYTES, _legacy_bytes)


def _encoding(head: bytes) -> str:
    """The encoding a file's first bytes show: a BOM's, else UTF-8, whose stray bytes the
    LEGACY_BYTES handler reads as cp1252 (so a cp1252 file reads right, and so does a
    UTF-8 file with one Windows byte in it)."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # Excel's "Unicode text"
    return "utf-8"


def csv_dialect(path: str | os.PathLike[str]) -> tuple[str, str]:
    """(encoding, delimiter) of a CSV file, as the readers here take it (for other readers,
    such as Spark's); DataFileError for a file they would refuse."""
    options = _csv_options(path)
    return str(options["encoding"]), str(options["sep"])


def _csv_options(path: str | os.PathLike[str]) -> dict[str, Any]:
    """read_csv's options for this file: its encoding and delimiter, text cells, its header
    below any title rows; refuses a header that names a column twice, and bytes that are
    not text."""
    return _csv_layout(path)[0]


def _csv_layout(path: str | os.PathLike[str]) -> tuple[dict[str, Any], int, int]:
    """(read_csv's options, the header's line from 0, how many lines with cells above it)."""
    opener: Any = gzip.open if str(path).lower().endswith(".gz") else open
    with opener(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    not_text = _not_text(head)
    if not_text:
        raise DataFileError(f"{path}: not text ({not_text})")
    encoding = _encoding(head)
    text = head.decode(encoding, errors=LEGACY_BYTES)
    if len(head) == SNIFF_BYTES and "\n" in text:
        text = text[: text.rindex("\n") + 1]  # whole lines only
    if not text.strip():
        raise DataFileError(f"{path}: file is empty")
    text = io.StringIO(text, newline=None).getvalue()  # \r\n, \n and Excel for Mac's \r
    header_line, titles, delimiter = _header_line(text)
    if not header_line and (row := _first_row_of_more_cells(text)):
        raise DataFileError(f"{path}: the header seems to be on row {row}, below rows of one "
                            "cell (titles?); remove the rows above it")  # fmt: skip
    text = text.split("\n", header_line)[-1]
    rows = [row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if row][:200]
    refuse_repeated_headers(path, rows[0])
    if any("\0" in cell for cell in rows[0]):
        raise DataFileError(f"{path}: the header holds a NUL byte; is this a text export?")
    options = {**CSV_OPTIONS, "sep": delimiter, "encoding": encoding, "header": titles,
               "encoding_errors": LEGACY_BYTES, "index_col": False}  # fmt: skip
    width = len(rows[0])
    if rows[1:] and all(len(row) == width + 1 and not row[-1] for row in rows[1:]):
        # Every line ends with a delimiter: read the empty cell after it, then check it is.
        options["names"] = [*rows[0], TRAILING_CELLS]
    return options, header_line, titles


def _first_row_of_more_cells(text: str) -> int | None:
    """The row (from 1) where a CSV's table seems to start below title lines (of one cell,
    whatever the delimiter): the first line of more cells by some delimiter, when the next
    line with cells has as many; else None."""
    lines = text.split("\n", HEADER_SEARCH_ROWS)[:HEADER_SEARCH_ROWS]
    widths = {d: [len(next(csv.reader([line], delimiter=d), [])) for line in lines]
              for d in DELIMITERS}  # fmt: skip
    first = next((i for i, line in enumerate(lines) if line.strip()), 0)
    if any(cells[first] > 1 for cells in widths.values()):
        return None
    for cells in widths.values():
        wide = next((i for i, width in enumerate(cells) if width > 1), None)
        after = [width for width in cells[wide + 1 :] if width] if wide is not None else []
        if wide is not None and after and after[0] == cells[wide]:
            return wide + 1
    return None


def _not_text(head: bytes) -> str | None:
    """What a file beginning with `head` is when it is no text (a workbook, Parquet...), else
    None: a NUL byte is a cell's problem wherever it is (schema rejects its row), not the
    file's."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None  # Excel's "Unicode text": a NUL in every other byte
    for signature, what in SIGNATURES.items():
        if head.startswith(signature):
            return what
    control = len(head) - len(head.translate(None, CONTROL_BYTES))
    many = control >= 8 and control * 32 > len(head)
    return "a workbook or Parquet file named .csv?" if many else None


def _header_line(text: str) -> tuple[int, int, str]:
    """(the header's line from 0, the lines with cells above it, the delimiter) of a CSV's
    first lines. The header is the line naming the most contract columns, split by the
    delimiter that names the most (contract.header_row); when that is the first line with
    cells, or no line names two, the first line and the delimiter `_delimiter` finds."""
    lines = text.split("\n", HEADER_SEARCH_ROWS)[:HEADER_SEARCH_ROWS]
    first = next((i for i, line in enumerate(lines) if line.strip()), 0)
    most, line, delimiter = 1, first, ","  # contract columns named, where, split by
    for candidate in DELIMITERS:
        rows = [next(csv.reader([cells], delimiter=candidate), []) for cells in lines]
        found = header_row(rows)
        if found is not None and known_headers(rows[found]) > most:
            most, line, delimiter = known_headers(rows[found]), found, candidate
    if line <= first:
        return 0, 0, _delimiter(text)
    # read_csv's `header` counts lines with cells (whitespace other than the delimiter is none)
    blank = " \t".replace(delimiter, "")
    return line, sum(1 for above in lines[:line] if above.strip(blank)), delimiter


@contextmanager
def _longer_rows_refused() -> Iterator[None]:
    """pandas drops the cells of a row longer than the header with only a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        yield


def _without_trailing_cells(frame: pd.DataFrame, path: str | os.PathLike[str]) -> pd.DataFrame:
    """`frame` without the cells after a delimiter ending every line, once sure they are
    empty (a value there is a row longer than the header)."""
    if TRAILING_CELLS not in frame.columns:
        return frame
    filled = (frame[TRAILING_CELLS].fillna("") != "").to_numpy()
    if filled.any():  # the row's number in the file: chunks continue the index
        row = int(frame.index[np.flatnonzero(filled)[0]])
        raise DataFileError(f"{path}: {RAGGED}: data row {row + 1}")
    return frame.drop(columns=TRAILING_CELLS)


def _delimiter(text: str) -> str:
    """The delimiter that splits the header into the most cells (more than one) with the
    most sampled lines splitting alike (a footer or a short row may not); else a comma."""
    best, best_score = ",", (0, 1)
    for delimiter in DELIMITERS:
        rows = [row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if row][:200]
        width = len(rows[0]) if rows else 0
        score = (sum(len(row) == width for row in rows), width)
        if width > 1 and score > best_score:
            best, best_score = delimiter, score
    return best


def refuse_repeated_headers(path: str | os.PathLike[str], header: list[str]) -> None:
    """DataFileError when a header names a column twice (one of them would be ignored)."""
    names = [str(h).strip() for h in header if str(h).strip()]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DataFileError(
            f"{path}: column {repeated[0]!r} appears more than once in the header; keep one"
        )


def _read_xlsx(path: str | os.PathLike[str], sheet: str | int | None) -> pd.DataFrame:
    """A workbook sheet's cells as given (text such as "NA" or "null" stays text, an error
    such as #DIV/0! its text), its header below any title rows; blank rows are not rows."""
    with _workbook(path) as book:
        name = _sheet(path, book.sheetnames, sheet)
        rows = _sheet_rows(book[name])
    if not rows:
        raise DataFileError(f"{path}: sheet {name!r} is empty")
    at = _header_index(rows)
    header = list(_header_cells(rows[at]))
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
def _workbook(path: str | os.PathLike[str]) -> Iterator[Any]:
    """An .xlsx workbook open for reading its cells' values (a formula's last result)."""
    import openpyxl  # type: ignore[import-untyped]

    book = openpyxl.load_workbook(path, read_only=True, data_only=True, keep_links=False)
    try:
        yield book
    finally:
        book.close()


def _sheet_rows(sheet: Any, limit: int | None = None) -> list[list[Any]]:
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


def _header_index(rows: list[list[Any]]) -> int:
    """The header's row in a sheet's rows: the one naming the most contract columns, below
    any title rows (contract.header_row), else the first with a cell."""
    found = header_row(rows)
    if found is not None:
        return found
    return next((i for i, row in enumerate(rows) if row), 0)


def _header_cells(row: list[Any]) -> tuple[str, ...]:
    return tuple("" if h is None else str(h).strip() for h in row)


def _sheet(path: str | os.PathLike[str], names: list[str], sheet: str | int | None) -> str:
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


class _RepeatedKey(Exception):
    """A JSON object giving one key twice: which of its values was meant cannot be known."""


def _read_json(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A JSON array of objects, one JSON object, JSON Lines (one object per line), or an
    API's answer wrapping the array in an object of one key ({"data": [...]})."""
    with open(path, encoding="utf-8-sig", errors=LEGACY_BYTES) as handle:
        text = handle.read()
    if not text.strip():
        raise DataFileError(f"{path}: file is empty")
    try:
        whole = _json_value(text)
    except json.JSONDecodeError:
        records = _json_lines(path, text)
    except _RepeatedKey as exc:
        raise DataFileError(f"{path}: an object gives {exc} twice; keep one") from None
    else:
        if isinstance(whole, dict) and len(whole) == 1:
            (inner,) = whole.values()
            whole = inner if isinstance(inner, list) else whole
        records = whole if isinstance(whole, list) else [whole]
    if not all(isinstance(r, dict) for r in records):
        raise DataFileError(f"{path}: expected JSON objects, one per row (or an array of them)")
    # Ids such as "007" must stay text: build the frame as objects, let validation type it.
    return pd.DataFrame.from_records(records).astype(object) if records else pd.DataFrame()


def _json_lines(path: str | os.PathLike[str], text: str) -> list[Any]:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(_json_value(line))
        except json.JSONDecodeError as exc:
            raise DataFileError(f"{path}: line {number} is not JSON: {exc.msg}") from None
        except _RepeatedKey as exc:
            raise DataFileError(f"{path}: line {number} gives {exc} twice; keep one") from None
    return records


def _json_value(text: str) -> Any:
    """JSON text's value; a number no Python int or float holds (5,000 digits) stays its
    text, for validation to refuse on its row; _RepeatedKey for a key given twice."""
    try:
        return json.loads(text, object_pairs_hook=_json_object, parse_float=_json_float)
    except json.JSONDecodeError:
        raise
    except ValueError:  # an int of more digits than Python converts: read again, slower
        return json.loads(text, object_pairs_hook=_json_object, parse_int=_json_int,
                          parse_float=_json_float)  # fmt: skip


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = dict(pairs)
    if len(record) < len(pairs):
        keys = [key for key, _ in pairs]
        raise _RepeatedKey(repr(next(key for key in keys if keys.count(key) > 1)))
    return record


def _json_int(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:  # more digits than Python converts
        return text


def _json_float(text: str) -> float | str:
    value = float(text)
    return text if math.isinf(value) else value


@overload
def find_table(folder: Path, name: str, required: Literal[True] = True) -> Path: ...
@overload
def find_table(folder: Path, name: str, required: Literal[False]) -> Path | None: ...
def find_table(folder: Path, name: str, required: bool = True) -> Path | None:
    """The one file NAME.csv / .parquet / .jsonl / .json / .xlsx ... in `folder` (None if
    optional and absent)."""
    found = [folder / f"{name}{ext}" for ext in FORMATS if (folder / f"{name}{ext}").is_file()]
    if len(found) > 1:
        raise DataFileError(
            f"{folder}: more than one {name} file ({', '.join(p.name for p in found)})"
        )
    if not found:
        if required:
            raise DataFileError(f"{folder}: no {name} file ({', '.join(TABLE_EXTENSIONS)})")
        return None
    return found[0]


@contextmanager
def folder_lock(
    folder: Path, name: str, waiting: Callable[[], None] | None = None
) -> Iterator[None]:
    """Hold `folder`'s lock for the block, for `name` (said in errors): one process at a
    time, the others wait (`waiting` is called once when one has to). The lock is the
    folder's own (flock on the folder, which runs never replace), so it leaves no file
    behind; the system releases it when the process ends, however it ends."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise DataFileError(f"{folder}: cannot lock its {name}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting is not None:
                waiting()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # (which releases the lock)


def write_table(
    frame: pd.DataFrame, path: str | os.PathLike[str], own_words: Collection[str] = ()
) -> None:
    """Write `frame` to `path` atomically, in the format its extension names.

    In CSV, text a spreadsheet would run as a formula gets a leading quote, except
    in the `own_words` columns: text the package wrote itself (reasons), not a user;
    and except ids in key columns (schema.KEY_COLUMNS) that can call nothing, such as
    `@handle`: other files join on them.
    """
    with output_set(path) as outputs:
        outputs.table(frame, path, own_words)


def _write_frame(
    frame: pd.DataFrame, tmp_name: str, path: str | os.PathLike[str], own_words: Collection[str]
) -> None:
    """Write `frame` to `tmp_name` in the format `path`'s extension names."""
    fmt = output_format(path)
    if fmt == "csv":
        tab = Path(path).suffix.lower() == ".tsv"
        _to_csv(frame, tmp_name, "\t" if tab else ",", own_words)
    elif fmt == "parquet":
        _to_parquet(frame, tmp_name)
    else:
        frame.to_json(tmp_name, orient="records", lines=fmt == "jsonl", force_ascii=False,
                      date_format="iso")  # fmt: skip


class TableWriter:
    """Writes a table block by block (Arrow tables of one schema) into an open temporary file:
    CSV and TSV with one header, Parquet as row groups, JSON Lines, or one JSON array.
    Made by `streamed_table`, which names the file only once every block is in."""

    def __init__(self, tmp_name: str, fmt: str, delimiter: str, own_words: Collection[str]):
        self._name, self._fmt, self._delimiter = tmp_name, fmt, delimiter
        self._own_words = own_words
        self._writer: Any = None
        self._text: Any = None
        self._csv: _BlocksInOrder | None = None
        self._schema: Any = None
        self.rows = 0

    def write(self, table: Any) -> None:
        """Append the rows of the Arrow table `table` (the first block fixes the columns)."""
        if self._fmt == "csv":
            self._write_csv(table)
        elif self._fmt == "parquet":
            if self._writer is None:
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(self._name, table.schema)
            self._writer.write_table(table)
        else:
            if self._text is None:
                self._text = open(self._name, "w", encoding="utf-8")  # noqa: SIM115
                self._text.write("[" if self._fmt == "json" else "")
            lines = table.to_pandas().to_json(orient="records", lines=True, force_ascii=False,
                                  date_format="iso")  # fmt: skip
            if self._fmt == "json" and lines:
                lines = ("," if self.rows else "") + lines.rstrip("\n").replace("\n", ",")
            self._text.write(lines)
        self.rows += table.num_rows

    def _write_csv(self, table: Any) -> None:
        header = self._csv is None
        if self._csv is None:
            self._csv = _BlocksInOrder(self._name)
            self._schema = table.schema
        elif not table.schema.equals(self._schema):  # one header: every block its columns
            raise ValueError(f"a block's columns differ from the first's: {table.schema}")
        self._csv.add(_csv_text, table, self._own_words, self._delimiter, header)

    def close(self) -> None:
        """Finish the file (a JSON array's closing bracket, Parquet's footer)."""
        if self._csv is not None:
            self._csv.close()
        if self._writer is not None:
            self._writer.close()
        if self._text is not None:
            self._text.write("]" if self._fmt == "json" else "")
            self._text.close()


_memory = {"bounded": False}


def bounded_memory() -> None:
    """Let a long job's freed memory go back to the system as it goes (for a command that
    owns its process): large blocks from glibc's own pages (_libc.give_back_large_frees),
    and Arrow's buffers from the system allocator, which keeps no pool of its own."""
    import pyarrow as pa

    _libc.give_back_large_frees()
    pa.set_memory_pool(pa.system_memory_pool())
    _memory["bounded"] = True


def memory_bounded() -> bool:
    """Whether this process called bounded_memory (its workers should too)."""
    return _memory["bounded"]


def _csv_text(table: Any, own_words: Collection[str], delimiter: str, header: bool) -> Any:
    """The rows of `table` as CSV text, an Arrow buffer (with the header line first if
    `header`)."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    options = pa_csv.WriteOptions(quoting_style="needed", delimiter=delimiter,
                                  include_header=header)  # fmt: skip
    sink = pa.BufferOutputStream()
    pa_csv.write_csv(_csv_safe(table, own_words), sink, options)
    return sink.getvalue()


class _BlocksInOrder:
    """Appends blocks of text to a file in the order they are added, making them on
    FORMAT_THREADS threads at once: Arrow formats CSV without holding the GIL, so a long
    output is written on as many cores. At most FORMAT_THREADS blocks wait in memory."""

    FORMAT_THREADS = 2

    def __init__(self, path: str) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._file = open(path, "wb")  # noqa: SIM115 - closed by close()
        self._threads = ThreadPoolExecutor(self.FORMAT_THREADS, thread_name_prefix="format")
        self._pending: deque[Future[Any]] = deque()

    def add(self, make: Callable[..., Any], *args: Any) -> None:
        """Append make(*args), made on a thread."""
        self._pending.append(self._threads.submit(make, *args))
        while len(self._pending) > self.FORMAT_THREADS:
            self._file.write(self._pending.popleft().result())

    def close(self) -> None:
        """Write what is still being made, then close the file."""
        try:
            while self._pending:
                self._file.write(self._pending.popleft().result())
        finally:
            self._threads.shutdown(cancel_futures=True)
            self._file.close()


@contextmanager
def streamed_table(
    path: str | os.PathLike[str], own_words: Collection[str] = ()
) -> Iterator[TableWriter]:
    """A TableWriter for `path`, in the format its extension names, written atomically:
    the file appears, complete, only when the block ends without an error. At least one
    block must be written (an empty table fixes the header)."""
    with output_set(path) as outputs, outputs.streamed(path, own_words) as writer:
        yield writer


def arrow_table(frame: pd.DataFrame) -> Any:
    """`frame` as an Arrow table as the writers write it: nested cells as JSON text, and
    text for a column mixing numbers and text (which Arrow cannot type)."""
    import pyarrow as pa

    frame = _single_values(frame)
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (TypeError, ValueError):  # pyarrow's ArrowInvalid/ArrowTypeError derive from these
        # Rejected rows keep their original values, which may mix types in one
        # column (a number beside "n/a"); Parquet wants one type, so write text.
        mixed = [c for c in frame.columns if frame[c].dtype == object]
        return pa.Table.from_pandas(frame.astype({c: "string" for c in mixed}),
                                    preserve_index=False)  # fmt: skip


def write_json(value: Any, path: str | os.PathLike[str]) -> None:
    """Write `value` as indented, strict JSON (no NaN) to `path`, atomically."""
    with output_set(path) as outputs:
        outputs.json(value, path)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[str]:
    """A path to write that replaces `path` only once complete, with the umask's permissions
    (or those of the file it replaces); on failure, or if the process is killed, nothing
    is left behind."""
    with output_set(path) as outputs, outputs.file(path) as tmp_name:
        yield tmp_name


@contextmanager
def output_set(*paths: str | os.PathLike[str]) -> Iterator[OutputSet]:
    """An OutputSet of a run's `paths`, committed when the block ends without an error
    (unless committed in it). On an error, nothing is written and no earlier file is
    touched; the error carries a note that says so (the command prints it on Ctrl-C)."""
    outputs = OutputSet(paths)
    try:
        yield outputs
        outputs.commit()
    except BaseException as exc:
        if not outputs.committed:
            outputs.discard()
            exc.add_note(f"nothing was written: {_as_they_were(outputs.paths)}")
        raise


def _as_they_were(paths: list[Path]) -> str:
    names = [str(p) for p in paths]
    if len(names) == 1:
        return f"{names[0]} is as it was"
    return f"{', '.join(names[:-1])} and {names[-1]} are as they were"


class OutputSet:
    """The files of one run, put in place together (made by `output_set`).

    Each file is written under no name (an unnamed file, Linux's O_TMPFILE;
    elsewhere a hidden temporary one), and `commit` puts them all in place at the
    end, Ctrl-C and SIGTERM held off meanwhile. Until then no earlier file is
    touched; should putting one in place fail, those already in place are put back.
    So the folder holds the earlier set or the new one, never a mix. A member named
    but not written is removed by the commit: a file of an earlier run must not sit
    among the new ones as if it were theirs.
    """

    def __init__(self, paths: Iterable[str | os.PathLike[str]]) -> None:
        self.paths = [Path(p) for p in paths]
        self._staged: dict[Path, _Staged] = {}  # by the real file each replaces
        self.committed = False

    @contextmanager
    def file(self, path: str | os.PathLike[str]) -> Iterator[str]:
        """A path to write `path`'s new content to: `path` gets it at commit, with the
        umask's permissions (or those of the file it replaces). A failure to write it (a
        full disk, a read-only file system) is a DataFileError naming `path`."""
        with _write_errors(path):
            staged = _Staged.made_for(path)
        try:
            with _write_errors(path):
                yield staged.where
                staged.written()
        except BaseException:
            staged.discard()
            raise
        if staged.target in self._staged:  # written twice: the last one counts
            self._staged.pop(staged.target).discard()
        self._staged[staged.target] = staged
        if Path(path) not in self.paths:
            self.paths.append(Path(path))

    def table(
        self, frame: pd.DataFrame, path: str | os.PathLike[str], own_words: Collection[str] = ()
    ) -> None:
        """Write `frame` as `path`'s new content, as write_table writes it."""
        output_format(path)  # an unwritable format is said before a file is made
        with self.file(path) as tmp_name:
            _write_frame(frame, tmp_name, path, own_words)

    @contextmanager
    def streamed(
        self, path: str | os.PathLike[str], own_words: Collection[str] = ()
    ) -> Iterator[TableWriter]:
        """A TableWriter for `path`'s new content, as streamed_table gives one."""
        fmt = output_format(path)
        delimiter = "\t" if Path(path).suffix.lower() == ".tsv" else ","
        with self.file(path) as tmp_name:
            writer = TableWriter(tmp_name, fmt, delimiter, own_words)
            try:
                yield writer
            finally:
                writer.close()

    def json(self, value: Any, path: str | os.PathLike[str]) -> None:
        """Write `value` as indented, strict JSON (no NaN) as `path`'s new content."""
        with self.file(path) as tmp_name:
            Path(tmp_name).write_text(json.dumps(value, indent=2, allow_nan=False) + "\n")

    def commit(self) -> None:
        """Put every file written in place and remove the members not written, all or
        none; a failure is a DataFileError naming the file."""
        if self.committed:
            return
        staged = list(self._staged.values())
        stale = [p for p in self.paths if _stale(p, self._staged)]
        with _signals_held():
            try:
                for member in staged:
                    with _write_errors(member.given):
                        member.name_it()
                _swapped_in(staged, stale)
                self.committed = True
            finally:
                self.discard()

    def discard(self) -> None:
        """Drop every file written and not put in place: nothing of them is left."""
        for member in self._staged.values():
            member.discard()
        self._staged.clear()


def _stale(path: Path, staged: Mapping[Path, object]) -> bool:
    """Whether `path`, a member of a set, is an earlier run's file this run did not write
    (a symlink is left alone: what it points to may be another's)."""
    if path.is_symlink() or not path.is_file():
        return False
    return Path(os.path.realpath(path)) not in staged


@dataclass
class _Staged:
    """One member's new content, not yet in place: an open unnamed file (`fd`), or a
    file under a hidden temporary `name`; `target` is the real file it replaces."""

    given: str | os.PathLike[str]
    target: Path
    mode: int | None  # the permissions of the file it replaces, kept
    fd: int | None = None
    name: Path | None = None

    @classmethod
    def made_for(cls, path: str | os.PathLike[str]) -> _Staged:
        target = Path(os.path.realpath(path))  # through a symlink, which stays one
        if target.exists() and not target.is_file():  # never rename over a folder or a device
            raise DataFileError(f"{path}: is not a regular file; name a file to write")
        target.parent.mkdir(parents=True, exist_ok=True)
        mode = stat.S_IMODE(target.stat().st_mode) if target.is_file() else None
        staged = cls(path, target, mode, fd=_unnamed_file(target.parent))
        if staged.fd is None:  # no O_TMPFILE here (not Linux, or a filesystem without it)
            staged.name = _temporary_name(target)
            os.close(os.open(staged.name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        return staged

    @property
    def where(self) -> str:
        return f"/proc/self/fd/{self.fd}" if self.fd is not None else str(self.name)

    def written(self) -> None:
        if self.mode is None:
            return
        if self.fd is not None:  # after writing: a read-only file's mode would block it
            os.fchmod(self.fd, self.mode)
        elif self.name is not None:
            os.chmod(self.name, self.mode)

    def name_it(self) -> None:
        """Give an unnamed file its hidden temporary name beside the target."""
        if self.fd is not None and self.name is None:
            name = _temporary_name(self.target)
            _libc.link_open_file(self.fd, name)
            self.name = name

    def discard(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.name is not None:
            self.name.unlink(missing_ok=True)
            self.name = None


def _temporary_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")


def _swapped_in(staged: list[_Staged], stale: list[Path]) -> None:
    """Put each staged file in place and take each stale one away, keeping every earlier
    file under a hidden name until all is done; on a failure, put them all back."""
    earlier: list[tuple[Path, Path | None]] = []  # (a target, where its earlier file is)
    try:
        for member in staged:
            with _write_errors(member.given, "cannot be put in place"):
                assert member.name is not None, "named by commit"
                earlier.append((member.target, _swap(member.name, member.target)))
                member.name = None  # the target's now (or the earlier file's, kept)
        for path in stale:
            away = _temporary_name(path)
            with _write_errors(path, "cannot be removed"):
                os.rename(path, away)
            earlier.append((path, away))
    except BaseException:
        _put_back(earlier)
        raise
    for _, kept in earlier:
        if kept is not None:
            kept.unlink(missing_ok=True)


def _put_back(earlier: list[tuple[Path, Path | None]]) -> None:
    """Undo `_swapped_in`'s steps, the last first: each earlier file back in its place (a
    new file where there was none, removed). One that cannot be undone is said, with where
    its earlier file is, once the others are."""
    stuck: list[str] = []
    for target, kept in reversed(earlier):
        try:
            if kept is None:
                target.unlink(missing_ok=True)
            else:
                os.replace(kept, target)
        except OSError as exc:
            where = f"; the earlier file is {kept}" if kept is not None else ""
            stuck.append(f"{target}: cannot be put back as it was: {exc.strerror}{where}")
    if stuck:
        raise DataFileError(stuck[0])


def _swap(new: Path, target: Path) -> Path | None:
    """Put the file `new` at `target`; returns where the earlier file at `target` is now
    (a hidden name beside it), None if there was none. On an error, both stay as they were."""
    if not target.exists():
        os.replace(new, target)
        return None
    if _libc.exchange(new, target):  # one step: the earlier file is now at `new`
        return new
    # Without an exchange, the target is missing for an instant between the two renames.
    kept = _temporary_name(target)
    os.rename(target, kept)
    try:
        os.replace(new, target)
    except BaseException:
        os.rename(kept, target)
        raise
    return kept


@contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C (SIGINT) and SIGTERM act only once the block ends: a commit is not cut
    between two renames. (Only the main thread can hold them; signals run there.)"""
    received: list[int] = []
    previous: dict[int, Any] = {}
    with suppress(ValueError):  # not the main thread
        for held in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(held) is not None:  # None: set by C code, not restorable
                previous[held] = signal.signal(held, lambda n, _: received.append(n))
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in received:
            signal.raise_signal(number)


@contextmanager
def _write_errors(
    path: str | os.PathLike[str], problem: str = "cannot be written"
) -> Iterator[None]:
    """An OSError in the block (a full disk, a file too large, a read-only file system) as
    one DataFileError line naming `path`; a closed stdout (`| head`) is not about `path`."""
    try:
        yield
    except ConnectionError:
        raise
    except OSError as exc:
        raise write_error(path, exc, problem) from None


def write_error(
    path: str | os.PathLike[str], exc: OSError, problem: str = "cannot be written"
) -> DataFileError:
    """A DataFileError saying that `path` `problem` and why, in the system's words (such
    as "No space left on device"), and that no output was replaced."""
    why = os.strerror(exc.errno) if exc.errno else one_line(exc)
    return DataFileError(f"{path}: {problem}: {why}; no output was replaced")


def unnamed_file(folder: str | os.PathLike[str]) -> int:
    """A new file in `folder` that no name points to: it is gone when closed or when the
    process ends, killed or not (O_TMPFILE; elsewhere a file unlinked once opened)."""
    fd = _unnamed_file(Path(folder), os.O_RDWR)
    if fd is None:
        import tempfile

        fd, name = tempfile.mkstemp(dir=folder, prefix=".spill-")
        os.unlink(name)
    return fd


def _unnamed_file(folder: Path, access: int = os.O_WRONLY) -> int | None:
    """An unnamed file in `folder` (it vanishes with the process unless linked), or None."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not _libc.has("linkat"):  # without linkat it could not be named
        return None
    try:
        return os.open(folder, flag | access, 0o666)  # the kernel applies the umask
    except OSError:
        return None


def check_outputs(
    outputs: Mapping[str, str | os.PathLike[str] | None],
    inputs: Mapping[str, str | os.PathLike[str] | None],
    others: Mapping[str, str | os.PathLike[str]] | None = None,
) -> None:
    """Refuse, in one line and before any work, an output that cannot be written in its
    format or place, or that would replace an input or another output.

    Each maps a role ("output", "creators file") to a path; None entries are ignored.
    `outputs` are tables; `others` are files of other kinds (a figure), checked for
    their place only. An input folder is read whole, so no output may lie inside it.
    """
    taken: dict[object, str] = {}
    folders: dict[str, Path] = {}  # input folders, resolved
    for role, path in inputs.items():
        if path is not None:
            taken[_identity(path)] = role
            if Path(path).is_dir():
                folders[role] = Path(os.path.realpath(path))
    tables = {role: path for role, path in outputs.items() if path is not None}
    for role, path in {**tables, **(others or {})}.items():
        _refuse_unwritable(Path(path))
        if role in tables:
            output_format(path)
        resolved = Path(os.path.realpath(path))
        for folder_role, folder in folders.items():
            if resolved.is_relative_to(folder):
                raise DataFileError(
                    f"{path}: the {role} would be inside the {folder_role}, a folder read "
                    "whole (the next run would read it as input); choose a path outside it"
                )
        identity = _identity(path)
        if identity in taken:
            raise DataFileError(
                f"{path}: the {role} would replace the {taken[identity]}; choose another path"
            )
        taken[identity] = role


def _identity(path: str | os.PathLike[str]) -> object:
    """What names one file: its device and inode when it exists, else its resolved path.

    The path is resolved first: `missing/../creators.csv` is creators.csv once the
    writer has made `missing`."""
    resolved = os.path.realpath(path)
    with suppress(OSError):
        info = os.stat(resolved)
        return (info.st_dev, info.st_ino)
    return resolved


def _refuse_unwritable(path: Path) -> None:
    try:
        _refuse_unwritable_folder(path)
    except OSError as exc:  # a folder on the way that cannot even be looked into
        raise DataFileError(f"{path}: cannot be written: {exc.strerror}") from None


def _refuse_unwritable_folder(path: Path) -> None:
    if path.is_dir():
        raise DataFileError(f"{path}: is a folder; name a file to write")
    if path.exists() and not Path(os.path.realpath(path)).is_file():
        raise DataFileError(f"{path}: is not a regular file (a device?); name a file to write")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise DataFileError(f"{path}: cannot be written, {folder} is a file, not a folder")
    if _read_only(folder):  # which os.access would call no permission
        raise DataFileError(f"{path}: cannot be written, {folder} is on a read-only file system")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DataFileError(f"{path}: no permission to write in {folder}")


def _read_only(folder: Path) -> bool:
    """Whether `folder` is on a file system mounted read-only."""
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # no statvfs here (Windows): os.access says the rest
        return False


def _to_csv(frame: pd.DataFrame, path: str, delimiter: str, own_words: Collection[str]) -> None:
    """pyarrow's CSV writer, about 9x faster than pandas' on scored files; pandas writes
    what Arrow cannot type (a rejected column mixing numbers and text)."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    frame = _single_values(frame)
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (TypeError, ValueError):  # pyarrow's ArrowInvalid/ArrowTypeError derive from these
        risky_headers = {c: f"'{c}" for c in frame.columns if _runs_as_formula(str(c))}
        frame = frame.rename(columns=risky_headers) if risky_headers else frame
        _formulas_quoted(frame, own_words).to_csv(path, index=False, sep=delimiter)
        return
    options = pa_csv.WriteOptions(quoting_style="needed", delimiter=delimiter)
    pa_csv.write_csv(_csv_safe(table, own_words), path, options)


def _csv_safe(table: Any, own_words: Collection[str]) -> Any:
    """An Arrow table as a spreadsheet may open it: headers and text cells that would run as
    formulas get a leading quote (not in `own_words` columns)."""
    names = [f"'{c}" if _runs_as_formula(str(c)) else c for c in table.column_names]
    return _formulas_quoted_arrow(table.rename_columns(names), own_words)


def _to_parquet(frame: pd.DataFrame, path: str) -> None:
    import pyarrow.parquet as pq

    pq.write_table(arrow_table(frame), path)


def _single_values(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with cells holding lists or mappings (JSON and Parquet allow them) as JSON text."""
    nested = {
        column: frame[column].map(_json_text)
        for column in frame.columns
        if nested_cells(frame[column]).any()
    }
    return frame.assign(**nested) if nested else frame


def _json_text(value: object) -> object:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (set, tuple)):
        value = list(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


# A cell a spreadsheet would run as a formula, unless it is merely a signed number.
_FORMULA_CHARACTERS = "=+-@\t\r"
# Numbers as people write them (-5, -$7.00, +2.1%, -1.2K) and a lone dash: no formula runs.
_SIGNED_NUMBER = (
    r"^(?:[+-]?\s*(?:US\$|\$|USD)?\s*(?:\d[\d,. ]*|\.\d+)(?:[eE][+-]?\d+)?\s*[kKmMbB]?\s*%?"
    r"|-+)$"
)


# An id in a key column that starts like a formula yet can call nothing: a handle such as
# @name, @first.last or -name (no brackets, quotes, spaces, | or !). Other files join on
# it, so it is written as given; a spreadsheet may show #NAME? for it, and runs nothing.
# Twice, for Python's re (\w: any letter or digit) and for Arrow's RE2 (\w: ASCII only).
_PLAIN_KEY = r"^[+\-@][\w.\-]*$"
_PLAIN_KEY_RE2 = r"^[+\-@][\pL\pN_.\-]*$"


def _runs_as_formula(text: str, key: bool = False) -> bool:
    """Whether a spreadsheet would run `text` as a formula: it starts like one and is not a
    number, nor, in a key column (`key`), a plain id (the rule `_formulas_quoted_arrow`
    applies to whole columns)."""
    if text == "" or text[0] not in _FORMULA_CHARACTERS or re.fullmatch(_SIGNED_NUMBER, text):
        return False
    return not (key and re.fullmatch(_PLAIN_KEY, text))


def _formulas_quoted_arrow(table: Any, own_words: Collection[str]) -> Any:
    """Arrow's fast path of `_formulas_quoted`: only text columns with such a cell change."""
    import pyarrow as pa
    import pyarrow.compute as pc

    starts = pa.array(list(_FORMULA_CHARACTERS))
    for index, column in enumerate(table.columns):
        text = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
        if not text or table.column_names[index] in own_words:
            continue
        # A first-character lookup: a regex over every cell of a long file costs far more.
        risky = pc.is_in(pc.utf8_slice_codeunits(column, 0, 1), value_set=starts)
        if not pc.any(risky).as_py():
            continue
        risky = pc.and_(risky, pc.invert(pc.match_substring_regex(column, _SIGNED_NUMBER)))
        if table.column_names[index] in KEY_COLUMNS:
            risky = pc.and_(risky, pc.invert(pc.match_substring_regex(column, _PLAIN_KEY_RE2)))
        quote, nothing = pa.scalar("'", column.type), pa.scalar("", column.type)
        quoted = pc.binary_join_element_wise(quote, column, nothing)
        table = table.set_column(index, table.field(index), pc.if_else(risky, quoted, column))
    return table


def _formulas_quoted(frame: pd.DataFrame, own_words: Collection[str]) -> pd.DataFrame:
    """Text cells a spreadsheet would run as a formula ("=HYPERLINK(...)") with a leading quote,
    so that opening the CSV shows them instead (OWASP's advice for CSV injection)."""
    quoted = {}
    for column in frame.columns:
        values = frame[column]
        text = values.dtype == object or pd.api.types.is_string_dtype(values.dtype)
        if column in own_words or not text:
            continue
        key = column in KEY_COLUMNS
        cells = [isinstance(v, str) and _runs_as_formula(v, key) for v in values]
        risky = pd.Series(cells, index=values.index, dtype=bool)
        if risky.any():
            quoted[column] = values.mask(risky, "'" + values[risky].astype(str))
    return frame.assign(**quoted) if quoted else frame
