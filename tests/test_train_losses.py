from __future__ import annotations

import pytest
import torch
from train_fixtures import one_torch_thread  # noqa: F401

from annotool.train.losses import SegmentationLoss, soft_dice_loss

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
