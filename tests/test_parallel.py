"""map_in_order: results in input order whatever the number of workers."""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import time

import pytest

from annotool import parallel
from annotool.parallel import map_in_order


def square_and_pid(number: int) -> tuple[int, int]:
    return number * number, os.getpid()


def square_with_slow_first_item(number: int) -> int:
    # The first item finishes last, so a pool that returned results as they come would
    # put it at the end.
    if number == 0:
        time.sleep(0.2)
    return number * number


def frozen_object_count(_: int) -> int:
    return gc.get_freeze_count()


def fail_on_three(number: int) -> int:
    if number == 3:
        raise ValueError(f"item {number} failed")
    return number


@pytest.mark.parametrize("workers", [1, 2], ids=["one-worker", "two-workers"])
@pytest.mark.parametrize("count", [0, 1, 2, 37], ids=["none", "single", "two", "many"])
def test_map_in_order_keeps_order_and_reports_each_item(workers: int, count: int) -> None:
    advances: list[int] = []
    results = list(map_in_order(square_and_pid, range(count), workers, advances.append))
    assert [square for square, _ in results] == [number * number for number in range(count)]
    assert advances == [1] * count


def test_map_in_order_waits_for_a_slow_first_item() -> None:
    results = list(map_in_order(square_with_slow_first_item, range(6), workers=2))
    assert results == [0, 1, 4, 9, 16, 25]


def test_map_in_order_without_progress() -> None:
    assert [square for square, _ in map_in_order(square_and_pid, [3, 1, 2])] == [9, 1, 4]


def test_one_worker_runs_in_this_process() -> None:
    pids = {pid for _, pid in map_in_order(square_and_pid, range(5), workers=1)}
    assert pids == {os.getpid()}


def test_several_workers_run_in_other_processes() -> None:
    pids = {pid for _, pid in map_in_order(square_and_pid, range(40), workers=2)}
    assert os.getpid() not in pids


def test_a_single_item_runs_in_this_process_whatever_the_workers() -> None:
    assert list(map_in_order(square_and_pid, [4], workers=8)) == [(16, os.getpid())]


@pytest.mark.parametrize("workers", [1, 2], ids=["one-worker", "two-workers"])
def test_map_in_order_raises_the_function_error(workers: int) -> None:
    with pytest.raises(ValueError, match="item 3 failed"):
        list(map_in_order(fail_on_three, range(6), workers))


_shared_offset = 0


def set_offset(offset: int) -> None:
    global _shared_offset
    _shared_offset = offset


def add_offset_and_sigint_handler(number: int) -> tuple[int, bool]:
    return number + _shared_offset, signal.getsignal(signal.SIGINT) is signal.SIG_IGN


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_workers_get_the_initializer_state_and_ignore_ctrl_c(
    monkeypatch: pytest.MonkeyPatch, start_method: str
) -> None:
    monkeypatch.setattr(parallel, "pool_context", lambda: multiprocessing.get_context(start_method))
    before = signal.getsignal(signal.SIGINT)
    results = list(
        map_in_order(add_offset_and_sigint_handler, range(4), 2, None, set_offset, (100,))
    )
    assert results == [(100, True), (101, True), (102, True), (103, True)]
    assert signal.getsignal(signal.SIGINT) is before  # this process keeps its handler


def test_one_worker_runs_the_initializer_here() -> None:
    ignored_here = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    try:
        results = list(map_in_order(add_offset_and_sigint_handler, [1], 1, None, set_offset, (7,)))
        assert results == [(8, ignored_here)]  # Ctrl-C handling here is left alone
    finally:
        set_offset(0)


@pytest.mark.skipif(parallel.pool_context().get_start_method() != "fork", reason="forked workers")
def test_forked_workers_leave_inherited_objects_out_of_garbage_collection() -> None:
    counts = list(map_in_order(frozen_object_count, range(4), workers=2))
    assert min(counts) > 1000
    assert gc.get_freeze_count() == 0
