"""``annotool train`` (torch is imported only when it runs)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from annotool.choices import ENCODER_CHOICES
from annotool.cli.common import (
    Interrupted,
    device_option,
    docs_epilog,
    image_size_value,
    precision_option,
    quiet_option,
    reports_errors,
)
from annotool.train.options import (
    DEFAULT_EPOCHS,
    DEFAULT_PATIENCE,
    DEFAULTS,
    SMALL_OBJECTS_CHOICES,
    TrainOptions,
    parse_duration,
)


class _TrainProgress:
    """Draws the training observer's events: a bar per epoch, then a summary line.

    Implements annotool.train.report.TrainingObserver by duck typing, so this module
    need not import torch.
    """

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None

    def close(self) -> None:
        if self.bar is not None:
            self.bar.render_finish()
            self.bar = None

    def _open(self, length: int, label: str) -> None:
        self.close()
        if not self.quiet and length > 0:
            self.bar = click.progressbar(
                length=length,
                label=label,
                file=sys.stderr,
                item_show_func=lambda text: text,
            )

    def on_message(self, message: str) -> None:
        click.echo(message, err=True)

    def on_epoch_start(self, epoch: int, epochs: int | None, train_images: int) -> None:
        self._open(train_images, f"Epoch {epoch}" + ("" if epochs is None else f"/{epochs}"))

    def on_train_step(self, images: int, loss: float, images_per_s: float) -> None:
        if self.bar is not None:
            self.bar.update(images, f"loss {loss:.4f}, {images_per_s:.1f} img/s")

    def on_validation_start(self, images: int) -> None:
        self._open(images, "Validating")

    def on_validation_step(self, images: int) -> None:
        if self.bar is not None:
            self.bar.update(images)

    def on_epoch_end(self, result: Any) -> None:
        self.close()
        scores = result.scores
        marker = " *" if result.improved else ""
        of = f"/{result.epochs}" if result.epochs is not None else ""
        left = "" if result.seconds_left is None else f", {result.seconds_left:.0f} s left"
        click.echo(
            f"epoch {result.epoch}{of} (step {result.step}{left}): "
            f"train loss {result.train_loss:.4f}, "
            f"val loss {result.val_loss:.4f}, mIoU {_score(scores.miou)}{marker}, "
            f"pixel accuracy {_score(scores.pixel_accuracy)}, "
            f"{result.images_per_s:.1f} img/s, {result.seconds:.0f} s"
        )
        click.echo(
            "  IoU "
            + ", ".join(
                f"{name} {_score(iou)}"
                for name, iou in zip(scores.class_names, scores.iou, strict=True)
            )
        )


def _score(value: float) -> str:
    """A score with 4 decimals, or n/a for NaN (a class absent from truth and prediction)."""
    return "n/a" if value != value else f"{value:.4f}"


@click.command(epilog=docs_epilog("train.md"))
@click.argument("dataset_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--out",
    "-o",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Run directory for best.pt, last.pt, metrics.csv and curves.png.",
)
@click.option(
    "--time",
    "time_budget",
    metavar="DURATION",
    help="Train for this wall-clock time (90s, 10m, 1h) instead of a number of epochs; "
    "the schedule stretches over it and the run ends on time with the best model saved.",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=None,
    show_default=f"{DEFAULT_EPOCHS} (without --time)",
    help="Number of epochs; an epoch is every training image at least once and at least "
    "25 batches of crops (small datasets repeat their images).",
)
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=DEFAULTS["batch_size"], show_default=True
)
@click.option(
    "--size",
    type=click.IntRange(min=16),
    default=DEFAULTS["size"],
    show_default=True,
    help="Side of the square training crops, in working-size pixels.",
)
@click.option(
    "--image-size",
    default="auto",
    show_default=True,
    callback=image_size_value,
    metavar="auto|PIXELS",
    help="Working size: images are scaled so their long side is this many pixels for "
    "training, validation, predict and evaluate (masks come out at the original size). "
    "auto: the training images' median long side, at most 512.",
)
@click.option(
    "--lr",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULTS["lr"],
    show_default=True,
    help="Peak learning rate of AdamW (linear warm-up of at most 100 steps, then cosine "
    "decay over the run).",
)
@click.option(
    "--width",
    type=click.IntRange(min=1),
    default=DEFAULTS["width"],
    show_default=True,
    help="UNet base channels, doubling at each of the 4 levels (16 learns fastest on a "
    "CPU; try 32 on a GPU); with a ResNet encoder, the decoder's.",
)
@click.option(
    "--encoder",
    type=click.Choice(ENCODER_CHOICES),
    default=DEFAULTS["encoder"],
    show_default=True,
    help="unet: the plain UNet, from scratch. resnet18/resnet34: a UNet decoder on a ResNet "
    "encoder, which can start from ImageNet weights (--pretrained).",
)
@click.option(
    "--full-resolution",
    is_flag=True,
    help="Run the UNet's first level at the working size itself; by default a stride-2 "
    "convolution halves it first (4x cheaper steps; for structures only a few pixels thin).",
)
@click.option(
    "--pretrained",
    is_flag=True,
    help="Start the ResNet encoder from torchvision's ImageNet weights (downloaded once into "
    "torch's hub cache); inputs are then normalized with ImageNet's mean and std.",
)
@click.option(
    "--encoder-weights",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    metavar="FILE",
    help="Like --pretrained, from a local copy of the weights (a .pth state dict with "
    "torchvision's names, e.g. resnet18-f37072fd.pth).",
)
@click.option(
    "--small-objects",
    type=click.Choice(SMALL_OBJECTS_CHOICES),
    default=DEFAULTS["small_objects"],
    show_default=True,
    help="Half the crops centred on an object (every class in turn) and objects pasted "
    "from other training photos onto half of them; auto: with 20 training photos or more "
    "whose median object covers less than 10% of its photo (boards on a desk, not a pet "
    "filling the frame).",
)
@device_option
@precision_option
@click.option(
    "--seed",
    type=int,
    default=DEFAULTS["seed"],
    show_default=True,
    help="Makes CPU runs repeatable.",
)
@click.option(
    "--class-weights",
    default=DEFAULTS["class_weights"],
    show_default=True,
    metavar="none|auto|FILE",
    help="Cross-entropy class weights: auto = median-frequency balancing from "
    "'annotool stats', FILE = a JSON written by 'annotool stats --json'.",
)
@click.option(
    "--patience",
    type=click.IntRange(min=0),
    default=None,
    show_default=f"{DEFAULT_PATIENCE} with --epochs, off with --time",
    help="Stop after this many validations (one per epoch) past the warm-up without a "
    "better val mIoU (0: never).",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the run in RUN_DIR from its last.pt, with its options; --epochs, --time, "
    "--patience, --device, --precision and --workers may change, other options that differ "
    "are refused.",
)
@click.option("--overwrite", is_flag=True, help="Replace the results of a run in RUN_DIR.")
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=None,
    show_default="GPU: up to 8; CPU: a quarter of the cores, at most 4",
    help="DataLoader worker processes (0: load in the main process).",
)
@quiet_option
@reports_errors
def train(
    dataset_dir: Path,
    out_dir: Path,
    time_budget: str | None,
    epochs: int | None,
    batch_size: int,
    size: int,
    image_size: int | None,
    lr: float,
    width: int,
    encoder: str,
    full_resolution: bool,
    pretrained: bool,
    encoder_weights: Path | None,
    small_objects: str,
    device: str,
    precision: str,
    seed: int,
    class_weights: str,
    patience: int | None,
    resume: bool,
    overwrite: bool,
    workers: int | None,
    quiet: bool,
) -> None:
    """Train a UNet on DATASET_DIR (from 'annotool convert' and 'annotool split').

    Trains on the images of ImageSets/Segmentation/train.txt with augmented crops at the
    working size and validates on val.txt after every epoch, keeping the best model in
    RUN_DIR/best.pt. Needs the train extra: pip install 'annotool[train]'. Examples:

    \b
    annotool train DATASET_DIR --out RUN_DIR --time 10m
    torchrun --nproc_per_node N -m annotool train DATASET_DIR --out RUN_DIR
    """
    from annotool.train import loop  # imports torch

    if time_budget is not None and epochs is not None:
        raise click.UsageError("give --epochs or --time, not both")
    train_options = TrainOptions(
        dataset_dir=dataset_dir,
        out_dir=out_dir,
        epochs=epochs or DEFAULT_EPOCHS,
        time_budget=None if time_budget is None else parse_duration(time_budget),
        batch_size=batch_size,
        size=size,
        image_size=image_size,
        lr=lr,
        width=width,
        encoder=encoder,
        full_resolution=full_resolution,
        pretrained=pretrained,
        encoder_weights=encoder_weights,
        small_objects=small_objects,
        device=device,
        precision=precision,
        seed=seed,
        class_weights=class_weights,
        patience=patience,
        resume=resume,
        overwrite=overwrite,
        workers=workers,
        given=_given_options(click.get_current_context()),
    )
    progress = _TrainProgress(quiet)
    try:
        result = loop.train(train_options, progress)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        raise Interrupted(_interrupted_training(dataset_dir, out_dir)) from None
    finally:
        progress.close()
    if not result.is_main_process:
        return
    if result.stopped_early:
        click.echo(
            f"Stopped early: no better val mIoU for {train_options.effective_patience} validations"
        )
    share = result.validation_seconds / max(result.seconds, 1e-9)
    click.echo(
        f"Best val mIoU {result.best_miou:.4f} at epoch {result.best_epoch}: "
        f"{result.best_checkpoint} ({result.seconds:.0f} s, {share:.0%} of it validating)"
    )


def _given_options(context: click.Context) -> frozenset[str]:
    """The TrainOptions fields set on the command line (or from the environment), which a
    resumed run compares with its checkpoint's; the rest come from the checkpoint."""
    given = {
        name
        for name in context.params
        if context.get_parameter_source(name)
        in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    }
    return frozenset(given & DEFAULTS.keys())


def _interrupted_training(dataset_dir: Path, out_dir: Path) -> str:
    """The line for Ctrl-C during train: where the last checkpoint is, how to go on."""
    last = out_dir / "last.pt"
    if not last.is_file():
        return f"Interrupted before the first epoch ended; no checkpoint was written in {out_dir}."
    return (
        f"Interrupted; the last checkpoint is {last}. Continue with: "
        f"annotool train {dataset_dir} --out {out_dir} --resume"
    )
