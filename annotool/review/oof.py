"""Out-of-fold models: one model per fold, trained by ``annotool train``'s own loop on the
other folds and run on its fold's photos only, so every photo is scored by a model that
never saw it.

The folds share one converted dataset: before each fold's run its ``train.txt`` and
``val.txt`` are rewritten to that fold's parts, so the trainer reads them as it reads any
split. The fold's photos are its validation set: the checkpoint kept (``best.pt``) is the
one that segments them best, which is also the model whose disagreement means most.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from annotool.errors import DatasetError
from annotool.images import read_rgb
from annotool.train.inference import Predictor
from annotool.train.loop import train
from annotool.train.options import TrainOptions
from annotool.train.report import EpochResult, TrainingObserver
from annotool.voc import TRAIN, VAL, VocLayout


@dataclass(frozen=True)
class FoldResult:
    """How one fold's model did on its own photos (which it never trained on)."""

    fold: int
    train_images: int
    val_images: int
    val_miou: float
    epochs: int
    seconds: float


class _FoldObserver(TrainingObserver):
    """Passes each finished epoch of a fold's run on as one line."""

    def __init__(self, fold: int, folds: int, on_message: Callable[[str], None]) -> None:
        self.fold = fold
        self.folds = folds
        self.on_message_line = on_message

    def on_epoch_end(self, result: EpochResult) -> None:
        left = "" if result.seconds_left is None else f", {result.seconds_left:.0f} s left"
        self.on_message_line(
            f"fold {self.fold + 1}/{self.folds}: epoch {result.epoch}, val mIoU "
            f"{result.scores.miou:.3f}{left}"
        )


Probabilities = NDArray[np.float32]
"""``(C, H, W)`` the probability of each class at each pixel of a photo."""


def fold_probabilities(
    layout: VocLayout,
    fold: int,
    folds: int,
    val_stems: Sequence[str],
    all_stems: Sequence[str],
    options: TrainOptions,
    on_message: Callable[[str], None],
) -> Iterator[tuple[str, NDArray[np.uint8], Probabilities] | FoldResult]:
    """Train fold ``fold``'s model on ``all_stems`` but ``val_stems`` (``options`` as for
    ``train``, its dataset and run folder replaced), then yield ``(stem, photo,
    probabilities)`` for each of ``val_stems`` and finally the fold's :class:`FoldResult`."""
    held_out = set(val_stems)
    train_stems = [stem for stem in all_stems if stem not in held_out]
    if not train_stems or not val_stems:
        raise DatasetError(f"fold {fold + 1} has no photos to train on or none to score")
    layout.write_split(TRAIN, train_stems)
    layout.write_split(VAL, list(val_stems))
    fold_options = dataclasses.replace(
        options, dataset_dir=layout.root, out_dir=run_folder(layout, fold)
    )
    started = time.perf_counter()
    result = train(fold_options, _FoldObserver(fold, folds, on_message))
    predictor = Predictor.from_checkpoint(result.best_checkpoint, options.device, options.precision)
    for stem in val_stems:
        photo = read_rgb(layout.image_path(stem), oriented=False)
        yield stem, photo, predictor.probabilities(photo)
    yield FoldResult(
        fold=fold,
        train_images=len(train_stems),
        val_images=len(val_stems),
        val_miou=float(result.best_miou),
        epochs=result.last_epoch,
        seconds=time.perf_counter() - started,
    )


def run_folder(layout: VocLayout, fold: int) -> Path:
    """Where fold ``fold``'s training run writes its checkpoints."""
    return layout.root.parent / f"fold{fold}"
