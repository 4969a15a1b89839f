"""--precision auto: the faster precision, measured."""

from __future__ import annotations

import time

import pytest
import torch
from train_fixtures import one_torch_thread  # noqa: F401

from annotool.errors import DeviceError
from annotool.train import precision as precision_module
from annotool.train.device import DistributedContext, Precision
from annotool.train.model import ModelConfig, build_model
from annotool.train.precision import (
    SPEEDUP_TO_PICK,
    TIMED_ROUNDS,
    PrecisionChoice,
    choose_inference_precision,
    choose_training_precision,
    measure_precision,
)

CPU = torch.device("cpu")
TINY = ModelConfig(num_classes=3, width=4)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def sleeping_step(seconds: dict[str, float], calls: list[str]):
    def run(precision: Precision) -> None:
        calls.append(precision)
        time.sleep(seconds[precision])

    return run


def test_bf16_is_picked_only_when_clearly_faster() -> None:
    calls: list[str] = []
    choice = measure_precision(
        sleeping_step({"fp32": 0.03, "bf16": 0.01}, calls), CPU, "training step"
    )
    assert choice.picked == "bf16" and choice.device_type == "cpu"
    assert choice.seconds["fp32"] > SPEEDUP_TO_PICK * choice.seconds["bf16"]
    # One warm-up step each, then the two take turns.
    assert calls == ["fp32", "bf16"] * (1 + TIMED_ROUNDS)
    close = measure_precision(sleeping_step({"fp32": 0.02, "bf16": 0.02}, []), CPU, "step")
    assert close.picked == "fp32"


def test_the_choice_describes_itself_and_round_trips() -> None:
    choice = PrecisionChoice("fp32", {"fp32": 0.5, "bf16": 0.8}, "cpu")
    assert choice.describe() == (
        "precision auto: fp32 (one training step took 0.500 s in fp32, 0.800 s in bf16: "
        "0.62x; bf16 is picked from 1.1x)"
    )
    assert PrecisionChoice.from_dict(choice.to_dict()) == choice


def test_an_explicit_precision_is_not_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision_module, "measure_precision", pytest.fail)
    assert choose_training_precision("bf16", CPU, TINY, 32, DistributedContext()) == (
        "bf16",
        None,
    )
    with pytest.raises(DeviceError, match="unknown precision"):
        choose_training_precision("fp8", CPU, TINY, 32, DistributedContext())


def test_auto_measures_a_training_step_and_leaves_the_random_state_alone() -> None:
    torch.manual_seed(3)
    expected = torch.rand(4)
    torch.manual_seed(3)
    picked, choice = choose_training_precision("auto", CPU, TINY, 32, DistributedContext())
    assert torch.equal(torch.rand(4), expected)
    assert choice is not None and picked == choice.picked
    assert set(choice.seconds) == {"fp32", "bf16"} and all(choice.seconds.values())


def test_inference_uses_the_saved_choice_on_the_same_kind_of_device(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = build_model(TINY).eval()
    saved = PrecisionChoice("bf16", {"fp32": 1.0, "bf16": 0.5}, "cpu").to_dict()
    monkeypatch.setattr(precision_module, "measure_precision", pytest.fail)
    assert choose_inference_precision("auto", CPU, model, 32, saved) == "bf16"
    assert choose_inference_precision("fp32", CPU, model, 32, saved) == "fp32"


def test_inference_measures_without_a_choice_for_this_device(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    steps: list[str] = []
    measure = precision_module.measure_precision

    def spy(run, device: torch.device, step: str) -> PrecisionChoice:
        steps.append(step)
        return measure(run, device, step)

    monkeypatch.setattr(precision_module, "measure_precision", spy)
    model = build_model(TINY).eval()
    saved = PrecisionChoice("fp16", {"fp32": 1.0, "fp16": 0.5}, "cuda").to_dict()
    assert choose_inference_precision("auto", CPU, model, 32, saved) in ("fp32", "bf16")
    assert choose_inference_precision("auto", CPU, model, None, None) in ("fp32", "bf16")
    assert steps == ["forward pass", "forward pass"]
