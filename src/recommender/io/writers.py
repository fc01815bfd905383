"""Tables written in the format a path's extension names: CSV through Arrow (formulas
guarded), Parquet, JSON Lines, JSON; cells holding lists or mappings as JSON text.
`TableWriter` writes a long table block by block. Where a file appears, and when,
is io.outputs' business.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Callable, Collection
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recommender.contract import (
    nested_cells,
)
from recommender.io._formulas import formulas_quoted, formulas_quoted_arrow, runs_as_formula
from recommender.io.paths import output_format


def write_frame(
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


def _to_csv(frame: pd.DataFrame, path: str, delimiter: str, own_words: Collection[str]) -> None:
    """The frame as CSV, by pyarrow's writer where Arrow can type every column, else by
    pandas' (a rejected column mixing numbers and text): the same text either way."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    frame = _single_values(frame)
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (TypeError, ValueError):  # pyarrow's ArrowInvalid/ArrowTypeError derive from these
        risky_headers = {c: f"'{c}" for c in frame.columns if runs_as_formula(str(c))}
        frame = frame.rename(columns=risky_headers) if risky_headers else frame
        formulas_quoted(frame, own_words).to_csv(path, index=False, sep=delimiter)
        return
    options = pa_csv.WriteOptions(quoting_style="needed", delimiter=delimiter)
    pa_csv.write_csv(_csv_safe(table, own_words), path, options)


def _csv_safe(table: Any, own_words: Collection[str]) -> Any:
    """An Arrow table as a spreadsheet may open it: headers and text cells that would run as
    formulas get a leading quote (not in `own_words` columns)."""
    names = [f"'{c}" if runs_as_formula(str(c)) else c for c in table.column_names]
    return formulas_quoted_arrow(table.rename_columns(names), own_words)


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
