"""Reading and writing tables as CSV, Parquet or JSON Lines, chosen by extension.

Readers keep values as the file holds them (CSV cells stay text) so that a
rejected row can be written back exactly as it came in; schema.validate does
the typing. Writers are atomic: a temporary file in the target directory, then
a rename, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, overload

import pandas as pd

from recommender.errors import DataFileError

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl"}


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def file_format(path: str | os.PathLike[str]) -> str:
    """The format a path's extension names (csv, parquet or jsonl); DataFileError otherwise."""
    suffixes = Path(path).suffixes
    ext = suffixes[-1].lower() if suffixes else ""
    if ext == ".gz" and len(suffixes) > 1:
        ext = suffixes[-2].lower()
    if ext not in FORMATS:
        raise DataFileError(
            f"{path}: unknown file type {ext or '(none)'!r}; use .csv, .parquet or .jsonl"
        )
    return FORMATS[ext]


# CSV cells stay text exactly as written; schema.validate does the typing.
CSV_OPTIONS: dict[str, Any] = {"dtype": str, "keep_default_na": False, "na_filter": False}


@contextmanager
def _whole_file_errors(path: str | os.PathLike[str], fmt: str) -> Iterator[None]:
    """Turn any failure while reading `path` into one DataFileError line."""
    if not Path(path).is_file():
        raise DataFileError(f"{path}: no such file")
    try:
        yield
    except DataFileError:
        raise
    except pd.errors.EmptyDataError:
        raise DataFileError(f"{path}: file is empty") from None
    except Exception as exc:  # any parser failure is a whole-file problem for the user
        raise DataFileError(f"{path}: cannot read as {fmt}: {one_line(exc)}") from None


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a whole table; raise DataFileError with one line on any file-level problem."""
    fmt = file_format(path)
    with _whole_file_errors(path, fmt):
        if fmt == "csv":
            frame: pd.DataFrame = pd.read_csv(path, **CSV_OPTIONS)
            return frame
        if fmt == "parquet":
            return pd.read_parquet(path)
        return _read_jsonl(path)


def read_chunks(path: str | os.PathLike[str], rows: int) -> Iterator[pd.DataFrame]:
    """A table in chunks of about `rows` rows (CSV and Parquet stream; JSON Lines is read whole)."""
    fmt = file_format(path)
    with _whole_file_errors(path, fmt):
        if fmt == "csv":
            yield from pd.read_csv(path, chunksize=rows, **CSV_OPTIONS)
        elif fmt == "parquet":
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
                yield batch.to_pandas()
        else:
            yield _read_jsonl(path)


def _read_jsonl(path: str | os.PathLike[str]) -> pd.DataFrame:
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFileError(f"{path}: line {number} is not JSON: {exc.msg}") from None
            if not isinstance(record, dict):
                raise DataFileError(f"{path}: line {number} is not a JSON object")
            records.append(record)
    # Ids such as "007" must stay text: build the frame as objects, let validation type it.
    return pd.DataFrame.from_records(records).astype(object) if records else pd.DataFrame()


@overload
def find_table(folder: Path, name: str, required: Literal[True] = True) -> Path: ...
@overload
def find_table(folder: Path, name: str, required: Literal[False]) -> Path | None: ...
def find_table(folder: Path, name: str, required: bool = True) -> Path | None:
    """The one file NAME.csv / .parquet / .jsonl in `folder` (None if optional and absent)."""
    found = [folder / f"{name}{ext}" for ext in FORMATS if (folder / f"{name}{ext}").is_file()]
    if len(found) > 1:
        raise DataFileError(
            f"{folder}: more than one {name} file ({', '.join(p.name for p in found)})"
        )
    if not found:
        if required:
            raise DataFileError(f"{folder}: no {name} file (.csv, .parquet or .jsonl)")
        return None
    return found[0]


def write_table(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write `frame` to `path` atomically, in the format its extension names."""
    fmt = file_format(path)
    with atomic_path(path) as tmp_name:
        if fmt == "csv":
            _to_csv(frame, tmp_name)
        elif fmt == "parquet":
            _to_parquet(frame, tmp_name)
        else:
            frame.to_json(tmp_name, orient="records", lines=True, force_ascii=False)


def write_json(value: Any, path: str | os.PathLike[str]) -> None:
    """Write `value` as indented, strict JSON (no NaN) to `path`, atomically."""
    with atomic_path(path) as tmp_name:
        Path(tmp_name).write_text(json.dumps(value, indent=2, allow_nan=False) + "\n")


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[str]:
    """A temporary file beside `path` to write; it replaces `path` only once complete."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield tmp_name
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _to_csv(frame: pd.DataFrame, path: str) -> None:
    """pyarrow's CSV writer, about 9x faster than pandas' on scored files; pandas writes
    what Arrow cannot type (a rejected column mixing numbers and text)."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (TypeError, ValueError):  # pyarrow's ArrowInvalid/ArrowTypeError derive from these
        frame.to_csv(path, index=False)
        return
    pa_csv.write_csv(table, path, pa_csv.WriteOptions(quoting_style="needed"))


def _to_parquet(frame: pd.DataFrame, path: str) -> None:
    try:
        frame.to_parquet(path, index=False)
    except (TypeError, ValueError):  # pyarrow's ArrowInvalid/ArrowTypeError derive from these
        # Rejected rows keep their original values, which may mix types in one
        # column (a number beside "n/a"); Parquet wants one type, so write text.
        mixed = [c for c in frame.columns if frame[c].dtype == object]
        frame.astype({c: "string" for c in mixed}).to_parquet(path, index=False)
