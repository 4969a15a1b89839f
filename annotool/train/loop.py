"""``annotool train``: fit a UNet to a converted, split dataset and keep the best model.

One call of :func:`train` sets up data, model and optimizer (or restores them with
``resume``), then per epoch trains on augmented crops, validates at full resolution,
writes ``last.pt``, ``best.pt`` (highest validation mIoU), ``metrics.csv`` and
``curves.png`` into the run directory, and stops early when mIoU stops improving.
Progress goes to a :class:`TrainingObserver`; nothing here prints.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from annotool.choices import ENCODER_CHOICES, PRETRAINED_ENCODERS
from annotool.errors import CheckpointError, DatasetError, TrainingError
from annotool.fileio import check_output_dir
from annotool.labels import IGNORE_ID
from annotool.metrics import SegmentationScores, scores_from_confusion
from annotool.stats import DatasetStats, dataset_stats, read_class_weights
from annotool.tables import name_some
from annotool.train import distributed
from annotool.train.checkpoint import (
    Checkpoint,
    default_palette,
    load_checkpoint,
    save_checkpoint,
)
from annotool.train.data import Normalization, SegmentationDataset
from annotool.train.device import (
    MEMORY_FORMAT,
    Precision,
    autocast,
    resolve_device,
    resolve_precision,
)
from annotool.train.encoders import IMAGENET_NORMALIZATION, PretrainedWeights, pretrained_weights
from annotool.train.history import (
    CURVES_FILE,
    METRICS_FILE,
    EpochRow,
    iou_column,
    write_curves_png,
    write_metrics_csv,
)
from annotool.train.losses import SegmentationLoss
from annotool.train.model import (
    ModelConfig,
    SegmentationModel,
    build_model,
    load_pretrained_encoder,
)
from annotool.voc import VocLayout

DEFAULT_WIDTH = 16
"""Chosen by measurement (benchmarks/synthetic_miou.py, 2 CPU cores, 3 minutes of training):
width 16 reached val mIoU 0.982, width 32 reached 0.961 (4x the FLOPs, so 4x fewer epochs)."""
BEST_CHECKPOINT = "best.pt"
LAST_CHECKPOINT = "last.pt"
RUN_FILES = (BEST_CHECKPOINT, LAST_CHECKPOINT, METRICS_FILE, CURVES_FILE)
WARMUP_FRACTION = 0.05
"""Share of all optimizer steps spent warming the learning rate up linearly from 0."""
FINAL_LR_FACTOR = 0.01
"""The cosine decay ends at this fraction of the peak learning rate."""
MAX_LISTED_MISSING = 5
"""How many missing files an error message names before it only counts the rest."""
MAX_NONFINITE_STEPS = 20
"""Consecutive steps with a NaN or infinite loss after which training gives up."""


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
    encoder: str = "unet"
    pretrained: bool = False
    """Start the encoder from torchvision's ImageNet weights, downloaded once."""
    encoder_weights: Path | None = None
    """A local copy of those weights (a state dict with torchvision's names)."""

    @property
    def uses_pretrained_encoder(self) -> bool:
        return self.pretrained or self.encoder_weights is not None

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
        if self.encoder not in ENCODER_CHOICES:
            raise TrainingError(
                f"unknown --encoder {self.encoder!r}; use one of {', '.join(ENCODER_CHOICES)}"
            )
        if self.uses_pretrained_encoder and self.encoder not in PRETRAINED_ENCODERS:
            option = "--pretrained" if self.pretrained else "--encoder-weights"
            raise TrainingError(
                f"{option} needs an encoder with ImageNet weights: --encoder "
                f"{' or '.join(PRETRAINED_ENCODERS)} (--encoder {self.encoder} trains from scratch)"
            )


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
    is_main_process: bool = True
    """False in the ranks other than 0 of a distributed run, which should stay quiet."""


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
    resumed: Checkpoint | None
    encoder_weights: PretrainedWeights | None
    """Pretrained weights to start the encoder from; read by rank 0 only, since
    DistributedDataParallel copies rank 0's weights to the other ranks."""


