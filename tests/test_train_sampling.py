from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from annotool.errors import DatasetError
from annotool.train.sampling import (
    MIN_IMAGES,
    MIN_OBJECT_PIXELS,
    ObjectIndex,
    SmallObjects,
    find_objects,
    object_crops,
    wants_object_crops,
)
from annotool.voc import VocLayout, write_label_png


def _mask(height: int, width: int, boxes: list[tuple[int, int, int, int, int]]) -> np.ndarray:
    """A class-id mask with ``(class, top, left, bottom, right)`` boxes painted on 0."""
    mask = np.zeros((height, width), dtype=np.uint8)
    for class_id, top, left, bottom, right in boxes:
        mask[top:bottom, left:right] = class_id
    return mask


def test_objects_are_connected_regions_of_one_class_with_their_boxes() -> None:
    first = _mask(40, 50, [(1, 2, 3, 10, 12), (1, 20, 20, 30, 40), (2, 31, 0, 40, 8)])
    second = _mask(40, 50, [(2, 0, 0, 5, 5)])
    index = find_objects([first, second])
    found = sorted((o.image, o.class_id, o.box, o.area) for o in index.objects)
    assert found == [
        (0, 1, (2, 3, 10, 12), 72),
        (0, 1, (20, 20, 30, 40), 200),
        (0, 2, (31, 0, 40, 8), 72),
        (1, 2, (0, 0, 5, 5), 25),
    ]
    assert index.class_ids == [1, 2]
    assert index.objects[0].frame == (40, 50)


def test_ignore_background_and_stray_pixels_are_not_objects() -> None:
    mask = _mask(30, 30, [(255, 0, 0, 10, 10), (1, 20, 20, 21, 21)])
    assert MIN_OBJECT_PIXELS > 1
    assert find_objects([mask]).objects == ()


def test_diagonal_neighbours_belong_to_the_same_object() -> None:
    mask = np.zeros((20, 20), dtype=np.uint8)
    for step in range(16):
        mask[step, step] = 3
    assert len(find_objects([mask]).objects) == 1


def test_picking_balances_the_classes_not_the_objects() -> None:
    boxes = [(1, 0, col, 4, col + 4) for col in range(0, 90, 5)] + [(2, 10, 0, 14, 4)]
    index = find_objects([_mask(20, 100, boxes)])
    rng = np.random.default_rng(0)
    picked = Counter(index.pick(rng).class_id for _ in range(2000))
    assert 0.45 < picked[2] / 2000 < 0.55  # one object of class 2 against 18 of class 1


@pytest.mark.parametrize(("side", "small"), [(10, True), (40, False)], ids=["boards", "pets"])
def test_object_crops_want_objects_below_a_tenth_of_the_photo(side: int, small: bool) -> None:
    index = find_objects([_mask(60, 60, [(1, 0, 0, side, side)])] * MIN_IMAGES)
    assert wants_object_crops(index, MIN_IMAGES) is small


def test_object_crops_want_more_than_a_handful_of_photos() -> None:
    index = find_objects([_mask(60, 60, [(1, 0, 0, 10, 10)])] * MIN_IMAGES)
    assert not wants_object_crops(index, MIN_IMAGES - 1)


def test_no_objects_want_no_object_crops() -> None:
    assert not wants_object_crops(ObjectIndex(()), MIN_IMAGES)
    assert ObjectIndex(()).median_share() == 1.0


@pytest.mark.parametrize(
    ("choice", "images", "on"),
    [("off", 24, False), ("auto", 24, True), ("auto", 8, False), ("on", 8, True)],
)
def test_object_crops_follow_the_option(tmp_path: Path, choice: str, images: int, on: bool) -> None:
    layout = VocLayout(tmp_path)
    layout.class_dir.mkdir(parents=True)
    stems = [f"photo_{index}" for index in range(images)]
    for stem in stems:
        write_label_png(layout.class_mask_path(stem), _mask(60, 80, [(1, 5, 5, 15, 15)]))
    found = object_crops(choice, layout, stems, num_classes=2)
    assert (found.index is not None) is on
    assert found.small is (choice != "off")
    if choice != "off":
        assert "small objects" in found.note and "2.1%" in found.note
        assert "rescaled by 0.67-1.5x" in found.note
    if choice == "auto" and not on:
        assert f"need {MIN_IMAGES} training photos" in found.note


def test_large_objects_keep_the_wide_rescaling(tmp_path: Path) -> None:
    layout = VocLayout(tmp_path)
    layout.class_dir.mkdir(parents=True)
    stems = [f"photo_{index}" for index in range(MIN_IMAGES)]
    for stem in stems:  # an object of a third of the photo
        write_label_png(layout.class_mask_path(stem), _mask(60, 80, [(1, 0, 0, 40, 40)]))
    assert object_crops("auto", layout, stems, num_classes=2) == SmallObjects()
    forced = object_crops("on", layout, stems, num_classes=2)
    assert forced.index is not None and not forced.small
    assert "rescaled" not in forced.note


def test_object_crops_refuse_unknown_class_ids(tmp_path: Path) -> None:
    layout = VocLayout(tmp_path)
    layout.class_dir.mkdir(parents=True)
    write_label_png(layout.class_mask_path("photo"), _mask(20, 20, [(5, 0, 0, 5, 5)]))
    with pytest.raises(DatasetError, match="photo"):
        object_crops("on", layout, ["photo"], num_classes=2)
