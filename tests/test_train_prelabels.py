"""The end of a run: pre-label thresholds chosen on the validation split and stored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from train_fixtures import (  # noqa: F401
    CLASS_NAMES,
    make_dataset,
    one_torch_thread,
    save_untrained_checkpoint,
    tiny_options,
)

from annotool.masks import read_label_png
from annotool.object_scores import MAX_AREA_FACTOR, truth_instances
from annotool.objects import DEFAULT_MIN_AREA, ObjectThresholds
from annotool.train.checkpoint import load_checkpoint
from annotool.train.inference import Predictor
from annotool.train.loop import TrainingObserver, train
from annotool.train.prelabels import instance_size_shares, validation_matches
from annotool.voc import VocLayout, write_label_png

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Messages(TrainingObserver):
    def __init__(self) -> None:
        self.messages: list[str] = []

    def on_message(self, message: str) -> None:
        self.messages.append(message)


def test_a_run_stores_the_thresholds_in_both_checkpoints(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "data")
    observer = Messages()
    train(tiny_options(tmp_path), observer)
    best = load_checkpoint(tmp_path / "run" / "best.pt").object_thresholds
    assert best is not None
    assert best == load_checkpoint(tmp_path / "run" / "last.pt").object_thresholds
    assert best["val_images"] == 2 and best["val_instances"] >= 2
    assert 0 <= best["min_confidence"] <= 1 and 0 <= best["val_recall"] <= 1
    smallest, largest = instance_size_shares(layout, layout.read_split("train"))
    if smallest is None:
        assert best["min_area"] == DEFAULT_MIN_AREA
    else:
        assert best["min_area"] is None and 0 < best["min_area_share"] < smallest
    assert largest is not None and best["max_area_share"] == MAX_AREA_FACTOR * largest
    note = [message for message in observer.messages if message.startswith("pre-labels:")]
    assert len(note) == 1 and "chosen on 2 val images" in note[0]
    predictor = Predictor.from_checkpoint(tmp_path / "run" / "best.pt", "cpu", "fp32")
    assert predictor.object_thresholds.min_confidence == best["min_confidence"]
    assert predictor.object_thresholds.max_area_share == best["max_area_share"]


def test_a_checkpoint_without_thresholds_keeps_the_old_defaults(tmp_path: Path) -> None:
    path = save_untrained_checkpoint(tmp_path / "best.pt", CLASS_NAMES)
    predictor = Predictor.from_checkpoint(path, "cpu", "fp32")
    assert predictor.object_thresholds == ObjectThresholds()
    assert predictor.object_thresholds.min_pixels(600 * 800) == DEFAULT_MIN_AREA
    assert predictor.object_thresholds.max_pixels(600 * 800) is None


def test_instance_sizes_leave_out_instances_on_the_border_for_the_smallest(
    tmp_path: Path,
) -> None:
    layout = VocLayout(tmp_path)
    for stem, boxes in (("a", [(0, 0, 5, 5), (10, 10, 14, 16)]), ("b", [(2, 2, 6, 5)])):
        mask = np.zeros((20, 25), dtype=np.uint8)
        for top, left, bottom, right in boxes:
            mask[top:bottom, left:right] = 1
        write_label_png(layout.class_mask_path(stem), mask)
    assert instance_size_shares(layout, ["a", "b"]) == (12 / 500, 25 / 500)
    assert instance_size_shares(layout, ["a"]) == (24 / 500, 25 / 500)


def test_validation_matches_count_every_instance(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "data")
    predictor = Predictor.from_checkpoint(
        save_untrained_checkpoint(tmp_path / "best.pt", CLASS_NAMES), "cpu", "fp32"
    )
    stems = layout.read_split("val")
    matches, instances = validation_matches(predictor, layout, stems)
    expected = sum(
        len(truth_instances(read_label_png(layout.class_mask_path(stem)))[1]) for stem in stems
    )
    assert instances == expected
    assert all(0 <= match.confidence <= 1 for match in matches)
