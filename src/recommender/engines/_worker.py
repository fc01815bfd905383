"""What a batch job's scoring worker process runs (batch.py starts them): set up with a
model, or with the path of one to load, then score chunks of pairs one at a time.

Importing this module loads the compiled tree kernels (_trees.warm_up): a worker
forked from a process that imported it (worker_server preloads it) starts with
them loaded instead of loading them itself, a third of a second apiece.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pandas as pd

from recommender import _libc, _trees
from recommender.engines._memory import bounded_memory
from recommender.scoring import scored_rows

if TYPE_CHECKING:
    from recommender.mlops.model_store import ModelIdentity
    from recommender.modeling.estimator import Recommender

# scored_rows' rows, the seconds they took, and the model that scored them
ScoredChunk = tuple[pd.DataFrame, float, "ModelIdentity"]
JOB_POLL_SECONDS = 1.0

# In a worker: (the Recommender, its identity), or what loading it raised.
_model: tuple[Recommender, ModelIdentity] | Exception | None = None


class Job(NamedTuple):
    """What a worker takes from the job's process: a worker forked from the job has it
    all already; one forked from the worker server, started earlier, does not."""

    warning_filters: list[Any]
    memory_bounded: bool  # io.bounded_memory
    folder: str  # the working folder
    environment: dict[str, str]

    def apply(self) -> None:
        """Make this process's settings the job's."""
        os.chdir(self.folder)
        os.environ.clear()
        os.environ.update(self.environment)
        warnings.resetwarnings()
        for action, message, category, module, line in reversed(self.warning_filters):
            # (a pattern is compiled, or text, or None: filterwarnings compiles it again)
            text = [getattr(p, "pattern", p) or "" for p in (message, module)]
            warnings.filterwarnings(action, text[0], category, text[1], line)
        if self.memory_bounded:
            bounded_memory()


def start(
    model: tuple[Recommender, ModelIdentity] | str | os.PathLike[str] | None,
    job_pid: int,
    job: Job,
) -> None:
    """Set a worker up for the job run by process `job_pid`, with which it ends, and with
    its settings (Job); its model: (a Recommender, its identity), or a folder or file to
    load (None: the champion). A model that cannot load is raised by the first chunk, so
    the error reaches the user. A worker ignores Ctrl-C: the job handles it, and ends it."""
    global _model
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_job(job_pid)
    job.apply()
    _trees.use_threads(False)  # the workers already use every core
    if isinstance(model, tuple):
        _model = model
        return
    from recommender.mlops.model_store import loaded_model

    try:
        _model = loaded_model(model)
    except Exception as exc:  # ModelNotFound and the like: said by the process that reads
        _model = exc


def score(pairs: pd.DataFrame) -> ScoredChunk:
    """Score `pairs` with the worker's model (see timed_score)."""
    assert _model is not None, "worker started without a model"
    if isinstance(_model, Exception):
        raise _model
    return timed_score(_model, pairs)


def timed_score(model: tuple[Recommender, ModelIdentity], pairs: pd.DataFrame) -> ScoredChunk:
    """scored_rows by the model, the seconds it took, and the model's identity."""
    begun = time.perf_counter()
    scored = scored_rows(model[0], pairs)
    return scored, time.perf_counter() - begun, model[1]


def die_with_job(job_pid: int) -> None:
    """End this worker as soon as the job's process (`job_pid`) ends.

    A worker waits on a pipe whose writing end it holds itself (fork copies it),
    so it never sees the job go: after a kill -9 it would wait forever, holding
    the model's memory. Where the job forked it, Linux kills it the moment the
    job dies; elsewhere, and for a worker forked from the worker server, a thread
    checks the job every JOB_POLL_SECONDS.
    """
    forked_by_job = os.getppid() == job_pid
    if forked_by_job and sys.platform == "linux" and _libc.die_with_parent():
        # The job may have died before the request: this worker is already orphaned.
        if os.getppid() != job_pid:
            os._exit(1)
        return
    alive: Callable[[], bool] = (
        (lambda: os.getppid() == job_pid) if forked_by_job else (lambda: _running(job_pid))
    )
    if not alive():
        os._exit(1)
    watchdog = threading.Thread(target=_exit_when_gone, args=(alive,), name="job-watchdog",
                                daemon=True)  # fmt: skip
    watchdog.start()


def _running(pid: int) -> bool:
    """Whether process `pid` runs (one that ended but is not yet reaped does not)."""
    if pid <= 0:  # (kill would signal a group)
        return False
    try:
        os.kill(pid, 0)  # no signal: only whether there is such a process
    except ProcessLookupError:
        return False
    except PermissionError:  # there is one, someone else's
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):  # no /proc here: kill's answer stands
        return True
    return state != "Z"


def _exit_when_gone(alive: Callable[[], bool]) -> None:
    while alive():
        time.sleep(JOB_POLL_SECONDS)
    os._exit(1)  # from a thread, sys.exit would end only the thread


_trees.warm_up()
