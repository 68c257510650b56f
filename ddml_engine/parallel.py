"""Thread count for numba kernels: small jobs run on one thread.

A parallel numba region costs a fork/join of the worker threads; for small jobs (a few thousand segment pairs,
one DDD sub-step of a small network) that overhead dominates, and on a loaded machine one late thread stalls
the others. `threads_for(work)` runs jobs below `SERIAL_WORK` items on one thread.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import numba

SERIAL_WORK = 20_000


@contextlib.contextmanager
def threads_for(work: int, serial_below: int = SERIAL_WORK) -> Iterator[None]:
    """Run the enclosed numba calls on one thread when `work` (items) is below `serial_below`."""
    if work >= serial_below:
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(previous)
