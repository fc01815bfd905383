"""Reading and writing tables: CSV, Parquet, JSON (Lines or an array) and XLSX, by extension.

Readers take files as people export them: UTF-8 with or without a BOM, legacy
Windows text (cp1252/latin-1) as a fallback, CRLF, comma, semicolon, tab or pipe
delimiters (detected), the first sheet of a workbook (or a named one). They keep
values as the file holds them (CSV cells stay text) so that a rejected row can
be written back exactly as it came in; schema.validate does the typing. A
header given twice is refused: one of the two would be ignored.

Writers are atomic and leave nothing behind: the table is written to an
unnamed file in the target's folder (Linux's O_TMPFILE), linked in and renamed
over the target only once complete, so a reader never sees half a file and a
killed run leaves no temporary file. Outputs get the umask's permissions (an
existing file keeps its own). Cells holding lists or mappings are written as
JSON text; in CSV, text that a spreadsheet would run as a formula (=, +, -, @)
is prefixed with a quote. `check_outputs` refuses, before any work, outputs
that cannot be written or would replace an input or each other.
"""

from __future__ import annotations

import codecs
import csv
import fcntl
import gzip
import io
import json
import os
import re
import secrets
import stat
import warnings
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import pandas as pd

from recommender import exports, libc
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


def read_table(path: str | os.PathLike[str], sheet: str | int | None = None) -> pd.DataFrame:
    """Read a whole table; raise DataFileError with one line on any file-level problem.

    `sheet`: the workbook sheet to read (name or 0-based position; default the first).
    """
    fmt = _readable(path, sheet)
    with _whole_file_errors(path, fmt):
        if fmt == "csv":
            options = _csv_options(path)
            with _longer_rows_refused():
                frame: pd.DataFrame = pd.read_csv(path, **options)
            return _without_trailing_cells(frame, path)
        if fmt == "parquet":
            return pd.read_parquet(path)
        if fmt == "xlsx":
            return _read_xlsx(path, sheet)
        return _read_json(path)


def read_chunks(
    path: str | os.PathLike[str], rows: int, sheet: str | int | None = None
) -> Iterator[pd.DataFrame]:
    """A table in chunks of about `rows` rows (CSV and Parquet stream; JSON and XLSX are
    read whole)."""
    fmt = _readable(path, sheet)
    with _whole_file_errors(path, fmt):
        if fmt == "csv":
            reader = pd.read_csv(path, chunksize=rows, **_csv_options(path))
            while True:
                with _longer_rows_refused():  # around each read only: the filter is global
                    chunk = next(reader, None)
                if chunk is None:
                    return
                yield _without_trailing_cells(chunk, path)
        elif fmt == "parquet":
            import pyarrow.parquet as pq

            for part in part_files(path):
                for batch in pq.ParquetFile(part).iter_batches(batch_size=rows):
                    yield batch.to_pandas()
        elif fmt == "xlsx":
            yield _read_xlsx(path, sheet)
        else:
            yield _read_json(path)


