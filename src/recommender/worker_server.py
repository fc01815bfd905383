"""The server a batch job forks its scoring workers from (multiprocessing's forkserver).

It imports what a worker runs (the models' libraries, a second and more) and loads
the compiled tree kernels, once; each worker forked from it starts with them. It
takes that second beside the job, not before it: a job that will want workers
starts it (`start`) before reading its input, and reads meanwhile.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
from multiprocessing.context import BaseContext

WORKER_MODULES = ("recommender.scoring_worker", "recommender.explain",
                  "recommender.modeling.recommender", "sklearn.ensemble", "lightgbm")  # fmt: skip


def available() -> bool:
    """Whether this system has a forkserver (not on Windows)."""
    return "forkserver" in multiprocessing.get_all_start_methods()


def context() -> BaseContext:
    """The forkserver context, its server importing WORKER_MODULES when it starts."""
    forkserver = multiprocessing.get_context("forkserver")
    forkserver.set_forkserver_preload(list(WORKER_MODULES))
    return forkserver


def start() -> None:
    """Start the server now, in the background (it goes on importing as this returns);
    the first worker asked for would start it otherwise."""
    if available():
        context()
        multiprocessing.forkserver.ensure_running()
