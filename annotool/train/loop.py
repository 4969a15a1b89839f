"""``annotool train``: fit a UNet to a converted, split dataset and keep the best model.

One call of :func:`train` sets up data, model and optimizer (or restores them with
``resume``), then per epoch trains on augmented crops, validates at full resolution,
writes ``last.pt``, ``best.pt`` (highest validation mIoU), ``metrics.csv`` and
``curves.png`` into the run directory, and stops early when mIoU stops improving.
Progress goes to a :class:`TrainingObserver`; nothing here prints.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from annotool.errors import AnnotoolError, DatasetError
from annotool.fileio import check_output_dir
from annotool.labels import IGNORE_ID, voc_colormap
from annotool.metrics import SegmentationScores, scores_from_confusion
from annotool.stats import compute_stats
from annotool.train import distributed
from annotool.train.checkpoint import (
    CheckpointError,
    build_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from annotool.train.data import Normalization, SegmentationDataset
from annotool.train.device import (
    Precision,
    autocast,
    resolve_device,
    resolve_precision,
    uses_channels_last,
)
from annotool.train.history import (
    CURVES_FILE,
    METRICS_FILE,
    EpochRow,
    iou_column,
    write_curves_png,
    write_metrics_csv,
)
from annotool.train.losses import SegmentationLoss
from annotool.train.model import ModelConfig, UNet
from annotool.voc import VocLayout

DEFAULT_WIDTH = 32
BEST_CHECKPOINT = "best.pt"
LAST_CHECKPOINT = "last.pt"
RUN_FILES = (BEST_CHECKPOINT, LAST_CHECKPOINT, METRICS_FILE, CURVES_FILE)
WARMUP_FRACTION = 0.05
"""Share of all optimizer steps spent warming the learning rate up linearly from 0."""
FINAL_LR_FACTOR = 0.01
"""The cosine decay ends at this fraction of the peak learning rate."""
MAX_NONFINITE_STEPS = 20
"""Consecutive steps with a NaN or infinite loss after which training gives up."""


class TrainingError(AnnotoolError):
    """Training cannot start or cannot go on (diverged, nothing to resume, bad options)."""


@dataclass(frozen=True)
class TrainOptions:
    """Everything ``annotool train`` takes; the defaults are the CLI's defaults."""

    dataset_dir: Path
    out_dir: Path
    epochs: int = 60
    batch_size: int = 8
    size: int = 256
    lr: float = 2e-3
    width: int = DEFAULT_WIDTH
    device: str = "auto"
    precision: str = "auto"
    seed: int = 0
    class_weights: str = "none"
    patience: int = 15
    resume: bool = False
    overwrite: bool = False
    workers: int | None = None
    weight_decay: float = 1e-4
    dice_weight: float = 1.0
    grad_clip: float = 1.0

    def check(self) -> None:
        for name in ("epochs", "batch_size", "size", "width"):
            if getattr(self, name) < 1:
                raise TrainingError(f"--{name.replace('_', '-')} must be at least 1")
        if self.lr <= 0:
            raise TrainingError("--lr must be positive")
        if self.patience < 0:
            raise TrainingError("--patience must be 0 (no early stopping) or more")
        if self.resume and self.overwrite:
            raise TrainingError("--resume and --overwrite contradict each other; pick one")


@dataclass(frozen=True)
class EpochResult:
    """What one epoch achieved; ``scores`` are the validation scores."""

    epoch: int
    epochs: int
    train_loss: float
    val_loss: float
    scores: SegmentationScores
    lr: float
    seconds: float
    images_per_s: float
    improved: bool
    best_miou: float
    best_epoch: int


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    best_checkpoint: Path
    last_checkpoint: Path
    best_miou: float
    best_epoch: int
    last_epoch: int
    stopped_early: bool
    history: list[EpochRow] = field(repr=False)


class TrainingObserver:
    """Receives training progress; the default ignores it. The CLI draws bars from it."""

    def on_message(self, message: str) -> None:
        """A one-line note about the setup (device, precision, resumed epoch)."""

    def on_epoch_start(self, epoch: int, epochs: int, train_images: int) -> None:
        """An epoch begins; ``train_images`` will pass through ``on_train_step``."""

    def on_train_step(self, images: int, loss: float, images_per_s: float) -> None:
        """``images`` more were trained on; ``loss`` and speed are the epoch's running values."""

    def on_validation_start(self, images: int) -> None:
        """Validation of ``images`` full-size images begins."""

    def on_validation_step(self, images: int) -> None:
        """``images`` more validation images were scored."""

    def on_epoch_end(self, result: EpochResult) -> None:
        """The epoch is validated and its checkpoints and metrics are written."""


