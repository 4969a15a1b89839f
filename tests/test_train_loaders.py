from __future__ import annotations

import time
from pathlib import Path

import pytest
from train_fixtures import make_dataset, one_torch_thread, tiny_options  # noqa: F401

from annotool.train import engine, loaders
from annotool.train.loaders import MAX_VALIDATION_SHARE, steps_for_validation_share
from annotool.train.loop import train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_an_epoch_is_long_enough_for_validation_to_stay_a_small_share() -> None:
    # 2 s of validation may be a tenth of an epoch: 18 s of steps of 0.1 s.
    assert steps_for_validation_share(25, 0.1, 2.0) == 180
    assert steps_for_validation_share(25, 1.0, 0.5) == 25  # the minimum holds
    assert steps_for_validation_share(25, 0.0, 2.0) == 25  # nothing measured yet


def test_a_timed_run_validates_less_often_when_validating_is_slow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import matplotlib.figure  # noqa: F401  (its first import alone could spend the budget)

    make_dataset(tmp_path / "data")  # 6 training images in batches of 2: 3 steps an epoch
    validate = engine.Engine.validate

    def slow_validate(self: engine.Engine, *args: object) -> object:
        time.sleep(0.4)
        return validate(self, *args)

    monkeypatch.setattr(engine.Engine, "validate", slow_validate)
    result = train(tiny_options(tmp_path, time_budget=6.0))

    steps = [row["step"] for row in result.history]
    assert steps[0] == 3  # nothing measured yet: the plain epoch
    assert steps[1] - steps[0] > 3 * 3  # then long enough to dwarf the validation
    assert result.validation_seconds < 2 * MAX_VALIDATION_SHARE * result.seconds + 0.4


def test_an_epochs_run_keeps_its_plain_epochs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_dataset(tmp_path / "data")
    monkeypatch.setattr(loaders, "MAX_VALIDATION_SHARE", 0.001)
    result = train(tiny_options(tmp_path, epochs=3))
    assert [row["step"] for row in result.history] == [3, 6, 9]
