"""A long job's freed memory handed back to the system as it goes."""

from __future__ import annotations

from recommender import _libc

_memory = {"bounded": False}


def bounded_memory() -> None:
    """Let a long job's freed memory go back to the system as it goes (for a command that
    owns its process): large blocks from glibc's own pages (_libc.give_back_large_frees),
    and Arrow's buffers from the system allocator, which keeps no pool of its own."""
    import pyarrow as pa

    _libc.give_back_large_frees()
    pa.set_memory_pool(pa.system_memory_pool())
    _memory["bounded"] = True


def memory_bounded() -> bool:
    """Whether this process called bounded_memory (its workers should too)."""
    return _memory["bounded"]
