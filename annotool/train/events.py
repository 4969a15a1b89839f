"""What a training run tells the outside: per-epoch results, the final result, and the
observer that receives them (the CLI draws its progress bars from it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from annotool.metrics import SegmentationScores
from annotool.train.history import EpochRow


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
