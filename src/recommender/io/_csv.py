"""CSV as people export it, sniffed before pandas reads it: the encoding (UTF-8 with or
without a BOM, UTF-16, Windows' cp1252 byte by byte), the delimiter, title rows above
the header, a delimiter ending every line, and bytes that are no text at all.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from recommender.contract import (
    HEADER_SEARCH_ROWS,
    header_row,
    known_headers,
)
from recommender.errors import DataFileError

SNIFF_BYTES = 1 << 16  # enough lines to tell the encoding and the delimiter


DELIMITERS = (",", ";", "\t", "|")


LEGACY_BYTES = "creator-recommender-legacy"  # codec error handler: stray bytes as cp1252


TRAILING_CELLS = "\0after the last delimiter"  # a column name no header has


RAGGED = "a row has more cells than the header (a delimiter inside a cell that is not quoted?)"


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


# CSV cells stay text exactly as written; schema.validate does the typing.
CSV_OPTIONS: dict[str, Any] = {"dtype": str, "keep_default_na": False, "na_filter": False}


def _legacy_bytes(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: bytes that are not UTF-8 are read as Windows' cp1252 (latin-1
    where cp1252 has no character), as spreadsheet exports on Windows write them."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    text = "".join(_cp1252(byte) for byte in bad)
    return text, exc.end


codecs.register_error(LEGACY_BYTES, _legacy_bytes)


def _cp1252(byte: int) -> str:
    try:
        return bytes([byte]).decode("cp1252")
    except UnicodeDecodeError:
        return bytes([byte]).decode("latin-1")


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
    options = csv_options(path)
    return str(options["encoding"]), str(options["sep"])


def csv_options(path: str | os.PathLike[str]) -> dict[str, Any]:
    """read_csv's options for this file: its encoding and delimiter, text cells, its header
    below any title rows; refuses a header that names a column twice, and bytes that are
    not text."""
    return csv_layout(path)[0]


def csv_layout(path: str | os.PathLike[str]) -> tuple[dict[str, Any], int, int]:
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
def longer_rows_refused() -> Iterator[None]:
    """pandas drops the cells of a row longer than the header with only a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        yield


def without_trailing_cells(frame: pd.DataFrame, path: str | os.PathLike[str]) -> pd.DataFrame:
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
