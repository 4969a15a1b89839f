"""``annotool train``: fit a UNet to a converted, split dataset and keep the best model.

Read top to bottom: :func:`train` prepares the run (:mod:`annotool.train.setup`), builds
the loaders and the :class:`~annotool.train.engine.Engine`, then per epoch trains on
augmented crops, validates the averaged weights at the working size, writes ``last.pt``,
``best.pt`` (highest validation mIoU), ``metrics.csv`` and ``curves.png`` into the run
directory, and stops when the epochs or the time budget are spent, or early when mIoU
stops improving. Progress goes to a :class:`TrainingObserver`; nothing here prints.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from annotool.metrics import SegmentationScores, scores_from_confusion
from annotool.train import distributed
from annotool.train.checkpoint import Checkpoint, default_palette, save_checkpoint
from annotool.train.device import resolve_device
from annotool.train.engine import Batches, Engine, make_engine
from annotool.train.events import EpochResult, TrainingObserver, TrainResult
from annotool.train.history import (
    CURVES_FILE,
    METRICS_FILE,
    EpochRow,
    iou_column,
    write_curves_png,
    write_metrics_csv,
)
from annotool.train.loaders import make_loaders, steps_for_validation_share
from annotool.train.options import TrainOptions
from annotool.train.schedule import MEASURED_STEPS, Budget
from annotool.train.setup import BEST_CHECKPOINT, LAST_CHECKPOINT, RunSetup, prepare


@dataclass
class _Progress:
    """Where the run stands; restored from ``last.pt`` on resume."""

    history: list[EpochRow] = field(default_factory=list)
    best_miou: float = -1.0
    best_epoch: int = 0
    last_epoch: int = 0
    stale_validations: int = 0
    """Validations after warm-up without a better mIoU, for early stopping."""
    last_validation_seconds: float = 0.0
    last_images_per_s: float = 0.0
    validation_seconds: float = 0.0


def train(options: TrainOptions, observer: TrainingObserver | None = None) -> TrainResult:
    """Train a UNet as ``options`` say; see the module docstring for what is written."""
    started = time.perf_counter()  # a time budget counts the setup too
    options.check()
    context = distributed.context_from_environment()
    if observer is None or not context.is_main:
        observer = TrainingObserver()
    device = distributed.start(context, resolve_device(options.device))
    try:
        setup = prepare(options, device, context, observer.on_message)
        result = _run(options, setup, context, observer, started)
        # No rank may tear down its connections while another still uses them.
        distributed.wait_for_all(context)
        return result
    finally:
        distributed.stop(context)


def _run(
    options: TrainOptions,
    setup: RunSetup,
    context: distributed.DistributedContext,
    observer: TrainingObserver,
    started: float,
) -> TrainResult:
    loaders = make_loaders(options, setup, context)
    engine = make_engine(
        options,
        setup.model_config,
        setup.class_weights,
        setup.encoder_weights,
        setup.device,
        setup.precision,
        context,
    )
    progress = _Progress()
    budget = Budget(loaders.min_steps, options.epochs, options.time_budget, started=started)
    if setup.resumed is not None:
        progress, budget = _restore(engine, setup.resumed, options, loaders.min_steps, started)
        if budget.is_timed or progress.last_epoch >= options.epochs:
            observer.on_message(_resume_note(setup, progress, budget, options))
    training_record = {
        **{
            key: str(value) if isinstance(value, os.PathLike) else value
            for key, value in asdict(options).items()
        },
        "class_weights": setup.class_weights,
        "precision": setup.precision,
        "world_size": context.world_size,
        "image_size": setup.image_size,
    }
    patience = options.effective_patience
    stopped_early = False
    epoch = progress.last_epoch
    while (
        (epoch < options.epochs)
        if not budget.is_timed
        else not _out_of_time(budget, progress, context)
    ):
        epoch += 1
        epoch_started = time.perf_counter()
        batches = loaders.epoch_batches(epoch, _epoch_steps(budget, progress, options, context))
        observer.on_epoch_start(
            epoch, None if budget.is_timed else options.epochs, len(loaders.train_set)
        )
        train_loss, progress.last_images_per_s = _train_epoch(
            engine, batches, budget, progress, context, observer
        )
        validation_started = time.perf_counter()
        observer.on_validation_start(loaders.val_images)
        val_loss, confusion = engine.validate(loaders.val, context, observer.on_validation_step)
        progress.last_validation_seconds = time.perf_counter() - validation_started
        progress.validation_seconds += progress.last_validation_seconds
        scores = scores_from_confusion(confusion, setup.class_names)
        miou = 0.0 if math.isnan(scores.miou) else scores.miou
        improved = miou > progress.best_miou
        if improved:
            progress.best_miou, progress.best_epoch = miou, epoch
            progress.stale_validations = 0
        elif not budget.in_warmup():
            progress.stale_validations += 1
        progress.last_epoch = epoch
        row = _epoch_row(
            epoch,
            budget.step,
            engine,
            train_loss,
            val_loss,
            scores,
            progress.last_images_per_s,
            time.perf_counter() - epoch_started,
            progress.last_validation_seconds,
        )
        progress.history.append(row)
        if context.is_main:
            _save_epoch(engine, setup, progress, budget, training_record, improved)
        observer.on_epoch_end(
            EpochResult(
                epoch=epoch,
                epochs=None if budget.is_timed else options.epochs,
                step=budget.step,
                train_loss=train_loss,
                val_loss=val_loss,
                scores=scores,
                lr=row["lr"],
                seconds=row["seconds"],
                val_seconds=row["val_seconds"],
                images_per_s=progress.last_images_per_s,
                improved=improved,
                best_miou=progress.best_miou,
                best_epoch=progress.best_epoch,
                seconds_left=max(0.0, budget.seconds - budget.seconds_spent())
                if budget.seconds is not None
                else None,
            )
        )
        if patience and progress.stale_validations >= patience:
            stopped_early = True
            break
    return TrainResult(
        run_dir=setup.out_dir,
        best_checkpoint=setup.out_dir / BEST_CHECKPOINT,
        last_checkpoint=setup.out_dir / LAST_CHECKPOINT,
        best_miou=progress.best_miou,
        best_epoch=progress.best_epoch,
        last_epoch=progress.last_epoch,
        stopped_early=stopped_early,
        history=progress.history,
        seconds=time.perf_counter() - started,
        validation_seconds=progress.validation_seconds,
        is_main_process=context.is_main,
    )


def _restore(
    engine: Engine,
    checkpoint: Checkpoint,
    options: TrainOptions,
    steps_per_epoch: int,
    started: float,
) -> tuple[_Progress, Budget]:
    engine.restore(checkpoint)
    schedule = checkpoint.scheduler_state or {}
    # Checkpoints from before step budgets kept LambdaLR's state, whose last_epoch is the step.
    step = int(schedule.get("step", schedule.get("last_epoch", 0)))
    budget = Budget(
        steps_per_epoch,
        options.epochs,
        options.time_budget,
        step=step,
        elapsed=float(schedule.get("elapsed", 0.0)),
        started=started,
    )
    if budget.is_timed and "warmup" in schedule:
        budget.warmup = int(schedule["warmup"])
        # Checkpoints from before the flag measured it by their tenth step.
        budget.warmup_measured = bool(schedule.get("warmup_measured", step >= MEASURED_STEPS))
    progress = _Progress(
        history=list(checkpoint.history),
        best_miou=checkpoint.best_miou,
        best_epoch=checkpoint.best_epoch,
        last_epoch=checkpoint.epoch,
    )
    return progress, budget


def _resume_note(
    setup: RunSetup, progress: _Progress, budget: Budget, options: TrainOptions
) -> str:
    last = setup.out_dir / LAST_CHECKPOINT
    if budget.seconds is not None:
        left = max(0.0, budget.seconds - budget.elapsed)
        return f"{last} has used {budget.elapsed:.0f} s of --time; {left:.0f} s remain"
    return (
        f"{last} already reached epoch {progress.last_epoch}; raise --epochs "
        f"(now {options.epochs}) to train longer"
    )


def _epoch_steps(
    budget: Budget, progress: _Progress, options: TrainOptions, context: Any
) -> int | None:
    """A ``--time`` run's epoch length: long enough that validating stays a small share."""
    if not budget.is_timed or progress.last_images_per_s <= 0:
        return None
    step_seconds = options.batch_size * context.world_size / progress.last_images_per_s
    steps = steps_for_validation_share(0, step_seconds, progress.last_validation_seconds)
    if context.is_distributed:  # each rank timed itself, but all must take the same steps
        total = distributed.sum_across_ranks(torch.tensor([float(steps)], torch.float64), context)
        steps = math.ceil(float(total.item()) / context.world_size)
    return steps


