"""The training loss: cross-entropy plus soft Dice, both blind to ignored pixels (255)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from annotool.labels import IGNORE_ID


class SegmentationLoss(nn.Module):
    """``CE(weights, ignore_index=255) + dice_weight * (1 - mean soft Dice over classes)``.

    ``logits`` are ``(B, C, H, W)``, ``target`` ``(B, H, W)`` int64 class ids with 255 for
    ignored pixels, which contribute neither to the loss nor to its gradient. The loss is
    computed in float32 even under autocast, where softmax sums in bf16 would be too coarse.
    """

    def __init__(self, class_weights: torch.Tensor | None = None, dice_weight: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("class_weights", class_weights, persistent=False)
        self.dice_weight = dice_weight

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        if not (target != IGNORE_ID).any():
            # A crop of padding and ignore only: cross-entropy's mean would be 0/0 = NaN.
            return logits.sum() * 0.0
        cross_entropy = F.cross_entropy(
            logits, target, weight=self.class_weights, ignore_index=IGNORE_ID
        )
        if self.dice_weight == 0:
            return cross_entropy
        return cross_entropy + self.dice_weight * soft_dice_loss(logits, target)


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """``1 - mean over classes of (2|P∩T| + s) / (|P| + |T| + s)`` over labelled pixels.

    ``P`` are softmax probabilities, ``T`` the one-hot target; sums run over the batch so
    that a class missing from one image does not dominate. A class absent from target and
    prediction scores close to 1 thanks to the smoothing term.
    """
    num_classes = logits.shape[1]
    labelled = (target != IGNORE_ID).unsqueeze(1)
    probabilities = logits.softmax(dim=1) * labelled
    one_hot = F.one_hot(target.masked_fill(~labelled.squeeze(1), 0), num_classes)
    one_hot = one_hot.permute(0, 3, 1, 2).to(probabilities.dtype) * labelled
    dims = (0, 2, 3)
    intersection = (probabilities * one_hot).sum(dims)
    total = probabilities.sum(dims) + one_hot.sum(dims)
    dice = (2 * intersection + smooth) / (total + smooth)
    return 1 - dice.mean()
