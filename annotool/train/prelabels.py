"""The end of a run: which predicted objects ``predict --labelme`` keeps.

A person correcting pre-labels deletes every wrong shape by hand, so shapes the model is
unsure of, or that are too small to be an object of this dataset, cost more than they
save. After the last epoch the best model pre-labels the validation photos; the minimum
area (a fraction of the smallest annotated instance of the training photos that does not
touch their border) and the minimum confidence that pre-label them best, and the maximum
area (twice the largest annotated instance; see
:func:`annotool.object_scores.choose_thresholds`) are stored in ``best.pt`` and ``last.pt``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from annotool.errors import DatasetError
from annotool.images import read_rgb
from annotool.masks import read_label_png
from annotool.object_scores import (
    ObjectMatch,
    PrelabelScores,
    choose_thresholds,
    instance_sizes,
    match_objects,
    truth_instances,
)
from annotool.objects import ObjectThresholds, find_objects
from annotool.train.checkpoint import load_checkpoint, save_checkpoint
from annotool.train.inference import Predictor
from annotool.train.setup import BEST_CHECKPOINT, LAST_CHECKPOINT, RunSetup
from annotool.voc import VocLayout


def store_object_thresholds(
    setup: RunSetup, on_message: Callable[[str], None]
) -> ObjectThresholds | None:
    """Choose the thresholds on the validation split with ``best.pt`` and store them in
    ``best.pt`` and ``last.pt``; None when the run saved no checkpoint."""
    best = setup.out_dir / BEST_CHECKPOINT
    if not best.is_file():
        return None
    predictor = Predictor.from_checkpoint(best, device=str(setup.device), precision=setup.precision)
    smallest, largest = instance_size_shares(setup.layout, setup.train_stems)
    matches, instances = validation_matches(predictor, setup.layout, setup.val_stems)
    thresholds, scores = choose_thresholds(
        matches, instances, len(setup.val_stems), smallest, largest
    )
    record = thresholds_record(thresholds, scores)
    for name in (BEST_CHECKPOINT, LAST_CHECKPOINT):
        path = setup.out_dir / name
        if path.is_file():
            checkpoint = load_checkpoint(path)
            checkpoint.object_thresholds = record
            save_checkpoint(path, checkpoint)
    on_message(
        f"pre-labels: {thresholds.describe()}, chosen on {len(setup.val_stems)} val images: "
        f"{scores.describe()}"
    )
    return thresholds


def thresholds_record(thresholds: ObjectThresholds, scores: PrelabelScores) -> dict[str, Any]:
    """The checkpoint's ``object_thresholds``: the thresholds and the scores they gave."""
    return {
        "min_area": thresholds.min_area,
        "min_area_share": thresholds.min_area_share,
        "min_confidence": thresholds.min_confidence,
        "max_area_share": thresholds.max_area_share,
        "val_images": scores.photos,
        "val_instances": scores.instances,
        "val_shapes": scores.predicted,
        "val_precision": scores.precision,
        "val_recall": scores.recall,
        "val_right_class": scores.right_class_share,
    }


def instance_size_shares(layout: VocLayout, stems: list[str]) -> tuple[float | None, float | None]:
    """The smallest annotated instance that does not touch its photo's border and the
    largest instance, each as a share of its photo's pixels; None where there is none."""
    smallest: float | None = None
    largest: float | None = None
    for stem in stems:
        instance_map, _ = _instances(layout, stem)
        small, large = instance_sizes(instance_map)
        if small is not None:
            share = small / instance_map.size
            smallest = share if smallest is None else min(smallest, share)
        if large is not None:
            share = large / instance_map.size
            largest = share if largest is None else max(largest, share)
    return smallest, largest


def validation_matches(
    predictor: Predictor, layout: VocLayout, stems: list[str]
) -> tuple[list[ObjectMatch], int]:
    """Every object ``predictor`` finds on the photos of ``stems``, matched to their
    annotations, and the number of annotated instances."""
    matches: list[ObjectMatch] = []
    instances = 0
    for stem in stems:
        image = read_rgb(layout.image_path(stem), oriented=False, error=DatasetError)
        instance_map, classes = _instances(layout, stem)
        object_map, objects = find_objects(predictor.probabilities(image))
        if object_map.shape != instance_map.shape:
            raise DatasetError(
                f"{layout.image_path(stem)} and its mask differ in size; re-run 'annotool convert'"
            )
        matches.extend(match_objects(object_map, objects, instance_map, classes))
        instances += len(classes)
    return matches, instances


def _instances(layout: VocLayout, stem: str) -> tuple[NDArray[np.int32], NDArray[np.int64]]:
    """The annotated instances of ``stem`` (see truth_instances): from its object mask
    when the dataset has one."""
    object_path = layout.object_mask_path(stem)
    instance_mask = read_label_png(object_path) if Path(object_path).is_file() else None
    return truth_instances(read_label_png(layout.class_mask_path(stem)), instance_mask)