def _out_of_time(budget: Budget, progress: _Progress, context: Any) -> bool:
    """Whether a time budget has no room for another step and validation, on any rank."""
    out = budget.out_of_time(progress.last_validation_seconds)
    if context.is_distributed:  # every rank must stop at the same step
        flag = torch.tensor([float(out)], dtype=torch.float64)
        out = bool(distributed.sum_across_ranks(flag, context).item() > 0)
    return out


def _train_epoch(
    engine: Engine,
    loader: Batches,
    budget: Budget,
    progress: _Progress,
    context: distributed.DistributedContext,
    observer: TrainingObserver,
) -> tuple[float, float]:
    """One epoch of steps (fewer when the time runs out); mean loss and images/s, all ranks."""
    engine.trained_model.train()
    loss_sum = 0.0
    images_seen = 0
    started = time.perf_counter()
    for images, targets in loader:
        engine.set_lr(budget.lr_factor())
        loss = engine.train_step(images, targets, budget.step, context)
        budget.count_step()
        if loss is not None:
            loss_sum += loss * images.shape[0]
            images_seen += images.shape[0]
        seconds = time.perf_counter() - started
        observer.on_train_step(
            images.shape[0],
            loss_sum / max(images_seen, 1),
            images_seen * context.world_size / max(seconds, 1e-9),
        )
        if budget.is_timed and _out_of_time(budget, progress, context):
            break
    seconds = time.perf_counter() - started
    totals = distributed.sum_across_ranks(
        torch.tensor([loss_sum, images_seen], dtype=torch.float64), context
    )
    mean_loss = float(totals[0] / totals[1]) if totals[1] > 0 else math.nan
    return mean_loss, float(totals[1]) / max(seconds, 1e-9)


