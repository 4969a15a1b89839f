"""The folds of a review: how many, and which photos each holds (grouped and stratified
exactly as ``annotool split --folds`` does, by the same code)."""

from __future__ import annotations

from pathlib import Path

from annotool.errors import ReviewError
from annotool.split import split_dataset
from annotool.voc import fold_name

MIN_FOLDS = 2
DEFAULT_FOLDS = 3
"""Without ``--folds``: 3 (2 below 6 photos). Each model trains on two thirds of the photos
with a third of the time budget; more folds would train each on more photos but in less
time, with one more setup and validation each, and on 2 CPU cores the time is scarcer."""
MIN_PHOTOS_PER_FOLD = 2


def choose_folds(num_photos: int, requested: int | None = None) -> int:
    """The number of folds for ``num_photos`` photos: ``requested``, or chosen from the
    size. Raises ReviewError, saying what to do, when the photos are too few."""
    if requested is not None:
        folds = requested
    else:
        folds = DEFAULT_FOLDS if num_photos >= DEFAULT_FOLDS * MIN_PHOTOS_PER_FOLD else MIN_FOLDS
    if folds < MIN_FOLDS:
        raise ReviewError(f"--folds {folds}: a review needs at least {MIN_FOLDS} folds")
    needed = folds * MIN_PHOTOS_PER_FOLD
    if num_photos < needed:
        fewer = num_photos // MIN_PHOTOS_PER_FOLD
        advice = (
            f"pass --folds {fewer}" if fewer >= MIN_FOLDS and requested else "annotate more photos"
        )
        raise ReviewError(
            f"{num_photos} valid photos are too few for {folds} folds: each fold needs at "
            f"least {MIN_PHOTOS_PER_FOLD} photos to score and the others to train on, so "
            f"{folds} folds need {needed}; {advice}"
        )
    return folds


def assign_folds(
    dataset_dir: Path, folds: int, seed: int, group_pattern: str | None
) -> list[list[str]]:
    """The stems of each fold of the converted dataset at ``dataset_dir``, stratified by
    class and keeping ``group_pattern``'s groups whole (see :mod:`annotool.split`)."""
    result = split_dataset(
        dataset_dir, seed=seed, group_pattern=group_pattern, folds=folds, overwrite=True
    )
    return [result.stems_in(fold_name(fold)) for fold in range(folds)]
