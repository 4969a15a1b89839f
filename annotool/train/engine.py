"""The model and what updates it: the loss, one training step, the weight average,
validation.

The :class:`Engine` holds the model being trained, an exponential moving average (EMA) of
its weights, AdamW, the loss and the mixed-precision machinery, on one device. The EMA is
what validation scores and what checkpoints give to ``predict``: on a few images the raw
weights jump from step to step, and the best checkpoint would be chosen on noise.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from annotool.errors import TrainingError
from annotool.labels import IGNORE_ID
from annotool.train.checkpoint import Checkpoint
from annotool.train.device import (
    MEMORY_FORMAT,
    DistributedContext,
    Precision,
    autocast,
    sum_across_ranks,
)
from annotool.train.inference import scores_at_size
from annotool.train.model import SegmentationModel, build_model, load_pretrained_encoder
from annotool.train.setup import RunSetup

MAX_NONFINITE_STEPS = 20
"""Consecutive steps with a NaN or infinite loss after which training gives up."""
EMA_WARMUP = 10
"""The EMA decay of step t is ``min(decay, (1 + t) / (EMA_WARMUP + t))``: early weights,
which are mostly noise, are forgotten quickly."""

Batch = tuple[torch.Tensor, torch.Tensor]
"""Normalized images ``(B, 3, h, w)`` float32 and class-id targets ``(B, H, W)`` int64."""


@dataclass
class Engine:
    """The model and what updates it, on one device in one precision."""

    model: SegmentationModel
    trained_model: torch.nn.Module
    """``model``, wrapped in DistributedDataParallel in a distributed run."""
    average: SegmentationModel
    """The exponential moving average of ``model``'s weights (buffers copied)."""
    criterion: SegmentationLoss
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    device: torch.device
    precision: Precision
    peak_lr: float
    grad_clip: float
    ema_decay: float
    nonfinite_in_a_row: int = 0

    def to_device(self, images: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, ...]:
        images = images.to(self.device, non_blocking=True)
        return images.contiguous(memory_format=MEMORY_FORMAT), targets.to(
            self.device, non_blocking=True
        )

    def set_lr(self, factor: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.peak_lr * factor

    def train_step(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        step: int,
        context: DistributedContext,
    ) -> float | None:
        """One optimizer step and EMA update; returns the loss, None for a skipped step."""
        images, targets = self.to_device(images, targets)
        with autocast(self.device, self.precision):
            logits = self.trained_model(images)
        loss = self.criterion(logits, targets)
        self.optimizer.zero_grad(set_to_none=True)
        if not _finite_on_all_ranks(loss, context):
            # Skipping the update keeps one bad batch from poisoning the weights with NaN.
            self.nonfinite_in_a_row += 1
            if self.nonfinite_in_a_row >= MAX_NONFINITE_STEPS:
                raise TrainingError(
                    f"the loss was NaN or infinite for {MAX_NONFINITE_STEPS} steps in a row; "
                    "lower --lr, or try --precision fp32"
                )
            return None
        self.nonfinite_in_a_row = 0
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self._update_average(step)
        return float(loss.item())

    @torch.no_grad()
    def _update_average(self, step: int) -> None:
        decay = min(self.ema_decay, (1 + step) / (EMA_WARMUP + step))
        averaged = list(self.average.parameters())
        current = list(self.model.parameters())
        torch._foreach_lerp_(averaged, current, 1.0 - decay)
        for kept, buffer in zip(self.average.buffers(), self.model.buffers(), strict=True):
            kept.copy_(buffer)

    @torch.inference_mode()
    def validate(
        self,
        batches: Iterable[Batch],
        context: DistributedContext,
        on_image: Callable[[int], None],
    ) -> tuple[float, NDArray[np.int64]]:
        """Mean loss and ``(C, C)`` confusion matrix of the EMA weights over the whole
        validation split, all ranks; scores are upsampled to each mask's own size."""
        model = self.average.eval()
        if context.is_distributed:
            # Each rank's BatchNorm statistics saw its own batches: validate (and save) them
            # averaged over the ranks, so every rank scores the weights that rank 0 saves.
            for buffer in model.buffers():
                total = sum_across_ranks(buffer.detach().cpu().double(), context)
                buffer.copy_((total / context.world_size).to(buffer.dtype))
        num_classes = model.config.num_classes
        confusion = torch.zeros(num_classes * num_classes, dtype=torch.int64)
        loss_sum = 0.0
        batch_count = 0
        for batch_images, batch_targets in batches:
            images, targets = self.to_device(batch_images, batch_targets)
            logits = scores_at_size(model, images, targets.shape[-2:], self.device, self.precision)
            loss_sum += self.criterion(logits, targets).item()
            labelled = targets != IGNORE_ID
            pairs = targets[labelled] * num_classes + logits.argmax(dim=1)[labelled]
            confusion += torch.bincount(pairs, minlength=num_classes**2).cpu()
            batch_count += 1
            on_image(images.shape[0])
        totals = sum_across_ranks(
            torch.tensor([loss_sum, batch_count], dtype=torch.float64), context
        )
        confusion = sum_across_ranks(confusion, context)
        mean_loss = float(totals[0] / totals[1]) if totals[1] > 0 else math.nan
        return mean_loss, confusion.reshape(num_classes, num_classes).numpy()

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps of the engine beyond the averaged weights."""
        return {
            "training_weights": self.model.state_dict(),
            "optimizer_state": self.optimizer.state_dict(),
            "scaler_state": self.scaler.state_dict() if self.scaler.is_enabled() else None,
        }

    def restore(self, checkpoint: Checkpoint) -> None:
        """Load a checkpoint's weights (the training ones when it has them) and optimizer."""
        self.average.load_state_dict(checkpoint.model_state)
        self.model.load_state_dict(checkpoint.training_weights or checkpoint.model_state)
        if checkpoint.optimizer_state is not None:
            self.optimizer.load_state_dict(checkpoint.optimizer_state)
        if checkpoint.scaler_state:
            self.scaler.load_state_dict(checkpoint.scaler_state)


def make_engine(setup: RunSetup, context: DistributedContext) -> Engine:
    """A freshly initialized model (seeded; the encoder from pretrained weights if asked),
    its average, AdamW and the loss, on ``setup``'s device."""
    options, device, precision = setup.options, setup.device, setup.precision
    torch.manual_seed(options.seed)
    model = build_model(setup.model_config)
    if setup.encoder_weights is not None:
        load_pretrained_encoder(model, setup.encoder_weights)
    model = model.to(device=device, memory_format=MEMORY_FORMAT)
    average = copy.deepcopy(model).requires_grad_(False).eval()
    weights = None
    if setup.class_weights is not None:
        weights = torch.tensor(setup.class_weights, dtype=torch.float32, device=device)
    # foreach updates all parameters with a few large kernels instead of a loop of small
    # ones: about 5 % faster training steps on a CPU (measured), the same maths.
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=options.lr, weight_decay=options.weight_decay, foreach=True
    )
    trained_model: torch.nn.Module = model
    if context.is_distributed:
        trained_model = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    return Engine(
        model=model,
        trained_model=trained_model,
        average=average,
        criterion=SegmentationLoss(weights, dice_weight=options.dice_weight).to(device),
        optimizer=optimizer,
        scaler=torch.amp.GradScaler(device.type, enabled=precision == "fp16"),
        device=device,
        precision=precision,
        peak_lr=options.lr,
        grad_clip=options.grad_clip,
        ema_decay=options.ema_decay,
    )


def _finite_on_all_ranks(loss: torch.Tensor, context: DistributedContext) -> bool:
    finite = torch.isfinite(loss.detach()).to(torch.float64).cpu().reshape(1)
    if context.is_distributed:
        # Every rank must skip together, or DDP's gradient all-reduce would hang.
        finite = sum_across_ranks(finite, context) / context.world_size
    return bool(finite.item() == 1.0)


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