def _save_epoch(
    engine: Engine,
    setup: RunSetup,
    progress: _Progress,
    budget: Budget,
    training_record: dict[str, Any],
    improved: bool,
) -> None:
    """Write last.pt (and best.pt when ``improved``), metrics.csv and curves.png."""
    engine_state = engine.state()
    checkpoint = Checkpoint(
        model_state=engine.average.state_dict(),
        model_config=setup.model_config,
        class_names=tuple(setup.class_names),
        palette=default_palette(len(setup.class_names)),
        normalization=setup.normalization,
        epoch=progress.last_epoch,
        best_miou=progress.best_miou,
        best_epoch=progress.best_epoch,
        history=progress.history,
        training=training_record,
        optimizer_state=engine_state["optimizer_state"],
        scheduler_state=budget.state_dict(),
        scaler_state=engine_state["scaler_state"],
        image_size=setup.image_size,
        training_weights=engine_state["training_weights"],
    )
    save_checkpoint(setup.out_dir / LAST_CHECKPOINT, checkpoint)
    if improved:
        save_checkpoint(setup.out_dir / BEST_CHECKPOINT, checkpoint)
    write_metrics_csv(setup.out_dir / METRICS_FILE, progress.history, setup.class_names)
    write_curves_png(setup.out_dir / CURVES_FILE, progress.history)


def _epoch_row(
    epoch: int,
    step: int,
    engine: Engine,
    train_loss: float,
    val_loss: float,
    scores: SegmentationScores,
    images_per_s: float,
    seconds: float,
    val_seconds: float,
) -> EpochRow:
    row: EpochRow = {
        "epoch": epoch,
        "step": step,
        "lr": float(engine.optimizer.param_groups[0]["lr"]),
        "train_loss": train_loss,
        "val_loss": val_loss,
        "val_miou": float(scores.miou),
        "val_miou_without_background": float(scores.miou_without_background),
        "val_pixel_accuracy": float(scores.pixel_accuracy),
        "seconds": seconds,
        "val_seconds": val_seconds,
        "images_per_s": images_per_s,
    }
    row.update(
        {
            iou_column(name): float(iou)
            for name, iou in zip(scores.class_names, scores.iou, strict=True)
        }
    )
    return row