def train(options: TrainOptions, observer: TrainingObserver | None = None) -> TrainResult:
    """Train a UNet as ``options`` say; see the module docstring for what is written."""
    options.check()
    context = distributed.context_from_environment()
    if observer is None or not context.is_main:
        observer = TrainingObserver()
    device = distributed.start(context, resolve_device(options.device))
    try:
        setup = _prepare(options, device, context, observer)
        result = _run(options, setup, context, observer)
        # No rank may tear down its connections while another still uses them.
        distributed.wait_for_all(context)
        return result
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
        _check_files_exist(layout, split, stems)
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
    encoder_weights = None
    if resumed is not None:
        normalization = resumed.normalization
        class_weights = resumed.training.get("class_weights")
        model_config = resumed.model_config
        observer.on_message(
            f"resuming {out_dir / LAST_CHECKPOINT} after epoch {resumed.epoch} "
            f"(best mIoU {resumed.best_miou:.4f})"
        )
    else:
        stats = dataset_stats(layout, train_stems, split="train")
        # Every train image exists (checked above), so rgb_mean and rgb_std are measured.
        normalization = Normalization.from_dict(
            {"mean": stats.images.rgb_mean, "std": stats.images.rgb_std}  # type: ignore[dict-item]
        )
        class_weights = _class_weights(options.class_weights, stats, len(class_names))
        model_config = ModelConfig(
            num_classes=len(class_names), width=options.width, encoder=options.encoder
        )
        if options.uses_pretrained_encoder:
            # The weights expect inputs normalized as in their ImageNet training.
            normalization = IMAGENET_NORMALIZATION
            if context.is_main:
                encoder_weights = pretrained_weights(options.encoder, options.encoder_weights)
    observer.on_message(
        f"{len(train_stems)} train and {len(val_stems)} val images, {len(class_names)} classes; "
        f"device {device}, precision {precision}, {_describe_model(model_config)}"
        + (f" ({encoder_weights.source})" if encoder_weights is not None else "")
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
        encoder_weights=encoder_weights,
    )


def _describe_model(config: ModelConfig) -> str:
    if config.encoder == "unet":
        return f"UNet width {config.width}"
    return f"{config.encoder} encoder, UNet decoder width {config.width}"


def _check_files_exist(layout: VocLayout, split: str, stems: list[str]) -> None:
    """Fail before training, not in a DataLoader worker halfway through an epoch."""
    missing = [
        str(path)
        for stem in stems
        for path in (layout.image_path(stem), layout.class_mask_path(stem))
        if not path.is_file()
    ]
    if missing:
        raise DatasetError(
            f"{layout.split_path(split)} lists images whose files are missing: "
            f"{name_some(missing, MAX_LISTED_MISSING)}; "
            f"re-run 'annotool split {layout.root} --overwrite' after changing the dataset"
        )


def _load_resume_checkpoint(out_dir: Path, class_names: list[str]) -> Checkpoint:
    path = out_dir / LAST_CHECKPOINT
    if not path.is_file():
        raise TrainingError(
            f"--resume needs {path}, which does not exist; start a new run without --resume"
        )
    checkpoint = load_checkpoint(path)
    if checkpoint.optimizer_state is None:
        raise CheckpointError(f"{path} holds no optimizer state, so training cannot resume")
    if list(checkpoint.class_names) != class_names:
        raise TrainingError(
            f"{path} was trained on classes {list(checkpoint.class_names)} but the dataset now "
            f"has {class_names}; start a new run with --overwrite or another --out"
        )
    return checkpoint


def _class_weights(spec: str, train_stats: DatasetStats, num_classes: int) -> list[float] | None:
    """Loss weights per class: none, median-frequency balancing (``auto``), or a stats JSON."""
    if spec == "none":
        return None
    if spec == "auto":
        weights, source = list(train_stats.class_weights.median_frequency), "annotool stats"
    else:
        try:
            weights, source = list(read_class_weights(Path(spec))), spec
        except DatasetError as error:
            raise TrainingError(f"--class-weights {spec}: {error}") from None
    if len(weights) != num_classes:
        raise TrainingError(
            f"class weights from {source} give {len(weights)} values but the dataset has "
            f"{num_classes} classes"
        )
    return weights


