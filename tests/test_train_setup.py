from __future__ import annotations

from pathlib import Path

from train_fixtures import make_dataset

from annotool.train.setup import MAX_AUTO_IMAGE_SIZE, auto_image_size


def test_auto_working_size_is_the_median_long_side_rounded_to_16(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path, num_images=3, size=(90, 131))
    assert auto_image_size(layout, ["scene_00", "scene_01", "scene_02"]) == 128


def test_auto_working_size_shrinks_large_photos_to_the_cap(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path, num_images=2, size=(750, 1000))
    assert auto_image_size(layout, ["scene_00", "scene_01"]) == MAX_AUTO_IMAGE_SIZE
