"""The few C library calls Python's os module lacks, in one place (through ctypes).

Each says whether it could run: where the C library, the kernel or the
filesystem lacks the call (not Linux, an old glibc, musl), it returns False
or None and the caller takes its portable way instead.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import sys
from contextlib import suppress
from functools import cache

AT_FDCWD = -100  # <fcntl.h>: paths relative to the working folder
AT_SYMLINK_FOLLOW = 0x400  # <fcntl.h>
RENAME_EXCHANGE = 2  # <linux/fs.h>
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
UNSUPPORTED = (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP)  # the kernel or filesystem lacks it


@cache
def c_library() -> ctypes.CDLL | None:
    """The process's C library (errno kept for each call), or None where there is none."""
    try:
        return ctypes.CDLL(None, use_errno=True)
    except (OSError, TypeError):  # TypeError: Windows has no "process's own" library
        return None


def _function(name: str) -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    library = c_library() if sys.platform == "linux" else None
    return getattr(library, name, None) if library is not None else None


def has(name: str) -> bool:
    """Whether the Linux C library call `name` is there to use."""
    return _function(name) is not None


def _raise_errno(*paths: str) -> None:
    code = ctypes.get_errno()
    raise OSError(code, os.strerror(code), *paths)


def link_open_file(fd: int, path: str | os.PathLike[str]) -> bool:
    """Give the open, unnamed file `fd` (O_TMPFILE) the name `path`; False where linkat is
    missing. Other failures raise OSError."""
    linkat = _function("linkat")
    if linkat is None:
        return False
    source = f"/proc/self/fd/{fd}".encode()
    if linkat(AT_FDCWD, source, AT_FDCWD, os.fsencode(path), AT_SYMLINK_FOLLOW) != 0:
        _raise_errno(str(path))
    return True


def exchange(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Swap two paths in one step (renameat2 RENAME_EXCHANGE); False where the system or the
    filesystem cannot. Other failures raise OSError."""
    renameat2 = _function("renameat2")
    if renameat2 is None:
        return False
    path, fd = ctypes.c_char_p, ctypes.c_int
    renameat2.argtypes = [fd, path, fd, path, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    if ctypes.get_errno() in UNSUPPORTED:
        return False
    _raise_errno(str(a), str(b))
    return False  # not reached: _raise_errno raises


def die_with_parent() -> bool:
    """prctl(PR_SET_PDEATHSIG, SIGKILL): SIGKILL this process when the thread that forked it
    ends. False where prctl is missing or refuses."""
    prctl = _function("prctl")
    if prctl is None:
        return False
    kill, unused = ctypes.c_ulong(signal.SIGKILL), ctypes.c_ulong(0)
    return int(prctl(PR_SET_PDEATHSIG, kill, unused, unused, unused)) == 0


def flush_c_stdout() -> None:
    """Flush what C code buffered for stdout (fflush(NULL)), where there is a C library."""
    library = c_library()
    if library is not None:
        with suppress(AttributeError):
            library.fflush(None)


M_MMAP_THRESHOLD = -3  # <malloc.h>
# Above a chunk's columns (50,000 rows of 8 bytes: 400 KB), below what a job holds at its
# peak: blocks this large get their own pages. At glibc's starting 128 KiB, each column
# of each chunk cost fresh pages, zeroed by the kernel (a tenth of a 330k-row job's time,
# benchmarks/scale.py); at 4 MiB, 3.3M rows peak near 1.1 GiB, within issue 15's 1.5 GiB.
MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024


def give_back_large_frees() -> bool:
    """mallopt(M_MMAP_THRESHOLD, 4 MiB): every block of 4 MiB or more gets pages of its
    own, returned to the system when freed. Left to itself, glibc raises the threshold as
    large blocks are freed (up to 32 MB), after which freed blocks stay in the heap: a long
    job's memory only grows. Smaller blocks are reused from the heap.
    False where mallopt is missing (not glibc)."""
    mallopt = _function("mallopt")
    if mallopt is None:
        return False
    return int(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) == 1