def default_loader_workers(device: torch.device) -> int:
    """DataLoader processes: up to 8 feeding a GPU; on a CPU run few, at most a quarter of
    the cores, since decoding costs ~2% of a training step there and extra processes would
    take cores from the model's own threads (0 on a 2-core machine).
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpus = cpus or 1
    if device.type == "cuda":
        return min(8, cpus)
    return min(4, cpus // 4)


def _warmup_cosine(total_steps: int) -> Callable[[int], float]:
    """The learning-rate factor per optimizer step: linear warm-up, then cosine decay."""
    warmup_steps = max(1, round(WARMUP_FRACTION * total_steps))

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        cosine = 0.5 * (1 + math.cos(math.pi * progress))
        return FINAL_LR_FACTOR + (1 - FINAL_LR_FACTOR) * cosine

    return factor


@dataclass
class _Engine:
    """The model and what updates it, on one device in one precision."""

    model: SegmentationModel
    trained_model: torch.nn.Module
    """``model``, wrapped in DistributedDataParallel in a distributed run."""
    criterion: SegmentationLoss
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    device: torch.device
    precision: Precision
    grad_clip: float

    def to_device(self, images: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, ...]:
        images = images.to(self.device, non_blocking=True)
        return images.contiguous(memory_format=MEMORY_FORMAT), targets.to(
            self.device, non_blocking=True
        )


@dataclass
class _Loaders:
    train_set: SegmentationDataset
    sampler: DistributedSampler[int]
    train: DataLoader[tuple[torch.Tensor, torch.Tensor]]
    val_images: int
    val: DataLoader[tuple[torch.Tensor, torch.Tensor]]

    def set_epoch(self, epoch: int) -> None:
        self.train_set.set_epoch(epoch)
        self.sampler.set_epoch(epoch)


@dataclass
class _Progress:
    """Where the run stands; restored from ``last.pt`` on resume."""

    history: list[EpochRow] = field(default_factory=list)
    best_miou: float = -1.0
    best_epoch: int = 0
    last_epoch: int = 0


def _make_loaders(
    options: TrainOptions, setup: _Setup, context: distributed.DistributedContext
) -> _Loaders:
    num_classes = len(setup.class_names)
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
    # DistributedSampler with one replica is a seeded per-epoch shuffle, so one code path.
    sampler = DistributedSampler(
        train_set,
        num_replicas=context.world_size,
        rank=context.rank,
        shuffle=True,
        seed=options.seed,
    )
    workers = default_loader_workers(setup.device) if options.workers is None else options.workers
    train_loader = DataLoader(
        train_set,
        batch_size=options.batch_size,
        sampler=sampler,
        num_workers=workers,
        drop_last=len(sampler) > options.batch_size,
        pin_memory=setup.device.type == "cuda",
    )
    val_loader = DataLoader(val_set, batch_size=1, num_workers=workers)
    return _Loaders(train_set, sampler, train_loader, len(val_set), val_loader)


def _make_engine(
    options: TrainOptions,
    setup: _Setup,
    steps_per_epoch: int,
    context: distributed.DistributedContext,
) -> _Engine:
    device, precision = setup.device, setup.precision
    torch.manual_seed(options.seed)
    model = build_model(setup.model_config)
    if setup.encoder_weights is not None:
        load_pretrained_encoder(model, setup.encoder_weights)
    model = model.to(device=device, memory_format=MEMORY_FORMAT)
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
    return _Engine(
        model=model,
        trained_model=trained_model,
        criterion=SegmentationLoss(weights, dice_weight=options.dice_weight).to(device),
        optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.LambdaLR(
            optimizer, _warmup_cosine(steps_per_epoch * options.epochs)
        ),
        scaler=torch.amp.GradScaler(device.type, enabled=precision == "fp16"),
        device=device,
        precision=precision,
        grad_clip=options.grad_clip,
    )


def _restore(engine: _Engine, checkpoint: Checkpoint) -> _Progress:
    engine.model.load_state_dict(checkpoint.model_state)
    engine.optimizer.load_state_dict(checkpoint.optimizer_state)
    if checkpoint.scheduler_state is not None:
        engine.scheduler.load_state_dict(checkpoint.scheduler_state)
    if checkpoint.scaler_state:
        engine.scaler.load_state_dict(checkpoint.scaler_state)
    return _Progress(
        history=list(checkpoint.history),
        best_miou=checkpoint.best_miou,
        best_epoch=checkpoint.best_epoch,
        last_epoch=checkpoint.epoch,
    )


def _run(
    options: TrainOptions,
    setup: _Setup,
    context: distributed.DistributedContext,
    observer: TrainingObserver,
) -> TrainResult:
    out_dir = Path(options.out_dir)
    loaders = _make_loaders(options, setup, context)
    steps_per_epoch = len(loaders.train)
    engine = _make_engine(options, setup, steps_per_epoch, context)
    progress = _Progress() if setup.resumed is None else _restore(engine, setup.resumed)
    if progress.last_epoch >= options.epochs:
        observer.on_message(
            f"{out_dir / LAST_CHECKPOINT} already reached epoch {progress.last_epoch}; "
            "raise --epochs to train longer"
        )
    training_record = {
        **{
            key: str(value) if isinstance(value, Path) else value
            for key, value in asdict(options).items()
        },
        "class_weights": setup.class_weights,
        "precision": setup.precision,
        "world_size": context.world_size,
    }
    stopped_early = False
    for epoch in range(progress.last_epoch + 1, options.epochs + 1):
        started = time.perf_counter()
        loaders.set_epoch(epoch)
        observer.on_epoch_start(epoch, options.epochs, steps_per_epoch * options.batch_size)
        train_loss, images_per_s = _train_epoch(engine, loaders.train, context, observer)
        observer.on_validation_start(loaders.val_images)
        val_loss, confusion = _validate(engine, loaders.val, context, observer)
        scores = scores_from_confusion(confusion, setup.class_names)
        miou = 0.0 if math.isnan(scores.miou) else scores.miou
        improved = miou > progress.best_miou
        if improved:
            progress.best_miou, progress.best_epoch = miou, epoch
        progress.last_epoch = epoch
        seconds = time.perf_counter() - started
        progress.history.append(
            _epoch_row(epoch, engine.optimizer, train_loss, val_loss, scores, seconds, images_per_s)
        )
        if context.is_main:
            _save_epoch(out_dir, engine, setup, progress, training_record, improved)
        observer.on_epoch_end(
            EpochResult(
                epoch=epoch,
                epochs=options.epochs,
                train_loss=train_loss,
                val_loss=val_loss,
                scores=scores,
                lr=progress.history[-1]["lr"],
                seconds=seconds,
                images_per_s=images_per_s,
                improved=improved,
                best_miou=progress.best_miou,
                best_epoch=progress.best_epoch,
            )
        )
        if options.patience and epoch - progress.best_epoch >= options.patience:
            stopped_early = epoch < options.epochs
            break
    return TrainResult(
        run_dir=out_dir,
        best_checkpoint=out_dir / BEST_CHECKPOINT,
        last_checkpoint=out_dir / LAST_CHECKPOINT,
        best_miou=progress.best_miou,
        best_epoch=progress.best_epoch,
        last_epoch=progress.last_epoch,
        stopped_early=stopped_early,
        history=progress.history,
        is_main_process=context.is_main,
    )


def _save_epoch(
    out_dir: Path,
    engine: _Engine,
    setup: _Setup,
    progress: _Progress,
    training_record: dict[str, Any],
    improved: bool,
) -> None:
    """Write last.pt (and best.pt when ``improved``), metrics.csv and curves.png."""
    checkpoint = Checkpoint(
        model_state=engine.model.state_dict(),
        model_config=setup.model_config,
        class_names=tuple(setup.class_names),
        palette=default_palette(len(setup.class_names)),
        normalization=setup.normalization,
        epoch=progress.last_epoch,
        best_miou=progress.best_miou,
        best_epoch=progress.best_epoch,
        history=progress.history,
        training=training_record,
        optimizer_state=engine.optimizer.state_dict(),
        scheduler_state=engine.scheduler.state_dict(),
        scaler_state=engine.scaler.state_dict() if engine.scaler.is_enabled() else None,
    )
    save_checkpoint(out_dir / LAST_CHECKPOINT, checkpoint)
    if improved:
        save_checkpoint(out_dir / BEST_CHECKPOINT, checkpoint)
    write_metrics_csv(out_dir / METRICS_FILE, progress.history, setup.class_names)
    write_curves_png(out_dir / CURVES_FILE, progress.history)


def _train_epoch(
    engine: _Engine,
    loader: DataLoader[tuple[torch.Tensor, torch.Tensor]],
    context: distributed.DistributedContext,
    observer: TrainingObserver,
) -> tuple[float, float]:
    """One pass over the training set; returns the mean loss and images/s over all ranks."""
    engine.trained_model.train()
    loss_sum = 0.0
    images_seen = 0
    nonfinite_in_a_row = 0
    started = time.perf_counter()
    for batch_images, batch_targets in loader:
        images, targets = engine.to_device(batch_images, batch_targets)
        with autocast(engine.device, engine.precision):
            logits = engine.trained_model(images)
        loss = engine.criterion(logits, targets)
        engine.optimizer.zero_grad(set_to_none=True)
        if not _finite_on_all_ranks(loss, context):
            # Skipping the update keeps one bad batch from poisoning the weights with NaN.
            nonfinite_in_a_row += 1
            if nonfinite_in_a_row >= MAX_NONFINITE_STEPS:
                raise TrainingError(
                    f"the loss was NaN or infinite for {MAX_NONFINITE_STEPS} steps in a row; "
                    "lower --lr, or try --precision fp32"
                )
            engine.scheduler.step()
            continue
        nonfinite_in_a_row = 0
        engine.scaler.scale(loss).backward()
        engine.scaler.unscale_(engine.optimizer)
        torch.nn.utils.clip_grad_norm_(engine.model.parameters(), engine.grad_clip)
        engine.scaler.step(engine.optimizer)
        engine.scaler.update()
        engine.scheduler.step()
        batch = images.shape[0]
        loss_sum += loss.item() * batch
        images_seen += batch
        seconds = time.perf_counter() - started
        observer.on_train_step(
            batch, loss_sum / images_seen, images_seen * context.world_size / max(seconds, 1e-9)
        )
    seconds = time.perf_counter() - started
    totals = distributed.sum_across_ranks(
        torch.tensor([loss_sum, images_seen], dtype=torch.float64), context
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
    engine: _Engine,
    loader: DataLoader[tuple[torch.Tensor, torch.Tensor]],
    context: distributed.DistributedContext,
    observer: TrainingObserver,
) -> tuple[float, NDArray[np.int64]]:
    """Mean loss and ``(C, C)`` confusion matrix over the whole validation split, all ranks."""
    model = engine.model.eval()
    num_classes = model.config.num_classes
    confusion = torch.zeros(num_classes * num_classes, dtype=torch.int64, device=engine.device)
    loss_sum = 0.0
    for batch_images, batch_targets in loader:
        images, targets = engine.to_device(batch_images, batch_targets)
        with autocast(engine.device, engine.precision):
            logits = model(images)
        loss_sum += engine.criterion(logits, targets).item()
        labelled = targets != IGNORE_ID
        pairs = targets[labelled] * num_classes + logits.argmax(dim=1)[labelled]
        confusion += torch.bincount(pairs, minlength=num_classes * num_classes)
        observer.on_validation_step(images.shape[0])
    totals = distributed.sum_across_ranks(
        torch.tensor([loss_sum, len(loader)], dtype=torch.float64), context
    )
    confusion = distributed.sum_across_ranks(confusion.cpu(), context)
    mean_loss = float(totals[0] / totals[1]) if totals[1] > 0 else math.nan
    return mean_loss, confusion.reshape(num_classes, num_classes).numpy()


def _epoch_row(
    epoch: int,
    optimizer: torch.optim.Optimizer,
    train_loss: float,
    val_loss: float,
    scores: SegmentationScores,
    seconds: float,
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
        "seconds": seconds,
        "images_per_s": images_per_s,
    }
    row.update(
        {
            iou_column(name): float(iou)
            for name, iou in zip(scores.class_names, scores.iou, strict=True)
        }
    )
    return row