@dataclass
class _Setup:
    """The pieces a run is made of, built once by :func:`_prepare`."""

    layout: VocLayout
    class_names: list[str]
    train_stems: list[str]
    val_stems: list[str]
    normalization: Normalization
    class_weights: list[float] | None
    model_config: ModelConfig
    device: torch.device
    precision: Precision
    resumed: dict[str, Any] | None


def train(options: TrainOptions, observer: TrainingObserver | None = None) -> TrainResult:
    """Train a UNet as ``options`` say; see the module docstring for what is written."""
    options.check()
    context = distributed.context_from_environment()
    if observer is None or not context.is_main:
        observer = TrainingObserver()
    device = distributed.start(context, resolve_device(options.device))
    try:
        setup = _prepare(options, device, context, observer)
        return _run(options, setup, context, observer)
    finally:
        distributed.stop(context)


def _prepare(
    options: TrainOptions,
    device: torch.device,
    context: distributed.DistributedContext,
    observer: TrainingObserver,
) -> _Setup:
    layout = VocLayout.open(options.dataset_dir)
    class_names = layout.read_class_names()
    if class_names is None:
        raise DatasetError(
            f"{layout.class_names_path} does not exist; it lists the classes (_background_ "
            "first, one per line) and is written by 'annotool convert'"
        )
    if len(class_names) < 2:
        raise DatasetError(
            f"{layout.class_names_path} lists {len(class_names)} class; training needs "
            "_background_ and at least one object class"
        )
    train_stems = layout.read_split("train")
    val_stems = layout.read_split("val")
    for split, stems in (("train", train_stems), ("val", val_stems)):
        if not stems:
            raise DatasetError(
                f"{layout.split_path(split)} is empty; run 'annotool split {layout.root} "
                "--overwrite' to assign images to train and val"
            )
    out_dir = Path(options.out_dir)
    resumed = None
    if options.resume:
        resumed = _load_resume_checkpoint(out_dir, class_names)
    else:
        check_output_dir(out_dir, options.overwrite)
        if context.is_main:
            for name in RUN_FILES:
                (out_dir / name).unlink(missing_ok=True)
    precision = resolve_precision(options.precision, device)
    if resumed is not None:
        normalization = Normalization.from_dict(resumed["normalization"])
        class_weights = resumed["training"]["class_weights"]
        model_config = ModelConfig.from_dict(resumed["model_config"])
        observer.on_message(
            f"resuming {out_dir / LAST_CHECKPOINT} after epoch {resumed['epoch']} "
            f"(best mIoU {resumed['best_miou']:.4f})"
        )
    else:
        stats = compute_stats(layout.root, split="train").to_dict()
        normalization = Normalization.from_dict(
            {"mean": stats["images"]["rgb_mean"], "std": stats["images"]["rgb_std"]}
        )
        class_weights = _class_weights(options.class_weights, stats, len(class_names))
        model_config = ModelConfig(num_classes=len(class_names), width=options.width)
    observer.on_message(
        f"{len(train_stems)} train and {len(val_stems)} val images, {len(class_names)} classes; "
        f"device {device}, precision {precision}, UNet width {model_config.width}"
        + (f", {context.world_size} processes" if context.is_distributed else "")
    )
    return _Setup(
        layout=layout,
        class_names=class_names,
        train_stems=train_stems,
        val_stems=val_stems,
        normalization=normalization,
        class_weights=class_weights,
        model_config=model_config,
        device=device,
        precision=precision,
        resumed=resumed,
    )


def _load_resume_checkpoint(out_dir: Path, class_names: list[str]) -> dict[str, Any]:
    path = out_dir / LAST_CHECKPOINT
    if not path.is_file():
        raise TrainingError(
            f"--resume needs {path}, which does not exist; start a new run without --resume"
        )
    checkpoint = load_checkpoint(path)
    if checkpoint.get("optimizer_state") is None:
        raise CheckpointError(f"{path} holds no optimizer state, so training cannot resume")
    if list(checkpoint["class_names"]) != class_names:
        raise TrainingError(
            f"{path} was trained on classes {checkpoint['class_names']} but the dataset now "
            f"has {class_names}; start a new run with --overwrite or another --out"
        )
    return checkpoint


