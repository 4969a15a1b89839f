"""Running a per-file function over many files on several processes, in input order.

Results come back in the order of the inputs whatever the number of workers, so
everything built from them (summaries, output bytes) does not depend on ``workers``.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from PIL import Image

from annotool.progress import ProgressCallback, no_progress

Item = TypeVar("Item")
Result = TypeVar("Result")


def usable_cpus() -> int:
    """The cores this process may run on (its affinity where the OS tells it), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def pool_context() -> multiprocessing.context.BaseContext:
    # fork starts workers in milliseconds with numpy and Pillow already imported; spawn
    # would cost about a second per worker, more than converting hundreds of images.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def map_in_order(
    function: Callable[[Item], Result],
    items: Sequence[Item],
    workers: int = 1,
    progress: ProgressCallback | None = None,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[object, ...] = (),
) -> Iterator[Result]:
    """Yield ``function(item)`` for each item, in order, using up to ``workers`` processes.

    ``function`` and ``initializer`` must be module-level functions (they are pickled by
    reference). ``initializer(*initargs)`` runs once in each worker before its first item
    (in this process when everything runs here): the way to hand workers state such as
    a shared Event, which workers started by spawn would not see as a module global.
    With one worker or one item everything runs in this process. Workers ignore Ctrl-C:
    the KeyboardInterrupt reaches this process alone, and leaving the loop terminates
    the pool, so an interrupted command prints no traceback per worker.
    """
    advance = progress or no_progress
    if workers <= 1 or len(items) <= 1:
        if initializer is not None:
            initializer(*initargs)
        for item in items:
            result = function(item)
            advance(1)
            yield result
        return
    chunk_size = max(1, min(16, len(items) // (workers * 8)))
    processes = min(workers, len(items))
    with _start_pool(processes, initializer, initargs) as pool:
        for result in pool.imap(function, items, chunksize=chunk_size):
            advance(1)
            yield result


def _start_pool(
    processes: int, initializer: Callable[..., None] | None, initargs: tuple[object, ...]
) -> multiprocessing.pool.Pool:
    """A pool whose workers ignore SIGINT from their first instruction on.

    The workers' initializer ignores it too, but a Ctrl-C between a fork and the
    initializer would still reach a worker; ignoring it in this process while the pool
    forks closes that gap (possible only in the main thread, where signals are handled).
    """
    main_thread = threading.current_thread() is threading.main_thread()
    # getsignal is None for a handler installed outside Python, which could not be restored.
    previous = signal.getsignal(signal.SIGINT) if main_thread else None
    if previous is not None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    # What forked workers inherit they need not do again: every per-file function here
    # reads images, and Pillow imports its format plugins at the first one (~25 ms).
    Image.preinit()
    # The objects forked workers inherit are left out of their garbage collections, which
    # would otherwise write to, and so copy, every page of this process's heap in each
    # worker (gc.freeze's documented use).
    gc.freeze()
    try:
        return pool_context().Pool(processes, _start_worker, (initializer, initargs))
    finally:
        gc.unfreeze()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _start_worker(initializer: Callable[..., None] | None, initargs: tuple[object, ...]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if initializer is not None:
        initializer(*initargs)
