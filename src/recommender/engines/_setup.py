"""What a worker process takes from the process that starts it: the settings a process
forked from the forkserver would not inherit (the engines' _pool and _worker share it)."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker takes from the process that starts it, which one forked from the
    forkserver would not inherit: the working folder (a relative model path, or the
    champion, means what it means there), the environment, the warning filters, the
    memory setting; and whether the trees walk on one thread (workers share the cores)."""

    parent_pid: int
    folder: str
    environment: dict[str, str]
    warning_filters: list[Any]
    memory_bounded: bool
    one_thread: bool

    @classmethod
    def here(cls, one_thread: bool) -> WorkerSetup:
        """This process's settings."""
        from recommender.engines._memory import memory_bounded

        # (filters of a category only the caller's script defines would not unpickle there)
        filters = [f for f in warnings.filters if getattr(f[2], "__module__", "") != "__main__"]
        return cls(os.getpid(), os.getcwd(), dict(os.environ), filters, memory_bounded(),
                   one_thread)  # fmt: skip

    def apply(self) -> None:
        """Make this (worker) process's settings those of the process that started it."""
        os.chdir(self.folder)
        os.environ.clear()
        os.environ.update(self.environment)
        warnings.resetwarnings()
        for action, message, category, module, line in reversed(self.warning_filters):
            # (a pattern is compiled, or text, or None: filterwarnings compiles it again)
            text = [getattr(p, "pattern", p) or "" for p in (message, module)]
            warnings.filterwarnings(action, text[0], category, text[1], line)
        if self.memory_bounded:
            from recommender.engines._memory import bounded_memory

            bounded_memory()
        if self.one_thread:
            from recommender import _trees

            _trees.use_threads(False)
