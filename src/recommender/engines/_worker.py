"""What a model worker process of _pool runs: set up as the process that started it,
hold the model, say it is ready, then run jobs one at a time until the pipe closes.

Importing this module loads the compiled tree kernels (_trees.warm_up): a worker
forked from the forkserver, which preloads it, starts with them loaded instead of
loading them itself.
"""

from __future__ import annotations

import functools
import os
import pickle
import queue
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recommender import _libc, _trees
from recommender.errors import ScoringError, one_line

if TYPE_CHECKING:
    from recommender.engines._setup import WorkerSetup

PARENT_POLL_SECONDS = 1.0


def serve(
    pipe: Connection,
    model: Any,
    setup: WorkerSetup,
    warm_up: Callable[..., object] | None,
    follow: bool,
    read_ahead: bool,
) -> None:
    """Set up (see _setup.WorkerSetup), hold the model, warm up, say "ready", then answer
    each job sent, in order, ("done", result) or ("raised", exception), until the pipe
    closes. A model that cannot load is raised by every job, so that the caller says it.
    With `read_ahead` (more than one job is sent at once), a thread takes the next job
    while this one works: a process that sends it while this one writes its answer
    would otherwise wait on it, each for the other. (One job at a time, the jobs are
    read here: a thread reading would take the lock of the interpreter from the job.)"""
    die_with(setup.parent_pid)
    setup.apply()
    holder = _Holder(model, follow)
    if warm_up is not None:
        holder.warm_up(warm_up)
    pipe.send_bytes(pickle.dumps(("ready", None)))
    next_job: Callable[[], bytes | None] = functools.partial(_received, pipe)
    if read_ahead:
        jobs: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        threading.Thread(target=_take_jobs, args=(pipe, jobs), name="jobs", daemon=True).start()
        next_job = jobs.get
    while (job := next_job()) is not None:
        try:
            pipe.send_bytes(_answer(job, holder))
        except OSError:  # the starting process is gone: so is the work
            return


def _received(pipe: Connection) -> bytes | None:
    """The next job from the pipe; None when it closed (the starting process is gone)."""
    try:
        return pipe.recv_bytes()
    except (EOFError, OSError):
        return None


def _take_jobs(pipe: Connection, jobs: queue.SimpleQueue[bytes | None]) -> None:
    """Put each job in `jobs` as it arrives, then None when the pipe closes."""
    while (job := _received(pipe)) is not None:
        jobs.put(job)
    jobs.put(None)


def _answer(job: bytes, holder: _Holder) -> bytes:
    """The pickled answer to a pickled (call, args)."""
    try:
        call, args = pickle.loads(job)
        answer: tuple[str, Any] = ("done", call(*holder.model(), *args))
    except Exception as exc:
        answer = ("raised", exc)
    try:
        return pickle.dumps(answer, pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # (a result, or an exception, of what pickle cannot write)
        said = answer[1] if answer[0] == "raised" else exc
        error = ScoringError(f"{type(said).__name__}: {one_line(said)}")
        return pickle.dumps(("raised", error), pickle.HIGHEST_PROTOCOL)


class _Holder:
    """The worker's model: as given (recommender, identity), or loaded from where it was
    given, once or (following it) for every job."""

    def __init__(self, model: Any, follow: bool) -> None:
        self._given, self._follow = model, follow and not isinstance(model, tuple)
        self._held = None if self._follow else self._load()

    def model(self) -> tuple[Any, Any]:
        """(recommender, identity); what loading it raised, raised."""
        held = self._load() if self._follow else self._held
        if isinstance(held, Exception):
            raise held
        assert held is not None
        return held

    def warm_up(self, warm_up: Callable[..., object]) -> None:
        """Run `warm_up` on the model; a model that cannot load waits for a job to say so."""
        try:
            model = self.model()
        except Exception:
            return
        warm_up(*model)

    def _load(self) -> tuple[Any, Any] | Exception:
        if isinstance(self._given, tuple):
            return self._given
        from recommender.mlops.model_store import loaded_model

        try:
            return loaded_model(self._given)
        except Exception as exc:  # ModelNotFound and the like: said by the caller
            return exc


def die_with(parent_pid: int) -> None:
    """End this worker as soon as the process that started it (`parent_pid`) ends.

    A worker blocked on its pipe sees the parent go only if no one else holds the
    pipe's other end (a fork copies it to every process forked later), and one in
    the middle of a job sees nothing. Where the parent forked it, Linux kills it the
    moment the parent dies; elsewhere, and for a worker forked from the forkserver,
    a thread checks the parent every PARENT_POLL_SECONDS.
    """
    forked_by_parent = os.getppid() == parent_pid
    if forked_by_parent and sys.platform == "linux" and _libc.die_with_parent():
        # The parent may have died before the request: this worker is already orphaned.
        if os.getppid() != parent_pid:
            os._exit(1)
        return
    alive: Callable[[], bool] = (
        (lambda: os.getppid() == parent_pid) if forked_by_parent else (lambda: _running(parent_pid))
    )
    if not alive():
        os._exit(1)
    watchdog = threading.Thread(target=_exit_when_gone, args=(alive,), name="parent-watchdog",
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
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)  # from a thread, sys.exit would end only the thread


_trees.warm_up()
