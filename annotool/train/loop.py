"""``annotool train``: fit a model to a converted, split dataset and keep the best one.

:func:`train` reads top to bottom: options, data, model, then per epoch the training
steps, validation of the averaged weights at the working size, and saving ``last.pt``,
``best.pt`` (highest validation mIoU), ``metrics.csv`` and ``curves.png`` into the run
directory. The run ends when its epochs or its time budget are spent, or early when mIoU
stops improving. Progress goes to a :class:`TrainingObserver`; nothing here prints.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from annotool.metrics import SegmentationScores, scores_from_confusion
from annotool.train.checkpoint import Checkpoint, default_palette, save_checkpoint
from annotool.train.data import Batches, RunLoaders, make_loaders, steps_for_validation_share
from annotool.train.device import (
    DistributedContext,
    context_from_environment,
    join_process_group,
    leave_process_group,
    resolve_device,
    sum_across_ranks,
    wait_for_all_ranks,
)
from annotool.train.engine import Engine, make_engine
from annotool.train.options import RESOLVED_KEY, TrainOptions, options_record
from annotool.train.precision import CHOICE_KEY
from annotool.train.prelabels import store_object_thresholds
from annotool.train.report import (
    CURVES_FILE,
    METRICS_FILE,
    EpochResult,
    EpochRow,
    TrainingObserver,
    TrainResult,
    iou_column,
    write_curves_png,
    write_metrics_csv,
)
from annotool.train.setup import BEST_CHECKPOINT, LAST_CHECKPOINT, RunSetup, prepare
from annotool.train.state import Budget, RunState

__all__ = ["EpochResult", "TrainResult", "TrainingObserver", "train"]


def train(options: TrainOptions, observer: TrainingObserver | None = None) -> TrainResult:
    """Train a model as ``options`` say; see the module docstring for what is written."""
    started = time.perf_counter()  # a time budget counts the setup too
    options.check()
    context = context_from_environment()
    if observer is None or not context.is_main:
        observer = TrainingObserver()
    device = join_process_group(context, resolve_device(options.device))
    try:
        # Options, data and model.
        setup = prepare(options, device, context, observer.on_message)
        options = setup.options  # on --resume, the checkpoint's where none were given
        loaders = make_loaders(setup, context)
        engine = make_engine(setup, context)
        state = _initial_state(engine, setup, loaders, started)
        if setup.resumed is not None and (
            state.budget.is_timed or state.last_epoch >= options.epochs
        ):
            observer.on_message(_resume_note(setup, state))

        record = _training_record(setup, context)
        stopped_early = False
        while not _finished(state, options, context):
            # Training steps.
            epoch = state.last_epoch + 1
            epoch_started = time.perf_counter()
            batches = loaders.epoch_batches(epoch, _epoch_steps(state, options, context))
            observer.on_epoch_start(epoch, _epochs(state, options), len(loaders.train_set))
            train_loss = _train_epoch(engine, batches, state, context, observer)

            # Validation of the averaged weights.
            validation_started = time.perf_counter()
            observer.on_validation_start(loaders.val_images)
            val_loss, confusion = engine.validate(loaders.val, context, observer.on_validation_step)
            validation_seconds = time.perf_counter() - validation_started
            scores = scores_from_confusion(confusion, setup.class_names)
            row = _epoch_row(epoch, state, engine, train_loss, val_loss, scores)
            row["seconds"] = time.perf_counter() - epoch_started
            row["val_seconds"] = validation_seconds
            improved = state.record(
                row, 0.0 if math.isnan(scores.miou) else scores.miou, validation_seconds
            )

            # Saving.
            if context.is_main:
                _save_epoch(engine, setup, state, record, improved)
            observer.on_epoch_end(_epoch_result(state, options, row, scores, improved))
            patience = options.effective_patience
            if patience and state.stale_validations >= patience:
                stopped_early = True
                break

        if context.is_main:
            # Which predicted objects pre-labels keep, chosen on the validation set.
            store_object_thresholds(setup, observer.on_message)
        # No rank may tear down its connections while another still uses them.
        wait_for_all_ranks(context)
        return _result(setup, state, stopped_early, started, context)
    finally:
        leave_process_group(context)


def _initial_state(
    engine: Engine, setup: RunSetup, loaders: RunLoaders, started: float
) -> RunState:
    """A new run's state, or the one ``last.pt`` saved, with the engine restored to it."""
    options = setup.options
    if setup.resumed is None:
        budget = Budget(loaders.min_steps, options.epochs, options.time_budget, started=started)
        return RunState(budget=budget)
    engine.restore(setup.resumed)
    return RunState.restored(
        setup.resumed, loaders.min_steps, options.epochs, options.time_budget, started
    )


def _finished(state: RunState, options: TrainOptions, context: DistributedContext) -> bool:
    if not state.budget.is_timed:
        return state.last_epoch >= options.epochs
    return _out_of_time(state, context)


def _epochs(state: RunState, options: TrainOptions) -> int | None:
    """The number of epochs to show, None for a time budget."""
    return None if state.budget.is_timed else options.epochs


def _resume_note(setup: RunSetup, state: RunState) -> str:
    last = setup.out_dir / LAST_CHECKPOINT
    budget = state.budget
    if budget.seconds is not None:
        left = max(0.0, budget.seconds - budget.elapsed)
        return f"{last} has used {budget.elapsed:.0f} s of --time; {left:.0f} s remain"
    return (
        f"{last} already reached epoch {state.last_epoch}; raise --epochs "
        f"(now {setup.options.epochs}) to train longer"
    )


