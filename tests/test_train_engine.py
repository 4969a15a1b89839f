from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from train_fixtures import CLASS_NAMES, make_dataset, one_torch_thread, tiny_options  # noqa: F401

from annotool.errors import TrainingError
from annotool.train.checkpoint import Checkpoint, default_palette
from annotool.train.device import DistributedContext
from annotool.train.engine import (
    MAX_NONFINITE_STEPS,
    Engine,
    SegmentationLoss,
    make_engine,
    soft_dice_loss,
)
from annotool.train.model import Normalization
from annotool.train.setup import prepare

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _logits_and_target() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 5, 6, generator=generator, requires_grad=True)
    target = torch.randint(0, 3, (2, 5, 6), generator=generator)
    target[0, :2, :] = 255
    target[1, :, 4:] = 255
    return logits, target


@pytest.mark.parametrize("dice_weight", [0.0, 1.0], ids=["ce-only", "ce-plus-dice"])
def test_ignored_pixels_get_zero_gradient(dice_weight: float) -> None:
    logits, target = _logits_and_target()
    SegmentationLoss(torch.tensor([1.0, 2.0, 0.5]), dice_weight=dice_weight)(
        logits, target
    ).backward()
    ignored = (target == 255).unsqueeze(1).expand_as(logits)
    assert logits.grad is not None
    assert torch.count_nonzero(logits.grad[ignored]) == 0
    assert torch.count_nonzero(logits.grad[~ignored]) > 0


def test_values_at_ignored_pixels_do_not_change_the_loss() -> None:
    logits, target = _logits_and_target()
    changed = logits.detach().clone()
    changed[(target == 255).unsqueeze(1).expand_as(changed)] = 100.0
    loss = SegmentationLoss()
    assert torch.isclose(loss(logits, target), loss(changed, target))


def test_a_confident_correct_prediction_has_almost_no_loss() -> None:
    _, target = _logits_and_target()
    logits = torch.nn.functional.one_hot(target.clamp(max=2), 3).permute(0, 3, 1, 2) * 50.0
    assert SegmentationLoss()(logits.float(), target).item() < 1e-3


def test_class_weights_change_the_loss() -> None:
    logits, target = _logits_and_target()
    plain = SegmentationLoss(dice_weight=0)(logits, target)
    weighted = SegmentationLoss(torch.tensor([1.0, 5.0, 0.1]), dice_weight=0)(logits, target)
    assert not torch.isclose(plain, weighted)


def test_all_ignored_batch_gives_zero_loss_not_nan() -> None:
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    loss = SegmentationLoss()(logits, torch.full((1, 4, 4), 255))
    loss.backward()
    assert loss.item() == 0.0
    assert logits.grad is not None and torch.count_nonzero(logits.grad) == 0


def test_dice_is_perfect_for_a_perfect_prediction() -> None:
    target = torch.tensor([[[0, 1], [2, 255]]])
    logits = torch.nn.functional.one_hot(target.clamp(max=2), 3).permute(0, 3, 1, 2) * 100.0
    assert soft_dice_loss(logits.float(), target).item() == pytest.approx(0.0, abs=1e-6)


@pytest.fixture
def tiny_engine(tmp_path: Path) -> Engine:
    make_dataset(tmp_path / "data")
    setup = prepare(tiny_options(tmp_path), torch.device("cpu"), DistributedContext(), print)
    return make_engine(setup, DistributedContext())


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    images = torch.randn(2, 3, 32, 32, generator=generator)
    targets = torch.randint(0, len(CLASS_NAMES), (2, 32, 32), generator=generator)
    return images, targets


def _weights(model: torch.nn.Module) -> list[torch.Tensor]:
    return [parameter.detach().clone() for parameter in model.parameters()]


def test_a_step_updates_the_weights_and_moves_their_average_towards_them(
    tiny_engine: Engine,
) -> None:
    before, average_before = _weights(tiny_engine.model), _weights(tiny_engine.average)
    loss = tiny_engine.train_step(*_batch(), step=10_000, context=DistributedContext())

    assert loss is not None and math.isfinite(loss)
    after, average_after = _weights(tiny_engine.model), _weights(tiny_engine.average)
    assert any(not torch.equal(old, new) for old, new in zip(before, after, strict=True))
    # With the decay at its cap the average moves by (1 - decay) of the gap, no further.
    decay = tiny_engine.ema_decay
    for old, new, weights in zip(average_before, average_after, after, strict=True):
        torch.testing.assert_close(new, decay * old + (1 - decay) * weights)


def test_a_step_with_a_nan_loss_is_skipped_and_leaves_the_weights_alone(
    tiny_engine: Engine,
) -> None:
    images, targets = _batch()
    images[0, 0, 0, 0] = math.nan
    before, average_before = _weights(tiny_engine.model), _weights(tiny_engine.average)

    assert tiny_engine.train_step(images, targets, step=0, context=DistributedContext()) is None

    assert tiny_engine.nonfinite_in_a_row == 1
    for old, new in zip(before, _weights(tiny_engine.model), strict=True):
        assert torch.equal(old, new)
    for old, new in zip(average_before, _weights(tiny_engine.average), strict=True):
        assert torch.equal(old, new)
    # A finite step resets the count of bad steps in a row.
    assert tiny_engine.train_step(*_batch(), step=1, context=DistributedContext()) is not None
    assert tiny_engine.nonfinite_in_a_row == 0


def test_too_many_nan_losses_in_a_row_stop_training_with_advice(tiny_engine: Engine) -> None:
    images, targets = _batch()
    images[:] = math.nan
    for step in range(MAX_NONFINITE_STEPS - 1):
        assert tiny_engine.train_step(images, targets, step, DistributedContext()) is None
    with pytest.raises(TrainingError, match=r"NaN or infinite for 20 steps in a row; lower --lr"):
        tiny_engine.train_step(images, targets, MAX_NONFINITE_STEPS, DistributedContext())


def test_validation_counts_every_labelled_pixel_once(tiny_engine: Engine) -> None:
    images, targets = _batch()
    targets[0, :4] = 255  # ignored pixels are not counted
    loss, confusion = tiny_engine.validate([(images, targets)], DistributedContext(), print)

    assert math.isfinite(loss)
    assert confusion.shape == (len(CLASS_NAMES), len(CLASS_NAMES))
    assert confusion.sum() == int((targets != 255).sum())
    assert confusion.sum(axis=1).tolist() == [
        int((targets == class_id).sum()) for class_id in range(len(CLASS_NAMES))
    ]


def test_state_and_restore_round_trip_the_optimizer(tiny_engine: Engine, tmp_path: Path) -> None:
    tiny_engine.train_step(*_batch(), step=0, context=DistributedContext())
    state = tiny_engine.state()
    fresh = make_engine(
        prepare(tiny_options(tmp_path), torch.device("cpu"), DistributedContext(), print),
        DistributedContext(),
    )
    checkpoint = Checkpoint(
        model_state=tiny_engine.average.state_dict(),
        model_config=tiny_engine.model.config,
        class_names=CLASS_NAMES,
        palette=default_palette(len(CLASS_NAMES)),
        normalization=Normalization((0.5, 0.5, 0.5), (0.2, 0.2, 0.2)),
        **state,
    )
    fresh.restore(checkpoint)
    for kept, restored in zip(_weights(tiny_engine.model), _weights(fresh.model), strict=True):
        assert torch.equal(kept, restored)
    assert fresh.optimizer.state_dict()["state"].keys() == state["optimizer_state"]["state"].keys()
