"""What a training run tells the outside: per-epoch rows and results, the final result,
the observer that receives them (the CLI draws its progress bars from it), and the
run directory's record of them: ``metrics.csv`` and ``curves.png``."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from annotool.fileio import atomic_write_text
from annotool.metrics import SegmentationScores
from annotool.plots import new_figure, write_figure_png

METRICS_FILE = "metrics.csv"
CURVES_FILE = "curves.png"
SUMMARY_COLUMNS = (
    "epoch",
    "step",
    "lr",
    "train_loss",
    "val_loss",
    "val_miou",
    "val_miou_without_background",
    "val_pixel_accuracy",
    "seconds",
    "val_seconds",
    "images_per_s",
)

EpochRow = dict[str, float]
"""One epoch: the summary columns and ``iou_<class name>`` per class (NaN = n/a)."""


def iou_column(class_name: str) -> str:
    return f"iou_{class_name}"


def write_metrics_csv(path: Path, history: Sequence[EpochRow], class_names: Sequence[str]) -> None:
    """All epochs so far, one row each; n/a values are empty cells."""
    columns = [*SUMMARY_COLUMNS, *(iou_column(name) for name in class_names)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in history:
        writer.writerow(_cell(row.get(column, math.nan)) for column in columns)
    atomic_write_text(path, buffer.getvalue())


def _cell(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.6g}"


def write_curves_png(path: Path, history: Sequence[EpochRow]) -> None:
    """Loss (train and val) and validation mIoU / pixel accuracy against the epoch."""
    from matplotlib.ticker import MaxNLocator

    epochs = [row["epoch"] for row in history]
    figure = new_figure(10, 4)
    loss_axes, score_axes = figure.subplots(1, 2)
    loss_axes.plot(epochs, [row["train_loss"] for row in history], marker=".", label="train")
    loss_axes.plot(epochs, [row["val_loss"] for row in history], marker=".", label="validation")
    loss_axes.set(title="Loss (cross-entropy + Dice)", xlabel="epoch", ylabel="loss")
    loss_axes.legend()
    score_axes.plot(epochs, [row["val_miou"] for row in history], marker=".", label="mIoU")
    score_axes.plot(
        epochs, [row["val_pixel_accuracy"] for row in history], marker=".", label="pixel accuracy"
    )
    score_axes.set(title="Validation", xlabel="epoch", ylabel="score", ylim=(0, 1))
    score_axes.legend(loc="lower right")
    for axes in (loss_axes, score_axes):
        axes.grid(alpha=0.3)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    write_figure_png(figure, path)


@dataclass(frozen=True)
class EpochResult:
    """What one epoch achieved; ``scores`` are the validation scores.

    ``epochs`` is None in a run with a time budget, whose ``seconds_left`` says how much
    of it remains."""

    epoch: int
    epochs: int | None
    step: int
    train_loss: float
    val_loss: float
    scores: SegmentationScores
    lr: float
    seconds: float
    val_seconds: float
    images_per_s: float
    improved: bool
    best_miou: float
    best_epoch: int
    seconds_left: float | None = None


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
    seconds: float = 0.0
    validation_seconds: float = 0.0
    """Wall-clock time of the run in this process, and the part of it spent validating."""
    is_main_process: bool = True
    """False in the ranks other than 0 of a distributed run, which should stay quiet."""


class TrainingObserver:
    """Receives training progress; the default ignores it. The CLI draws bars from it."""

    def on_message(self, message: str) -> None:
        """A one-line note about the setup (device, precision, resumed epoch)."""

    def on_epoch_start(self, epoch: int, epochs: int | None, train_images: int) -> None:
        """An epoch begins (``epochs`` None: time budget); ``train_images`` crops follow."""

    def on_train_step(self, images: int, loss: float, images_per_s: float) -> None:
        """``images`` more were trained on; ``loss`` and speed are the epoch's running values."""

    def on_validation_start(self, images: int) -> None:
        """Validation of ``images`` images begins."""

    def on_validation_step(self, images: int) -> None:
        """``images`` more validation images were scored."""

    def on_epoch_end(self, result: EpochResult) -> None:
        """The epoch is validated and its checkpoints and metrics are written."""
