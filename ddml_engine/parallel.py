"""Thread counts: one setting for numba and torch, and serial execution of small jobs.

`configure_threads(n)` is the one place ddml sets its thread counts: `n` from the command line (`--threads`) or a
configuration key (`run.threads`, `train.threads`), else the environment variable DDML_THREADS, else the cores
this process may run on (`os.sched_getaffinity`). numba's kernels and torch's intra-op pool both get `n`; they
never run at the same time (forces, then mobility), so the process never asks for more than `n` cores.

Small jobs run on one thread: a parallel region costs a fork/join of the workers and, on a machine whose other
cores are busy, one descheduled worker stalls the whole region (a GNN call on ~2,000 nodes took 1.5 s with 2
torch threads next to a busy core, 9 ms with one). `threads_for(work)` (numba) and `torch_threads_for(work)`
(torch) run jobs below their thresholds serially; `MeasuredThreads` chooses between all threads and one for a
repeated short job (the GNN call of DDD+ML) from the measured wall time of its calls; `LoadAwareThreads` lowers
torch's threads in training to the cores other processes leave free (`OtherLoad`).
"""
from __future__ import annotations

import collections
import contextlib
import os
import sys
import time
from typing import Iterator

import numba

SERIAL_WORK = 20_000  # numba: items (segment pairs, segments) below which a kernel runs on one thread
TORCH_SERIAL_NODES = 20_000  # torch: graph nodes below which a GNN inference runs on one thread
THREADS_ENV = "DDML_THREADS"


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def resolve_threads(requested: int | None = None) -> int:
    """Thread count: `requested` when > 0, else $DDML_THREADS when set, else `available_cores()`."""
    if requested is not None and int(requested) > 0:
        return int(requested)
    text = os.environ.get(THREADS_ENV, "").strip()
    if text:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{THREADS_ENV}={text!r}: must be a positive integer") from None
        if value < 1:
            raise ValueError(f"{THREADS_ENV}={text!r}: must be a positive integer")
        return value
    return available_cores()


_configured: int | None = None  # the count of the last configure_threads