def _class_weights(spec: str, train_stats: dict[str, Any], num_classes: int) -> list[float] | None:
    """Loss weights per class: none, median-frequency balancing (``auto``), or a stats JSON."""
    if spec == "none":
        return None
    if spec == "auto":
        weights, source = train_stats["class_weights"]["median_frequency"], "annotool stats"
    else:
        path = Path(spec)
        try:
            weights = json.loads(path.read_text(encoding="utf-8"))["class_weights"][
                "median_frequency"
            ]
        except FileNotFoundError:
            raise TrainingError(
                f"--class-weights {spec}: no such file; use none, auto, or a JSON file "
                "written by 'annotool stats --json'"
            ) from None
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise TrainingError(
                f"--class-weights {path} is not an 'annotool stats --json' file with "
                f"class_weights.median_frequency ({type(error).__name__}: {error})"
            ) from None
        source = str(path)
    if not isinstance(weights, list) or len(weights) != num_classes:
        count = len(weights) if isinstance(weights, list) else "no"
        raise TrainingError(
            f"class weights from {source} give {count} values but the dataset has "
            f"{num_classes} classes"
        )
    if not all(isinstance(weight, (int, float)) and weight >= 0 for weight in weights):
        raise TrainingError(f"class weights from {source} must be numbers of 0 or more")
    return [float(weight) for weight in weights]


