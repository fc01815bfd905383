"""What a path names: its format (by extension), a folder's part files, a data folder's
tables, and a lock on a folder that runs take turns on.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, overload

from recommender.errors import DataFileError

FORMATS = {
    ".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".xlsx": "xlsx", ".xlsm": "xlsx",
}  # fmt: skip


WRITABLE = ("csv", "parquet", "jsonl", "json")


TABLE_EXTENSIONS = (".csv", ".parquet", ".jsonl", ".json", ".xlsx")  # a data folder's files


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
