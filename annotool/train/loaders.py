"""The batches a run trains and validates on: crops dealt to the ranks, validation images.

An epoch is every training image at least once and at least ``min_epoch_steps`` batches
of crops. A ``--time`` run also lengthens its epochs so that validating, which follows
every epoch, takes at most :data:`MAX_VALIDATION_SHARE` of the run: when steps are cheap
(small crops, small models) and the validation split is large, validating after every 25
steps would otherwise eat a third of the budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, DistributedSampler

from annotool.parallel import usable_cpus
from annotool.train import distributed
from annotool.train.data import TrainingCrops, ValidationImages
from annotool.train.setup import RunSetup

MAX_VALIDATION_SHARE = 0.1
Batches = DataLoader[tuple[torch.Tensor, torch.Tensor]]


def default_loader_workers(device: torch.device) -> int:
    """DataLoader processes: up to 8 feeding a GPU; on a CPU run few, at most a quarter of
    the cores, since decoding costs little there once images are cached and extra
    processes would take cores from the model's own threads (0 on a 2-core machine).
    """
    cpus = usable_cpus()
    if device.type == "cuda":
        return min(8, cpus)
    return min(4, cpus // 4)


def steps_for_validation_share(
    min_steps: int, step_seconds: float, validation_seconds: float
) -> int:
    """Steps an epoch needs so that a validation of ``validation_seconds`` after it takes at
    most :data:`MAX_VALIDATION_SHARE` of the epoch, and never fewer than ``min_steps``."""
    if step_seconds <= 0 or validation_seconds <= 0:
        return min_steps
    training_seconds = validation_seconds * (1 - MAX_VALIDATION_SHARE) / MAX_VALIDATION_SHARE
    return max(min_steps, math.ceil(training_seconds / step_seconds))


@dataclass
class RunLoaders:
    """The training crops and the validation batches of one process (one rank)."""

    train_set: TrainingCrops
    val: Batches
    val_images: int
    min_steps: int
    """Batches in an epoch of the plain length: every image once, ``min_epoch_steps``."""
    batch_size: int
    workers: int
    context: distributed.DistributedContext
    pin_memory: bool

    def epoch_batches(self, epoch: int, steps: int | None = None) -> Batches:
        """The training batches of ``epoch``: ``steps`` of them (at least the plain length)."""
        crops_per_step = self.batch_size * self.context.world_size
        self.train_set.set_epoch(epoch, max(self.min_steps, steps or 0) * crops_per_step)
        # The crops are already in a seeded random order; the sampler only deals them to ranks.
        sampler = DistributedSampler(
            self.train_set,
            num_replicas=self.context.world_size,
            rank=self.context.rank,
            shuffle=False,
        )
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.workers,
            drop_last=len(sampler) > self.batch_size,
            pin_memory=self.pin_memory,
        )


def make_loaders(setup: RunSetup, context: distributed.DistributedContext) -> RunLoaders:
    options = setup.options
    num_classes = len(setup.class_names)
    crops_per_step = options.batch_size * context.world_size
    train_set = TrainingCrops(
        setup.layout,
        setup.train_stems,
        num_classes,
        setup.normalization,
        crop_size=options.size,
        image_size=setup.image_size,
        samples_per_epoch=options.min_epoch_steps * crops_per_step,
        seed=options.seed,
    )
    # Each rank validates its own share; confusion matrices are summed, so nothing counts twice.
    val_set = ValidationImages(
        setup.layout,
        setup.val_stems[context.rank :: context.world_size],
        num_classes,
        setup.normalization,
        setup.image_size,
    )
    workers = default_loader_workers(setup.device) if options.workers is None else options.workers
    return RunLoaders(
        train_set=train_set,
        val=DataLoader(val_set, batch_size=1, num_workers=workers),
        val_images=len(val_set),
        min_steps=math.ceil(len(train_set) / crops_per_step),
        batch_size=options.batch_size,
        workers=workers,
        context=context,
        pin_memory=setup.device.type == "cuda",
    )
