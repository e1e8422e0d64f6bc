"""Worker processes for ingest and classify that a Ctrl-C stops within a second, without tracebacks.

Ctrl-C in a terminal signals the whole process group. Workers ignore SIGINT: the parent alone
turns it into KeyboardInterrupt and terminates them. The feeding side waits on a semaphore with a
timeout, so the pool's task-handler thread never stays blocked when the pool is torn down (that
blocked thread used to hang ``Pool.__exit__`` forever).
"""

from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.pool
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator

FEED_POLL_SECONDS = 0.1
TERMINATE_SECONDS = 10  # a pool not torn down by then is stuck (see _end_pool): its workers are killed
MAX_DEFAULT_WORKERS = 2  # parser processes when none are asked for: the parent storing keeps a core busy too


def default_workers() -> int:
    """Worker processes when the caller names none: up to MAX_DEFAULT_WORKERS, no more than the cores."""
    return min(MAX_DEFAULT_WORKERS, os.cpu_count() or 1)


class _Pool(multiprocessing.pool.Pool):
    """A process pool whose worker-keeping thread wakes when a worker exits, not whenever a result waits.

    The standard Pool's thread also waits on the result pipe: while a result is there and not yet
    read it wakes again at once, spinning (1.3 CPU s of the storing process per 20,000 ingested
    messages, and the GIL taken from it). ThreadPool waits on its change notifier alone, as here.
    """

    def _get_sentinels(self):
        return [self._change_notifier._reader]


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def bounded_imap(function: Callable, tasks: Iterable, workers: int, in_flight: int,
                 freeze_parent: bool = False) -> Iterator:
    """``Pool.imap(function, tasks)`` over forked workers with at most ``in_flight`` tasks read ahead.

    The pool is terminated and joined whenever the caller stops iterating: at the end, on an
    exception (KeyboardInterrupt included) or when the generator is closed.
    """
    slots = threading.BoundedSemaphore(in_flight)
    stop = threading.Event()

    def fed() -> Iterator:
        for task in tasks:
            while not slots.acquire(timeout=FEED_POLL_SECONDS):
                if stop.is_set():
                    return
            if stop.is_set():
                return
            yield task

    if freeze_parent:
        gc.freeze()  # keep the garbage collector off the pages the workers share with us
    # Workers are forked once, here, while this process is still small (forking it again later to
    # replace them costs more: Python's reference counts unshare the copied pages).
    pool = _Pool(workers, initializer=_ignore_sigint, context=multiprocessing.get_context("fork"))
    try:
        for result in pool.imap(function, fed()):
            slots.release()
            yield result
    finally:
        stop.set()
        _end_pool(pool)


def _end_pool(pool: multiprocessing.pool.Pool) -> None:
    """``pool.terminate()`` and ``pool.join()``, but never forever.

    Pool.terminate() can hang: its result thread stops reading once told to end, so a worker still
    sending a large result (a chunk of parsed mail) blocks on the full pipe holding the result queue's
    lock, which the pool's own end then waits for (seen after Ctrl-C to an ingest on a loaded machine,
    about one time in ten). After TERMINATE_SECONDS the workers are killed and
    the pool's threads, daemons, are left behind: the process is ending, or goes on without them.
    """
    ender = threading.Thread(target=pool.terminate, name="pool-end", daemon=True)
    ender.start()
    ender.join(TERMINATE_SECONDS)
    if ender.is_alive():
        for process in pool._pool:
            process.kill()
            process.join()
        return
    pool.join()
