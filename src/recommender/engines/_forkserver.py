"""The server the model workers are forked from (multiprocessing's forkserver).

It imports what a worker runs (the models' libraries, a second and more) and loads
the compiled tree kernels, once; each worker forked from it starts with them. A
batch job takes that second beside its reading, not before it: a job that will want
workers starts the server (`start`) before reading its input, and reads meanwhile.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import signal
from collections.abc import Sequence
from contextlib import suppress
from multiprocessing.context import BaseContext
from pathlib import Path

# The pool's worker side, the batch job's module, and what they run.
WORKER_MODULES = ("recommender.engines._pool", "recommender.engines._worker",
                  "recommender.engines.local", "recommender.scoring.explain",
                  "recommender.mlops.model_store",
                  "recommender.modeling.estimator", "sklearn.ensemble", "lightgbm")  # fmt: skip
# A creators file this large is most likely more than one chunk (local.CHUNK_ROWS: about
# 4 MB of CSV), which workers score.
EARLY_START_BYTES = 4_000_000


def available() -> bool:
    """Whether this system has a forkserver (not on Windows)."""
    return "forkserver" in multiprocessing.get_all_start_methods()


def context(also: Sequence[str] = ()) -> BaseContext:
    """The forkserver context, its server importing WORKER_MODULES, and the modules
    `also` names (those of the jobs its workers will run), when it starts."""
    forkserver = multiprocessing.get_context("forkserver")
    forkserver.set_forkserver_preload([*WORKER_MODULES, *also])
    return forkserver


def start() -> None:
    """Start the server now, in the background (it goes on importing as this returns);
    the first worker asked for would start it otherwise. Started from the main thread,
    the server and the workers forked from it ignore Ctrl-C (SIGINT): the job's process
    handles it and ends them, where each would print its own traceback."""
    if not available():
        return
    context()
    ignored = False
    with suppress(ValueError):  # not the main thread: the workers ignore it themselves
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited by the server
        ignored = True
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        if ignored:  # (None: a handler set from C, which Python cannot put back)
            signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)


def start_for(creators: Path | str) -> None:
    """start(), if the creators file (or folder of parts) is large enough that workers
    will most likely score it; a small one never needs the server."""
    if size_bytes(creators) > EARLY_START_BYTES:
        start()


def size_bytes(path: Path | str) -> int:
    """The size of a file, or of the files in a folder (0 when unreadable, said later, or
    a URI, which only Spark reads)."""
    if not isinstance(path, Path):
        return 0
    try:
        files = [path] if not path.is_dir() else [p for p in path.rglob("*") if p.is_file()]
        return sum(p.stat().st_size for p in files)
    except OSError:
        return 0
