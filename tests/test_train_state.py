from __future__ import annotations

import itertools

import pytest

from annotool.train import state
from annotool.train.state import (
    FINAL_LR_FACTOR,
    MAX_WARMUP_STEPS,
    Budget,
    lr_factor,
    warmup_steps,
)


@pytest.mark.parametrize(
    ("total", "expected"), [(1, 1), (40, 2), (1000, 50), (2000, 100), (10**7, MAX_WARMUP_STEPS)]
)
def test_warmup_is_a_small_share_of_the_steps_and_bounded(total: int, expected: int) -> None:
    assert warmup_steps(total) == expected


def test_a_very_long_run_warms_up_in_a_bounded_number_of_steps() -> None:
    """--epochs 100000 on six images must not crawl at a tiny learning rate for ages."""
    budget = Budget(steps_per_epoch=1, epochs=100_000)
    assert budget.warmup == MAX_WARMUP_STEPS
    budget.step = MAX_WARMUP_STEPS - 1
    assert budget.lr_factor() == pytest.approx(1.0)
    assert budget.in_warmup()
    budget.step = MAX_WARMUP_STEPS
    assert not budget.in_warmup()


def test_the_learning_rate_rises_then_decays_along_a_cosine_to_its_floor() -> None:
    total, warmup = 200, 10
    factors = [lr_factor(step, total, warmup) for step in range(total + 5)]
    assert factors[0] == pytest.approx(1 / warmup)
    assert factors[warmup - 1] == pytest.approx(1.0)
    after = factors[warmup - 1 :]
    assert all(a >= b for a, b in itertools.pairwise(after))
    assert factors[warmup + (total - warmup) // 2] == pytest.approx((1 + FINAL_LR_FACTOR) / 2)
    assert factors[-1] == pytest.approx(FINAL_LR_FACTOR)


def test_an_epoch_budget_counts_steps_of_all_epochs() -> None:
    budget = Budget(steps_per_epoch=25, epochs=8)
    assert budget.total_steps == 200 and budget.warmup == 10
    assert not budget.is_timed and not budget.out_of_time(1e9)


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_time_budget_stretches_the_schedule_over_the_measured_step_rate() -> None:
    clock = _Clock()
    budget = Budget(steps_per_epoch=25, epochs=60, seconds=100.0, clock=clock)
    for _ in range(state.MEASURED_STEPS):
        clock.now += 0.5  # two steps a second
        budget.count_step()
    # 95 s left at 2 steps/s: about 190 more steps.
    assert budget.total_steps == pytest.approx(10 + 190, abs=2)
    assert budget.warmup == 10
    while not budget.out_of_time(validation_seconds=5.0):
        clock.now += 0.5
        budget.count_step()
    # It stops with room for one more step and the validation, on time.
    assert 100.0 - 5.5 <= clock.now - 1000.0 <= 100.0
    assert budget.lr_factor() == pytest.approx(FINAL_LR_FACTOR, abs=0.01)


def test_a_resumed_time_budget_counts_the_time_already_spent() -> None:
    budget = Budget(
        steps_per_epoch=25, epochs=60, seconds=100.0, step=150, elapsed=99.0, clock=_Clock()
    )
    assert budget.out_of_time(validation_seconds=1.0)


def test_a_resumed_time_budget_keeps_the_warm_up_it_measured() -> None:
    clock = _Clock()
    budget = Budget(
        steps_per_epoch=25,
        epochs=60,
        seconds=100.0,
        step=150,
        elapsed=50.0,
        warmup=10,
        warmup_measured=True,
        clock=clock,
    )
    for _ in range(2 * state.MEASURED_STEPS):
        clock.now += 0.5
        budget.count_step()
    assert budget.warmup == 10  # measured before the interruption: the cosine goes on


def test_a_time_budget_resumed_before_measuring_measures_its_warm_up() -> None:
    clock = _Clock()
    budget = Budget(steps_per_epoch=25, epochs=60, seconds=100.0, step=3, clock=clock)
    for _ in range(state.MEASURED_STEPS):
        clock.now += 0.5
        budget.count_step()
    assert budget.warmup_measured and budget.warmup == budget.step  # 13: never ends in the past
