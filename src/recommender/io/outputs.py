"""Outputs written whole or not at all, a run's files as one set.

Each file is written under no name and linked in only when the whole set is
complete (`output_set`); a run that fails leaves the earlier set as it was.
`write_table`, `write_json` and `streamed_table` are sets of one file.
`check_outputs` refuses, before any work, outputs that cannot be written or would
replace an input or each other.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from recommender import _libc
from recommender.errors import DataFileError, one_line
from recommender.io._atomic import signals_held, swap, temporary_name, unnamed_file_or_none
from recommender.io.paths import output_format
from recommender.io.writers import TableWriter, write_frame


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


@contextmanager
def streamed_table(
    path: str | os.PathLike[str], own_words: Collection[str] = ()
) -> Iterator[TableWriter]:
    """A TableWriter for `path`, in the format its extension names, written atomically:
    the file appears, complete, only when the block ends without an error. At least one
    block must be written (an empty table fixes the header)."""
    with output_set(path) as outputs, outputs.streamed(path, own_words) as writer:
        yield writer


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
            write_frame(frame, tmp_name, path, own_words)

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
        with signals_held():
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
        staged = cls(path, target, mode, fd=unnamed_file_or_none(target.parent))
        if staged.fd is None:  # no O_TMPFILE here (not Linux, or a filesystem without it)
            staged.name = temporary_name(target)
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
            name = temporary_name(self.target)
            _libc.link_open_file(self.fd, name)
            self.name = name

    def discard(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.name is not None:
            self.name.unlink(missing_ok=True)
            self.name = None


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


def _swapped_in(staged: list[_Staged], stale: list[Path]) -> None:
    """Put each staged file in place and take each stale one away, keeping every earlier
    file under a hidden name until all is done; on a failure, put them all back."""
    earlier: list[tuple[Path, Path | None]] = []  # (a target, where its earlier file is)
    try:
        for member in staged:
            with _write_errors(member.given, "cannot be put in place"):
                assert member.name is not None, "named by commit"
                earlier.append((member.target, swap(member.name, member.target)))
                member.name = None  # the target's now (or the earlier file's, kept)
        for path in stale:
            away = temporary_name(path)
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