def serial_blas() -> None:
    """Run the BLAS libraries loaded so far (numpy's, scipy's OpenBLAS) on one thread, process-wide. ddml's BLAS
    calls are small (3x3 solves, the 48-wide products of the GNN's numpy inference), and a multithreaded BLAS
    keeps its threads spinning after each call, where they slow the numba kernels that follow: DDD+ML 4.2 -> 3.7 s
    on the cost benchmark's 20 ps. OpenBLAS libraries loaded later (scipy's, when scipy.linalg is first imported)
    start on one thread through OPENBLAS_NUM_THREADS, unless the environment sets it. Needs threadpoolctl for the
    loaded ones; a no-op for them without it."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=1, user_api="blas")


def configure_threads(requested: int | None = None) -> int:
    """Set numba's and torch's thread counts to `resolve_threads(requested)` (BLAS: one thread, see
    `serial_blas`); returns the count.

    torch is set now when already imported; code that imports torch later (the GNN mobility) calls
    `sync_torch_threads()` (importing torch only to set its threads would cost seconds in linear-law runs).
    """
    global _configured
    n = _configured = resolve_threads(requested)
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    serial_blas()
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    return n


def sync_torch_threads() -> None:
    """Give torch the count of the last `configure_threads` call, if any."""
    if _configured is not None:
        import torch

        torch.set_num_threads(_configured)


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


@contextlib.contextmanager
def torch_threads_for(work: int, serial_below: int | None = None) -> Iterator[None]:
    """Run the enclosed torch calls on one intra-op thread when `work` (graph nodes) is below `serial_below`
    (default: TORCH_SERIAL_NODES, read at call time)."""
    import torch

    serial_below = TORCH_SERIAL_NODES if serial_below is None else serial_below
    previous = torch.get_num_threads()
    if work >= serial_below or previous == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class MeasuredThreads:
    """Runs a repeated parallel numba job on numba's threads or on one, whichever its measured calls show to be
    faster per unit of work now.

    A short parallel job gains from the second core on a quiet machine (the GNN call on ~700 nodes: 1.9 -> 1.1 ms)
    but loses many times over when another process keeps that core busy: each parallel region waits for a
    descheduled worker (a 2,000-node GNN call 4 -> 54 ms; serial 7 ms either way). Which case holds can change
    while a job runs, so the choice is made from the calls themselves: each mode keeps the wall times per unit of
    work of its last `window` calls, and the mode with the lower median runs. The other mode is re-timed by a
    burst of `window` calls every `probe_every` calls, an interval that doubles, up to `max_probe_every`, each
    time the probe loses. Each mode's first call is not counted (compilation, first-touch memory); the median
    keeps one slow call (a page fault, a timer interrupt) from switching modes.
    """

    def __init__(self, probe_every: int = 16, max_probe_every: int = 512, window: int = 3):
        self.probe_every, self.max_probe_every, self.window = probe_every, max_probe_every, window
        self.interval = probe_every
        self.samples: dict[bool, collections.deque] = {mode: collections.deque(maxlen=window)
                                                       for mode in (True, False)}  # parallel? -> s per unit
        self.warmed = {True: False, False: False}
        self.calibrated = False  # both modes measured `window` times
        self.probe_mode = True  # the mode of the probe burst under way
        self.probe_left = 0
        self.since_probe = 0

    def cost(self, parallel: bool) -> float | None:
        """Median wall seconds per unit of work of the mode's last calls (None before any)."""
        samples = sorted(self.samples[parallel])
        return samples[len(samples) // 2] if samples else None  # the upper median, for the even counts of probes

    def _best(self) -> bool:
        return self.cost(True) <= self.cost(False)

    def _choose(self) -> bool:
        if not self.calibrated:  # parallel's window first, then serial's
            return len(self.samples[True]) < self.window
        if self.probe_left:
            return self.probe_mode
        best = self._best()
        if self.since_probe >= self.interval:
            self.probe_mode, self.probe_left, self.since_probe = not best, self.window, 0
            self.samples[not best].clear()
            return not best
        return best

    def _record(self, parallel: bool, cost: float) -> None:
        if not self.warmed[parallel]:
            self.warmed[parallel] = True
            return
        self.samples[parallel].append(cost)
        if not self.calibrated:
            self.calibrated = all(len(v) == self.window for v in self.samples.values())
        elif self.probe_left and parallel == self.probe_mode:
            self.probe_left -= 1
            if self.probe_left == 0:
                won = self._best() == self.probe_mode
                self.interval = self.probe_every if won else min(2 * self.interval, self.max_probe_every)
        else:
            self.since_probe += 1

    def run(self, job, work: int):
        """job() on numba's threads or on one (numba.set_num_threads(1)); `work` > 0 its size (rows, items)."""
        threads = numba.get_num_threads()
        if threads == 1:
            return job()
        parallel = self._choose()
        started = time.perf_counter()
        result = _run_job(job, None if parallel else (numba.set_num_threads, threads))
        self._record(parallel, (time.perf_counter() - started) / max(1, work))
        return result


def _run_job(job, serial: tuple | None):
    """job(), on one thread when `serial` = (set_threads, count to restore) is given."""
    if serial is None:
        return job()
    set_threads, count = serial
    set_threads(1)
    try:
        return job()
    finally:
        set_threads(count)


class OtherLoad:
    """CPU time that other processes take on the CPUs this process may run on, in cores, averaged since the last
    reading: per-CPU busy time from /proc/stat (Linux) minus this process's own (/proc/self/stat). None where
    /proc is missing or when under `min_seconds` have passed (the counters tick at 100 Hz)."""

    def __init__(self, min_seconds: float = 0.5):
        try:
            self.cpus = {f"cpu{c}" for c in os.sched_getaffinity(0)}
        except (AttributeError, OSError):
            self.cpus = set()
        self.min_seconds = min_seconds
        self._last = self._read()
        self._last_time = time.perf_counter()

    def _read(self) -> tuple[int, int, int] | None:
        """(busy ticks, all ticks) summed over our CPUs, and this process's ticks; None without /proc."""
        try:
            with open("/proc/stat") as handle:
                busy = total = 0
                for line in handle:
                    fields = line.split()
                    if fields and fields[0] in self.cpus:
                        user, nice, system, idle, iowait, irq, softirq = (int(v) for v in fields[1:8])
                        steal = int(fields[8]) if len(fields) > 8 else 0
                        work = user + nice + system + irq + softirq + steal
                        busy, total = busy + work, total + work + idle + iowait
            with open("/proc/self/stat") as handle:
                after_name = handle.read().rsplit(")", 1)[1].split()
            own = int(after_name[11]) + int(after_name[12])  # utime, stime (fields 14, 15)
        except (OSError, ValueError, IndexError):
            return None
        return (busy, total, own) if total else None

    def cores(self) -> float | None:
        """Other processes' load on our CPUs since the last reading (cores), or None (see the class)."""
        if self._last is None or time.perf_counter() - self._last_time < self.min_seconds:
            return None
        now = self._read()
        if now is None:
            return None
        busy, total, own = (a - b for a, b in zip(now, self._last))
        if total <= 0:
            return None
        self._last, self._last_time = now, time.perf_counter()
        return max(0.0, busy - own) / total * len(self.cpus)


class LoadAwareThreads:
    """Thread count of a pool (torch's by default) for a repeated job: the configured count, lowered to the cores
    that other processes leave free (`OtherLoad`, re-read every `every` seconds, taken when `confirm` readings in a
    row agree).

    Next to a process that keeps the second core busy, a 2-thread parallel region waits for the descheduled
    worker at every barrier (a training epoch of the demo: 4.7 s quiet, 56-75 s next to a busy core; on one
    thread 6 s). Because the choice reads the load and not the job's own timings, a run on a quiet machine keeps
    its thread count from start to end (torch's results depend on it in the last bits).
    """

    def __init__(self, get_threads=None, set_threads=None, every: float = 1.0, confirm: int = 2):
        if get_threads is None or set_threads is None:
            import torch

            get_threads, set_threads = torch.get_num_threads, torch.set_num_threads
        self.get_threads, self.set_threads = get_threads, set_threads
        self.configured = get_threads()
        self.load = OtherLoad(every)
        self.threads = self.configured
        self.confirm = confirm
        self._proposed, self._count = self.configured, 0

    def update(self) -> int:
        """Re-read the load when due; returns the thread count now. A new count is taken after `confirm`
        consecutive readings ask for it (every `every` s), so a short burst of another process changes nothing."""
        others = self.load.cores()
        if others is not None:
            free = len(self.load.cpus) - others
            wanted = max(1, min(self.configured, int(free + 0.5)))
            self._count = self._count + 1 if wanted == self._proposed else 1
            self._proposed = wanted
            if wanted != self.threads and self._count >= self.confirm:
                self.threads = wanted
        return self.threads

    @contextlib.contextmanager
    def applied(self) -> Iterator[int]:
        """The enclosed calls on `update()` threads; the pool's count is restored after."""
        threads = self.update()
        previous = self.get_threads()
        if threads == previous:
            yield threads
            return
        self.set_threads(threads)
        try:
            yield threads
        finally:
            self.set_threads(previous)
