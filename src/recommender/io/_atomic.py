"""The system's side of writing whole or not at all: unnamed files (Linux's O_TMPFILE),
temporary names, swapping a new file with the one it replaces (renameat2), and
signals held off while a set of files goes in.
"""

from __future__ import annotations

import os
import secrets
import signal
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from recommender import _libc


def temporary_name(target: Path) -> Path:
    """A hidden name beside `target` no other run picks (.NAME.RANDOM.tmp)."""
    return target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")


def swap(new: Path, target: Path) -> Path | None:
    """Put the file `new` at `target`; returns where the earlier file at `target` is now
    (a hidden name beside it), None if there was none. On an error, both stay as they were."""
    if not target.exists():
        os.replace(new, target)
        return None
    if _libc.exchange(new, target):  # one step: the earlier file is now at `new`
        return new
    # Without an exchange, the target is missing for an instant between the two renames.
    kept = temporary_name(target)
    os.rename(target, kept)
    try:
        os.replace(new, target)
    except BaseException:
        os.rename(kept, target)
        raise
    return kept


@contextmanager
def signals_held() -> Iterator[None]:
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


def unnamed_file(folder: str | os.PathLike[str]) -> int:
    """A new file in `folder` that no name points to: it is gone when closed or when the
    process ends, killed or not (O_TMPFILE; elsewhere a file unlinked once opened)."""
    fd = unnamed_file_or_none(Path(folder), os.O_RDWR)
    if fd is None:
        import tempfile

        fd, name = tempfile.mkstemp(dir=folder, prefix=".spill-")
        os.unlink(name)
    return fd


def unnamed_file_or_none(folder: Path, access: int = os.O_WRONLY) -> int | None:
    """An unnamed file in `folder` (it vanishes with the process unless linked), or None."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not _libc.has("linkat"):  # without linkat it could not be named
        return None
    try:
        return os.open(folder, flag | access, 0o666)  # the kernel applies the umask
    except OSError:
        return None