def part_files(path: str | os.PathLike[str]) -> list[Path]:
    """The files a path names: itself, or a folder's part files in name order (hidden and
    _-prefixed files such as _SUCCESS aside), Parquet here, CSV too for Spark; DataFileError
    if none."""
    folder = Path(path)
    if not folder.is_dir():
        return [folder]
    parts = sorted(
        p for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith(("_", ".")) and not p.name.endswith(".crc")
    )  # fmt: skip
    if not parts:
        raise DataFileError(f"{path}: an empty folder; expected Parquet part files in it")
    return parts


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
    """read_csv's options for this file: its encoding and delimiter, text cells; refuses a
    header that names a column twice, and bytes that are not text."""
    opener: Any = gzip.open if str(path).lower().endswith(".gz") else open
    with opener(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if b"\0" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DataFileError(f"{path}: not text (a workbook or Parquet file named .csv?)")
    encoding = _encoding(head)
    text = head.decode(encoding, errors=LEGACY_BYTES)
    if len(head) == SNIFF_BYTES and "\n" in text:
        text = text[: text.rindex("\n") + 1]  # whole lines only
    if not text.strip():
        raise DataFileError(f"{path}: file is empty")
    text = io.StringIO(text, newline=None).getvalue()  # \r\n, \n and Excel for Mac's \r
    delimiter = _delimiter(text)
    rows = [row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if row][:200]
    refuse_repeated_headers(path, rows[0])
    options = {**CSV_OPTIONS, "sep": delimiter, "encoding": encoding,
               "encoding_errors": LEGACY_BYTES, "index_col": False}  # fmt: skip
    width = len(rows[0])
    if rows[1:] and all(len(row) == width + 1 and not row[-1] for row in rows[1:]):
        # Every line ends with a delimiter: read the empty cell after it, then check it is.
        options.update(header=0, names=[*rows[0], TRAILING_CELLS])
    return options


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
    """A workbook sheet's cells as given (text such as "NA" or "null" stays text), the first
    row its header; blank rows are not rows."""
    with pd.ExcelFile(path, engine="openpyxl") as book:
        cells = pd.read_excel(
            book, _sheet(path, [str(n) for n in book.sheet_names], sheet), header=None,
            dtype=object,
            keep_default_na=False, na_values=[],
        )  # fmt: skip
    if cells.empty:
        raise DataFileError(f"{path}: the sheet is empty")
    header = ["" if pd.isna(h) else str(h).strip() for h in cells.iloc[0]]
    refuse_repeated_headers(path, header)
    body = cells.iloc[1:].replace("", None).dropna(how="all")
    names: list[str] = []
    for i, h in enumerate(header):
        name = h or f"Unnamed: {i}"
        while name in names or (not h and name in header):  # a header may read "Unnamed: 6"
            name += "_"
        names.append(name)
    body.columns = pd.Index(names)
    return body.reset_index(drop=True)


def _sheet(path: str | os.PathLike[str], names: list[str], sheet: str | int | None) -> str:
    """The sheet asked for: a name, or a 0-based position (also given as text, "1")."""
    if sheet is None:
        return names[0]
    if sheet in names:
        return str(sheet)
    if str(sheet).isdigit() and int(sheet) < len(names):
        return names[int(sheet)]
    raise DataFileError(f"{path}: no sheet {sheet!r}; its sheets are {', '.join(names)}")


def _read_json(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A JSON array of objects, one JSON object, JSON Lines (one object per line), or an
    API's answer wrapping the array in an object of one key ({"data": [...]})."""
    with open(path, encoding="utf-8-sig", errors=LEGACY_BYTES) as handle:
        text = handle.read()
    if not text.strip():
        raise DataFileError(f"{path}: file is empty")
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        records = _json_lines(path, text)
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
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DataFileError(f"{path}: line {number} is not JSON: {exc.msg}") from None
    return records


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
    """Hold `folder`'s lock called `name` for the block: one process at a time, the others
    wait (`waiting` is called once when one has to). The lock is the hidden file
    .NAME.lock in the folder, made when missing and left there (a removed lock file
    could let two processes lock two files); the system releases it when the process
    ends, however it ends."""
    path = folder / f".{name}.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
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
    in the `own_words` columns: text the package wrote itself (reasons), not a user.
    """
    fmt = output_format(path)
    with atomic_path(path) as tmp_name:
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
    owns its process): large blocks from glibc's own pages (libc.give_back_large_frees),
    and Arrow's buffers from the system allocator, which keeps no pool of its own."""
    import pyarrow as pa

    libc.give_back_large_frees()
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
    fmt = output_format(path)
    delimiter = "\t" if Path(path).suffix.lower() == ".tsv" else ","
    with atomic_path(path) as tmp_name:
        writer = TableWriter(tmp_name, fmt, delimiter, own_words)
        try:
            yield writer
        finally:
            writer.close()


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
    with atomic_path(path) as tmp_name:
        Path(tmp_name).write_text(json.dumps(value, indent=2, allow_nan=False) + "\n")


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[str]:
    """A path to write that replaces `path` only once complete, with the umask's permissions
    (or those of the file it replaces); on failure, or if the process is killed, nothing
    is left behind."""
    target = Path(os.path.realpath(path))  # through a symlink, which stays one
    if target.exists() and not target.is_file():  # never rename over a folder or a device
        raise DataFileError(f"{path}: is not a regular file; name a file to write")
    target.parent.mkdir(parents=True, exist_ok=True)
    existing_mode = stat.S_IMODE(target.stat().st_mode) if target.is_file() else None
    fd = _unnamed_file(target.parent)
    if fd is None:  # no O_TMPFILE here (not Linux, or a filesystem without it)
        with _named_temporary(target, existing_mode) as tmp_name:
            yield tmp_name
        return
    try:
        yield f"/proc/self/fd/{fd}"
        if existing_mode is not None:  # after writing: a read-only file's mode would block it
            os.fchmod(fd, existing_mode)
        _link_over(fd, target)
    finally:
        os.close(fd)


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
    if flag is None or not libc.has("linkat"):  # without linkat it could not be named
        return None
    try:
        return os.open(folder, flag | access, 0o666)  # the kernel applies the umask
    except OSError:
        return None


def _link_over(fd: int, target: Path) -> None:
    """Give the unnamed file `fd` a temporary name beside `target`, then rename it over it."""
    name = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    libc.link_open_file(fd, name)
    try:
        os.replace(name, target)
    except BaseException:
        name.unlink(missing_ok=True)
        raise


@contextmanager
def _named_temporary(target: Path, mode: int | None) -> Iterator[str]:
    """A new file beside `target` (the kernel applies the umask, as it does to any new file)
    that replaces it once written, with `mode` when it replaces a file of that mode."""
    tmp_name = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    os.close(os.open(tmp_name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        yield str(tmp_name)
        if mode is not None:
            os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
    except BaseException:
        tmp_name.unlink(missing_ok=True)
        raise


def check_outputs(
    outputs: Mapping[str, str | os.PathLike[str] | None],
    inputs: Mapping[str, str | os.PathLike[str] | None],
    others: Mapping[str, str | os.PathLike[str]] | None = None,
) -> None:
    """Refuse, in one line and before any work, an output that cannot be written in its
    format or place, or that would replace an input or another output.

    Each maps a role ("output", "creators file") to a path; None entries are ignored.
    `outputs` are tables; `others` are files of other kinds (a figure), checked for
    their place only.
    """
    taken: dict[object, str] = {}
    for role, path in inputs.items():
        if path is not None:
            taken[_identity(path)] = role
    tables = {role: path for role, path in outputs.items() if path is not None}
    for role, path in {**tables, **(others or {})}.items():
        _refuse_unwritable(Path(path))
        if role in tables:
            output_format(path)
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
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DataFileError(f"{path}: no permission to write in {folder}")


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
        if exports.nested_cells(frame[column]).any()
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


def _runs_as_formula(text: str) -> bool:
    """Whether a spreadsheet would run `text` as a formula: it starts like one and is not a
    number (the rule `_formulas_quoted_arrow` applies to whole columns)."""
    return text != "" and text[0] in _FORMULA_CHARACTERS and not re.fullmatch(_SIGNED_NUMBER, text)


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
        risky = values.map(lambda v: isinstance(v, str) and _runs_as_formula(v)).astype(bool)
        if risky.any():
            quoted[column] = values.mask(risky, "'" + values[risky].astype(str))
    return frame.assign(**quoted) if quoted else frame