def default_loader_workers() -> int:
    """Half the CPUs, at most 4: the other half runs the model's own threads on a CPU run."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(4, max(1, (cpus or 1) // 2))


def _warmup_cosine(total_steps: int) -> Any:
    warmup_steps = max(1, round(WARMUP_FRACTION * total_steps))

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        cosine = 0.5 * (1 + math.cos(math.pi * progress))
        return FINAL_LR_FACTOR + (1 - FINAL_LR_FACTOR) * cosine

    return factor


def _run(
    options: TrainOptions,
    setup: _Setup,
    context: distributed.DistributedContext,
    observer: TrainingObserver,
) -> TrainResult:
    device, precision = setup.device, setup.precision
    channels_last = uses_channels_last(device, precision)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    num_classes = len(setup.class_names)

    torch.manual_seed(options.seed)
    model = UNet(setup.model_config).to(device=device, memory_format=memory_format)
    weights = None
    if setup.class_weights is not None:
        weights = torch.tensor(setup.class_weights, dtype=torch.float32, device=device)
    criterion = SegmentationLoss(weights, dice_weight=options.dice_weight).to(device)

    train_set = SegmentationDataset(
        setup.layout,
        setup.train_stems,
        num_classes,
        setup.normalization,
        crop_size=options.size,
        seed=options.seed,
    )
    # Each rank validates its own share; confusion matrices are summed, so nothing counts twice.
    val_set = SegmentationDataset(
        setup.layout,
        setup.val_stems[context.rank :: context.world_size],
        num_classes,
        setup.normalization,
    )
    sampler = DistributedSampler(
        train_set,
        num_replicas=context.world_size,
        rank=context.rank,
        shuffle=True,
        seed=options.seed,
    )
    workers = default_loader_workers() if options.workers is None else options.workers
    drop_last = len(sampler) > options.batch_size
    train_loader = DataLoader(
        train_set,
        batch_size=options.batch_size,
        sampler=sampler,
        num_workers=workers,
        drop_last=drop_last,
        pin_memory=device.type == "cuda",
    )
    val_loader = DataLoader(val_set, batch_size=1, num_workers=workers)
    steps_per_epoch = len(train_loader)

    optimizer = torch.optim.AdamW(
        model.parameters(), lr=options.lr, weight_decay=options.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _warmup_cosine(steps_per_epoch * options.epochs)
    )
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    history: list[EpochRow] = []
    best_miou, best_epoch, start_epoch = -1.0, 0, 1
    if setup.resumed is not None:
        model.load_state_dict(setup.resumed["model_state"])
        optimizer.load_state_dict(setup.resumed["optimizer_state"])
        scheduler.load_state_dict(setup.resumed["scheduler_state"])
        if setup.resumed.get("scaler_state"):
            scaler.load_state_dict(setup.resumed["scaler_state"])
        history = list(setup.resumed["history"])
        best_miou = float(setup.resumed["best_miou"])
        best_epoch = int(setup.resumed["best_epoch"])
        start_epoch = int(setup.resumed["epoch"]) + 1
    trained_model: torch.nn.Module = model
    if context.is_distributed:
        trained_model = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    out_dir = Path(options.out_dir)
    training_record = {
        **{
            key: str(value) if isinstance(value, Path) else value
            for key, value in asdict(options).items()
        },
        "class_weights": setup.class_weights,
        "precision": precision,
        "world_size": context.world_size,
    }
    stopped_early = False
    last_epoch = start_epoch - 1
    for epoch in range(start_epoch, options.epochs + 1):
        started = time.perf_counter()
        train_set.set_epoch(epoch)
        sampler.set_epoch(epoch)
        observer.on_epoch_start(epoch, options.epochs, steps_per_epoch * options.batch_size)
        train_loss, images_per_s = _train_epoch(
            trained_model,
            criterion,
            optimizer,
            scheduler,
            scaler,
            train_loader,
            options,
            device,
            precision,
            memory_format,
            context,
            observer,
        )
        observer.on_validation_start(len(val_set))
        val_loss, confusion = _validate(
            model,
            criterion,
            val_loader,
            num_classes,
            device,
            precision,
            memory_format,
            context,
            observer,
        )
        scores = scores_from_confusion(confusion, setup.class_names)
        miou = 0.0 if math.isnan(scores.miou) else scores.miou
        improved = miou > best_miou
        if improved:
            best_miou, best_epoch = miou, epoch
        history.append(
            _epoch_row(epoch, optimizer, train_loss, val_loss, scores, started, images_per_s)
        )
        if context.is_main:
            checkpoint = build_checkpoint(
                model_state=model.state_dict(),
                model_config=setup.model_config.to_dict(),
                class_names=setup.class_names,
                palette=voc_colormap()[:num_classes].tolist(),
                normalization=setup.normalization.to_dict(),
                epoch=epoch,
                best_miou=best_miou,
                history=history,
                training={**training_record, "best_epoch": best_epoch},
                optimizer_state=optimizer.state_dict(),
                scheduler_state=scheduler.state_dict(),
                scaler_state=scaler.state_dict() if scaler.is_enabled() else None,
            )
            checkpoint["best_epoch"] = best_epoch
            save_checkpoint(out_dir / LAST_CHECKPOINT, checkpoint)
            if improved:
                save_checkpoint(out_dir / BEST_CHECKPOINT, checkpoint)
            write_metrics_csv(out_dir / METRICS_FILE, history, setup.class_names)
            write_curves_png(out_dir / CURVES_FILE, history)
        last_epoch = epoch
        observer.on_epoch_end(
            EpochResult(
                epoch=epoch,
                epochs=options.epochs,
                train_loss=train_loss,
                val_loss=val_loss,
                scores=scores,
                lr=history[-1]["lr"],
                seconds=history[-1]["seconds"],
                images_per_s=images_per_s,
                improved=improved,
                best_miou=best_miou,
                best_epoch=best_epoch,
            )
        )
        if options.patience and epoch - best_epoch >= options.patience:
            stopped_early = epoch < options.epochs
            break
    return TrainResult(
        run_dir=out_dir,
        best_checkpoint=out_dir / BEST_CHECKPOINT,
        last_checkpoint=out_dir / LAST_CHECKPOINT,
        best_miou=best_miou,
        best_epoch=best_epoch,
        last_epoch=last_epoch,
        stopped_early=stopped_early,
        history=history,
    )


def _train_epoch(
    model: torch.nn.Module,
    criterion: SegmentationLoss,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    loader: DataLoader[tuple[torch.Tensor, torch.Tensor]],
    options: TrainOptions,
    device: torch.device,
    precision: Precision,
    memory_format: torch.memory_format,
    context: distributed.DistributedContext,
    observer: TrainingObserver,
) -> tuple[float, float]:
    """One pass over the training set; returns the mean loss and images/s over all ranks."""
    model.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    images_seen = 0
    nonfinite_in_a_row = 0
    started = time.perf_counter()
    for images, targets in loader:
        images = images.to(device, non_blocking=True).contiguous(memory_format=memory_format)
        targets = targets.to(device, non_blocking=True)
        with autocast(device, precision):
            logits = model(images)
        loss = criterion(logits, targets)
        if not _finite_on_all_ranks(loss, context):
            # Skipping the update keeps one bad batch from poisoning the weights with NaN.
            nonfinite_in_a_row += 1
            if nonfinite_in_a_row >= MAX_NONFINITE_STEPS:
                raise TrainingError(
                    f"the loss was NaN or infinite for {MAX_NONFINITE_STEPS} steps in a row; "
                    "lower --lr, or try --precision fp32"
                )
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            continue
        nonfinite_in_a_row = 0
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), options.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        batch = images.shape[0]
        loss_sum += loss.detach().double() * batch
        images_seen += batch
        seconds = time.perf_counter() - started
        observer.on_train_step(
            batch,
            loss_sum.item() / images_seen,
            images_seen * context.world_size / max(seconds, 1e-9),
        )
    seconds = time.perf_counter() - started
    totals = distributed.sum_across_ranks(
        torch.tensor([loss_sum.item(), images_seen], dtype=torch.float64), context
    )
    mean_loss = float(totals[0] / totals[1]) if totals[1] > 0 else math.nan
    return mean_loss, float(totals[1]) / max(seconds, 1e-9)


def _finite_on_all_ranks(loss: torch.Tensor, context: distributed.DistributedContext) -> bool:
    finite = torch.isfinite(loss.detach()).to(torch.float64).cpu().reshape(1)
    if context.is_distributed:
        # Every rank must skip together, or DDP's gradient all-reduce would hang.
        finite = distributed.sum_across_ranks(finite, context) / context.world_size
    return bool(finite.item() == 1.0)


@torch.inference_mode()
def _validate(
    model: torch.nn.Module,
    criterion: SegmentationLoss,
    loader: DataLoader[tuple[torch.Tensor, torch.Tensor]],
    num_classes: int,
    device: torch.device,
    precision: Precision,
    memory_format: torch.memory_format,
    context: distributed.DistributedContext,
    observer: TrainingObserver,
) -> tuple[float, np.ndarray[Any, np.dtype[np.int64]]]:
    """Mean loss and ``(C, C)`` confusion matrix over the whole validation split, all ranks."""
    model.eval()
    confusion = torch.zeros(num_classes * num_classes, dtype=torch.int64, device=device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    for images, targets in loader:
        images = images.to(device).contiguous(memory_format=memory_format)
        targets = targets.to(device)
        with autocast(device, precision):
            logits = model(images)
        loss_sum += criterion(logits, targets).double()
        labelled = targets != IGNORE_ID
        pairs = targets[labelled] * num_classes + logits.argmax(dim=1)[labelled]
        confusion += torch.bincount(pairs, minlength=num_classes * num_classes)
        observer.on_validation_step(images.shape[0])
    totals = torch.cat(
        [loss_sum.cpu().reshape(1), torch.tensor([float(len(loader))], dtype=torch.float64)]
    )
    totals = distributed.sum_across_ranks(totals, context)
    confusion = distributed.sum_across_ranks(confusion.cpu(), context)
    mean_loss = float(totals[0] / totals[1]) if totals[1] > 0 else math.nan
    return mean_loss, confusion.reshape(num_classes, num_classes).numpy()


def _epoch_row(
    epoch: int,
    optimizer: torch.optim.Optimizer,
    train_loss: float,
    val_loss: float,
    scores: SegmentationScores,
    started: float,
    images_per_s: float,
) -> EpochRow:
    row: EpochRow = {
        "epoch": epoch,
        "lr": float(optimizer.param_groups[0]["lr"]),
        "train_loss": train_loss,
        "val_loss": val_loss,
        "val_miou": float(scores.miou),
        "val_miou_without_background": float(scores.miou_without_background),
        "val_pixel_accuracy": float(scores.pixel_accuracy),
        "seconds": time.perf_counter() - started,
        "images_per_s": images_per_s,
    }
    row.update(
        {
            iou_column(name): float(iou)
            for name, iou in zip(scores.class_names, scores.iou, strict=True)
        }
    )
    return row
