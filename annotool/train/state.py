"""Where a run stands: its length, its learning rate, its best result so far.

:class:`RunState` is everything a checkpoint must hold for ``--resume`` to go on where the
run stopped; :meth:`RunState.saved` and :meth:`RunState.restored` sit side by side.

How long a run is and how its learning rate moves is counted in optimizer steps.

The learning rate warms up linearly for a bounded number of steps (5% of the run, at
most :data:`MAX_WARMUP_STEPS`), then decays along a cosine to 1% of its peak at the last
step. An ``--epochs`` run knows its number of steps up front. A ``--time`` run does not:
it estimates them from the rate measured so far (validation included) and re-estimates
after every step, so the cosine stretches over the wall-clock budget, and it stops when
the next step and a validation would no longer fit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from annotool.train.report import EpochRow

if TYPE_CHECKING:
    from annotool.train.checkpoint import Checkpoint

WARMUP_SHARE = 0.05
MAX_WARMUP_STEPS = 100
"""Warm-up lasts 5% of the steps, but never more than this many: a long run must not
crawl at a tiny learning rate for thousands of steps, nor stop early while it does."""
FINAL_LR_FACTOR = 0.01
"""The cosine decay ends at this fraction of the peak learning rate."""
MEASURED_STEPS = 10
"""A time budget fixes its warm-up length once this many steps have shown the step rate."""


def warmup_steps(total_steps: int) -> int:
    return max(1, min(MAX_WARMUP_STEPS, round(WARMUP_SHARE * total_steps)))


def lr_factor(step: int, total_steps: int, warmup: int) -> float:
    """The learning rate of optimizer step ``step`` (from 0) as a share of the peak."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return FINAL_LR_FACTOR + (1 - FINAL_LR_FACTOR) * cosine


@dataclass
class Budget:
    """The length of a run (``epochs`` x ``steps_per_epoch``, or ``seconds`` of wall clock)
    and where it stands: ``step`` optimizer steps done, ``elapsed`` seconds spent before
    this process started (a resumed run)."""

    steps_per_epoch: int
    epochs: int
    seconds: float | None = None
    step: int = 0
    elapsed: float = 0.0
    total_steps: int = 0
    warmup: int = MAX_WARMUP_STEPS
    warmup_measured: bool = False
    """Whether a time budget has fixed its warm-up (once, even across a resume)."""
    clock: Callable[[], float] = time.perf_counter
    started: float | None = None
    """When this process began the run (its setup counts against a time budget)."""
    _steps_at_start: int = field(init=False)
    _first_step_done: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        if self.started is None:
            self.started = self.clock()
        self._steps_at_start = self.step
        if self.seconds is None:
            self.total_steps = self.epochs * self.steps_per_epoch
            self.warmup = warmup_steps(self.total_steps)
        elif self.total_steps == 0:
            self.total_steps = self.step + 10 * MAX_WARMUP_STEPS  # until measured

    @property
    def is_timed(self) -> bool:
        return self.seconds is not None

    def seconds_spent(self) -> float:
        return self.elapsed + self.clock() - self.started

    def lr_factor(self) -> float:
        return lr_factor(self.step, self.total_steps, self.warmup)

    def in_warmup(self) -> bool:
        return self.step < self.warmup

    def count_step(self) -> None:
        """One optimizer step was taken; a time budget re-estimates its length."""
        self.step += 1
        if self.seconds is None:
            return
        steps_here = self.step - self._steps_at_start
        if steps_here == 1:  # the rate is measured from here: setup and first step excluded
            self._first_step_done = self.clock()
            return
        rate = (steps_here - 1) / max(self.clock() - self._first_step_done, 1e-9)
        remaining = max(0.0, self.seconds - self.seconds_spent())
        self.total_steps = max(self.step + 1, self.step + round(rate * remaining))
        if not self.warmup_measured and steps_here >= MEASURED_STEPS:
            self.warmup = max(self.step, warmup_steps(self.total_steps))
            self.warmup_measured = True

    def out_of_time(self, validation_seconds: float) -> bool:
        """Whether another step and a validation taking ``validation_seconds`` would overrun."""
        if self.seconds is None:
            return False
        steps_here = max(1, self.step - self._steps_at_start)
        step_seconds = (self.clock() - self.started) / steps_here
        return self.seconds_spent() + step_seconds + validation_seconds >= self.seconds

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "elapsed": self.seconds_spent(),
            "total_steps": self.total_steps,
            "warmup": self.warmup,
            "warmup_measured": self.warmup_measured,
        }


@dataclass
class RunState:
    """Where a run stands: its :class:`Budget`, the per-epoch history and the best epoch,
    and the timings that size the next epoch. Restored from ``last.pt`` on resume."""

    budget: Budget
    history: list[EpochRow] = field(default_factory=list)
    best_miou: float = -1.0
    best_epoch: int = 0
    last_epoch: int = 0
    stale_validations: int = 0
    """Validations after warm-up without a better mIoU, for early stopping."""
    last_validation_seconds: float = 0.0
    last_images_per_s: float = 0.0
    validation_seconds: float = 0.0

    def saved(self) -> dict[str, Any]:
        """The checkpoint fields that :meth:`restored` reads back."""
        return {
            "epoch": self.last_epoch,
            "best_miou": self.best_miou,
            "best_epoch": self.best_epoch,
            "history": self.history,
            "scheduler_state": self.budget.state_dict(),
        }

    @classmethod
    def restored(
        cls,
        checkpoint: Checkpoint,
        steps_per_epoch: int,
        epochs: int,
        seconds: float | None,
        started: float,
    ) -> RunState:
        """The state :meth:`saved` wrote into ``checkpoint``, for this process's budget of
        ``epochs`` or ``seconds``."""
        schedule = checkpoint.scheduler_state or {}
        # Checkpoints from before step budgets kept LambdaLR's state, whose last_epoch is the step.
        step = int(schedule.get("step", schedule.get("last_epoch", 0)))
        budget = Budget(
            steps_per_epoch,
            epochs,
            seconds,
            step=step,
            elapsed=float(schedule.get("elapsed", 0.0)),
            started=started,
        )
        if budget.is_timed and "warmup" in schedule:
            budget.warmup = int(schedule["warmup"])
            # Checkpoints from before the flag measured it by their tenth step.
            budget.warmup_measured = bool(schedule.get("warmup_measured", step >= MEASURED_STEPS))
        return cls(
            budget=budget,
            history=list(checkpoint.history),
            best_miou=checkpoint.best_miou,
            best_epoch=checkpoint.best_epoch,
            last_epoch=checkpoint.epoch,
        )

    def record(self, row: EpochRow, miou: float, validation_seconds: float) -> bool:
        """Enter a validated epoch; returns whether it is the best so far."""
        self.last_epoch = int(row["epoch"])
        self.history.append(row)
        self.last_validation_seconds = validation_seconds
        self.validation_seconds += validation_seconds
        improved = miou > self.best_miou
        if improved:
            self.best_miou, self.best_epoch = miou, self.last_epoch
            self.stale_validations = 0
        elif not self.budget.in_warmup():
            self.stale_validations += 1
        return improved