def _epoch_steps(state: RunState, options: TrainOptions, context: DistributedContext) -> int | None:
    """A ``--time`` run's epoch length: long enough that validating stays a small share."""
    if not state.budget.is_timed or state.last_images_per_s <= 0:
        return None
    step_seconds = options.batch_size * context.world_size / state.last_images_per_s
    steps = steps_for_validation_share(0, step_seconds, state.last_validation_seconds)
    if context.is_distributed:  # each rank timed itself, but all must take the same steps
        total = sum_across_ranks(torch.tensor([float(steps)], torch.float64), context)
        steps = math.ceil(float(total.item()) / context.world_size)
    return steps


def _out_of_time(state: RunState, context: DistributedContext) -> bool:
    """Whether a time budget has no room for another step and validation, on any rank."""
    out = state.budget.out_of_time(state.last_validation_seconds)
    if context.is_distributed:  # every rank must stop at the same step
        flag = torch.tensor([float(out)], dtype=torch.float64)
        out = bool(sum_across_ranks(flag, context).item() > 0)
    return out


def _train_epoch(
    engine: Engine,
    batches: Batches,
    state: RunState,
    context: DistributedContext,
    observer: TrainingObserver,
) -> float:
    """One epoch of steps (fewer when the time runs out); the mean loss over all ranks.

    Sets ``state.last_images_per_s``, which sizes the next epoch of a time budget."""
    budget = state.budget
    engine.trained_model.train()
    loss_sum = 0.0
    images_seen = 0
    started = time.perf_counter()
    for images, targets in batches:
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
        if budget.is_timed and _out_of_time(state, context):
            break
    seconds = time.perf_counter() - started
    totals = sum_across_ranks(torch.tensor([loss_sum, images_seen], dtype=torch.float64), context)
    state.last_images_per_s = float(totals[1]) / max(seconds, 1e-9)
    return float(totals[0] / totals[1]) if totals[1] > 0 else math.nan


def _training_record(setup: RunSetup, context: DistributedContext) -> dict[str, Any]:
    """What checkpoints keep of how the run was started: the options as given (compared
    on ``--resume``) and what the run resolved them to."""
    return {
        **options_record(setup.options),
        RESOLVED_KEY: {
            "class_weights": setup.class_weights,
            "precision": setup.precision,
            CHOICE_KEY: setup.precision_choice.to_dict() if setup.precision_choice else None,
            "world_size": context.world_size,
            "image_size": setup.image_size,
            "small_objects": setup.objects.index is not None,
            "small_object_scale": setup.objects.small,
        },
    }


def _save_epoch(
    engine: Engine, setup: RunSetup, state: RunState, record: dict[str, Any], improved: bool
) -> None:
    """Write last.pt (and best.pt when ``improved``), metrics.csv and curves.png."""
    checkpoint = Checkpoint(
        model_state=engine.average.state_dict(),
        model_config=setup.model_config,
        class_names=tuple(setup.class_names),
        palette=default_palette(len(setup.class_names)),
        normalization=setup.normalization,
        training=record,
        image_size=setup.image_size,
        **state.saved(),
        **engine.state(),
    )
    save_checkpoint(setup.out_dir / LAST_CHECKPOINT, checkpoint)
    if improved:
        save_checkpoint(setup.out_dir / BEST_CHECKPOINT, checkpoint)
    write_metrics_csv(setup.out_dir / METRICS_FILE, state.history, setup.class_names)
    write_curves_png(setup.out_dir / CURVES_FILE, state.history)


def _epoch_row(
    epoch: int,
    state: RunState,
    engine: Engine,
    train_loss: float,
    val_loss: float,
    scores: SegmentationScores,
) -> EpochRow:
    row: EpochRow = {
        "epoch": epoch,
        "step": state.budget.step,
        "lr": float(engine.optimizer.param_groups[0]["lr"]),
        "train_loss": train_loss,
        "val_loss": val_loss,
        "val_miou": float(scores.miou),
        "val_miou_without_background": float(scores.miou_without_background),
        "val_pixel_accuracy": float(scores.pixel_accuracy),
        "seconds": 0.0,
        "val_seconds": 0.0,
        "images_per_s": state.last_images_per_s,
    }
    row.update(
        {
            iou_column(name): float(iou)
            for name, iou in zip(scores.class_names, scores.iou, strict=True)
        }
    )
    return row


def _epoch_result(
    state: RunState,
    options: TrainOptions,
    row: EpochRow,
    scores: SegmentationScores,
    improved: bool,
) -> EpochResult:
    budget = state.budget
    return EpochResult(
        epoch=state.last_epoch,
        epochs=_epochs(state, options),
        step=budget.step,
        train_loss=row["train_loss"],
        val_loss=row["val_loss"],
        scores=scores,
        lr=row["lr"],
        seconds=row["seconds"],
        val_seconds=row["val_seconds"],
        images_per_s=state.last_images_per_s,
        improved=improved,
        best_miou=state.best_miou,
        best_epoch=state.best_epoch,
        seconds_left=max(0.0, budget.seconds - budget.seconds_spent())
        if budget.seconds is not None
        else None,
    )


def _result(
    setup: RunSetup,
    state: RunState,
    stopped_early: bool,
    started: float,
    context: DistributedContext,
) -> TrainResult:
    return TrainResult(
        run_dir=setup.out_dir,
        best_checkpoint=setup.out_dir / BEST_CHECKPOINT,
        last_checkpoint=setup.out_dir / LAST_CHECKPOINT,
        best_miou=state.best_miou,
        best_epoch=state.best_epoch,
        last_epoch=state.last_epoch,
        stopped_early=stopped_early,
        history=state.history,
        seconds=time.perf_counter() - started,
        validation_seconds=state.validation_seconds,
        is_main_process=context.is_main,
    )
