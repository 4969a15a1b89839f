from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from train_fixtures import make_dataset, one_torch_thread, tiny_options  # noqa: F401

from annotool.errors import DatasetError
from annotool.masks import read_label_png
from annotool.train import data as train_data
from annotool.train import engine
from annotool.train.data import (
    MAX_VALIDATION_SHARE,
    SCALE_RANGE,
    Cutout,
    TrainingCrops,
    ValidationImages,
    _paste_objects,
    augment,
    steps_for_validation_share,
)
from annotool.train.inference import working_size
from annotool.train.loop import train
from annotool.train.model import Normalization
from annotool.train.sampling import OBJECT_SCALE_RANGE, find_objects
from annotool.voc import write_label_png

UNIT = Normalization(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _striped(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """An image whose red channel is bright exactly where the mask is class 1."""
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[:, (np.arange(width) // 8) % 2 == 1] = 1
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[..., 0] = np.where(mask == 1, 230, 20)
    return image, mask


@pytest.mark.parametrize("seed", range(6), ids=lambda seed: f"seed{seed}")
def test_image_and_mask_get_the_same_geometry(seed: int) -> None:
    image, mask = _striped(60, 80)
    pixels, target = augment(image, mask, 48, UNIT, np.random.default_rng(seed))
    assert pixels.shape == (3, 48, 48) and target.shape == (48, 48)
    assert target.dtype == torch.int64
    assert set(target.unique().tolist()) <= {0, 1, 255}  # 255: padding of a small scale
    red = pixels[0]
    # Away from the boundary, where bilinear and nearest resizing agree, classes match colour.
    # Colour jitter moves both, blur smears edges, but class 1 stays far redder.
    assert red[target == 1].median() > red[target == 0].median() + 0.3


def test_crops_larger_than_the_image_are_padded_with_ignore() -> None:
    image, mask = _striped(10, 12)
    pixels, target = augment(image, mask, 40, UNIT, np.random.default_rng(0))
    assert pixels.shape == (3, 40, 40)
    assert (target == 255).sum() > 40 * 40 - 10 * 12 * 2.0**2
    assert torch.all(pixels[:, target == 255] == 0)


def test_masks_keep_exact_class_ids() -> None:
    rng = np.random.default_rng(1)
    mask = rng.choice(np.array([0, 3, 7, 255], dtype=np.uint8), size=(30, 30))
    image = rng.integers(0, 255, size=(30, 30, 3), dtype=np.uint8)
    _, target = augment(image, mask, 24, UNIT, np.random.default_rng(2))
    assert set(target.unique().tolist()) <= {0, 3, 7, 255}


def test_normalization_uses_the_given_mean_and_std() -> None:
    normalization = Normalization(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    image = torch.full((3, 2, 2), 0.75)
    assert torch.allclose(normalization.apply(image), torch.ones(3, 2, 2))


def test_augmentation_depends_on_seed_epoch_and_index_only(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "data")
    stems = layout.read_split("train")
    first = TrainingCrops(layout, stems, 3, UNIT, 24, 40, samples_per_epoch=20, seed=5)
    second = TrainingCrops(layout, stems, 3, UNIT, 24, 40, samples_per_epoch=20, seed=5)
    second[3]  # reading one sample first (and caching it) changes nothing
    assert all(torch.equal(a, b) for a, b in zip(first[2], second[2], strict=True))
    second.set_epoch(1)
    assert not torch.equal(first[2][0], second[2][0])


def _one_object(height: int, width: int, box: tuple[int, int, int, int]) -> tuple:
    """A dark image with one bright object of class 2 in ``box`` (top, left, bottom, right)."""
    top, left, bottom, right = box
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[top:bottom, left:right] = 2
    image = np.full((height, width, 3), 10, dtype=np.uint8)
    image[top:bottom, left:right] = 240
    return image, mask


@pytest.mark.parametrize("seed", range(8), ids=lambda seed: f"seed{seed}")
def test_a_crop_around_a_focus_holds_the_object(seed: int) -> None:
    image, mask = _one_object(400, 600, (370, 570, 390, 590))  # far in a corner
    focus = (370.0, 570.0, 390.0, 590.0)
    _, target = augment(image, mask, 64, UNIT, np.random.default_rng(seed), 0.5, focus)
    assert (target == 2).any()


@pytest.mark.parametrize("seed", range(8), ids=lambda seed: f"seed{seed}")
def test_pasted_objects_land_on_background_only(seed: int) -> None:
    labels = np.zeros((64, 64), dtype=np.uint8)
    labels[20:40] = 2  # a band of another object across the crop
    labels[:4] = 255  # padding outside the image
    patch = Image.fromarray(np.full((64, 64, 3), 10, np.uint8))
    cut = Cutout(np.full((12, 10, 3), 200, np.uint8), np.ones((12, 10), bool), 1, 0.5)
    pasted_patch, pasted = _paste_objects(patch, labels, [cut], 2.0, np.random.default_rng(seed))
    where = pasted == 1
    assert where.sum() == 12 * 10  # scaled by 0.5 * 2.0: its own size
    assert (labels[where] == 0).all()
    assert (pasted[~where] == labels[~where]).all()
    assert (np.asarray(pasted_patch)[where] == 200).all()


def test_nothing_is_pasted_where_there_is_no_background() -> None:
    image, mask = _one_object(50, 50, (0, 0, 50, 50))
    cut = Cutout(np.full((8, 8, 3), 128, np.uint8), np.ones((8, 8), bool), 1, 1.0)
    _, target = augment(image, mask, 32, UNIT, np.random.default_rng(0), 1.0, None, [cut])
    assert not (target == 1).any()


def test_object_crops_depend_on_seed_epoch_and_index_only(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "data", size=(64, 80))
    stems = layout.read_split("train")
    masks = [read_label_png(layout.class_mask_path(stem)) for stem in stems]
    objects = find_objects(masks)
    kwargs = {"samples_per_epoch": 20, "seed": 5, "objects": objects}
    first = TrainingCrops(layout, stems, 3, UNIT, 24, 40, **kwargs)
    second = TrainingCrops(layout, stems, 3, UNIT, 24, 40, **kwargs)
    second[7]
    for draw in range(10):
        assert all(torch.equal(a, b) for a, b in zip(first[draw], second[draw], strict=True))
    plain = TrainingCrops(layout, stems, 3, UNIT, 24, 40, samples_per_epoch=20, seed=5)
    assert any(not torch.equal(plain[draw][1], first[draw][1]) for draw in range(10))


@pytest.mark.parametrize(("choice", "expected"), [("auto", False), ("on", True), ("off", False)])
def test_small_objects_option_decides_the_object_crops(
    tmp_path: Path, choice: str, expected: bool
) -> None:
    make_dataset(tmp_path / "data")  # objects of a ninth of the frame and more: not small
    result = train(tiny_options(tmp_path, epochs=1, small_objects=choice))
    record = torch.load(result.best_checkpoint, weights_only=True)["training"]
    assert record["resolved"]["small_objects"] is expected
    assert record["resolved"]["small_object_scale"] is False  # the objects are not small
    assert record["small_objects"] == choice


def test_an_epoch_of_a_small_dataset_repeats_every_image_evenly(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "data")
    stems = layout.read_split("train")  # 6 images
    crops = TrainingCrops(layout, stems, 3, UNIT, 24, 40, samples_per_epoch=20, seed=0)
    assert len(crops) == 20
    counts = np.bincount(crops.order, minlength=len(stems))
    assert counts.min() >= 3 and counts.max() <= 4
    first_order = list(crops.order)
    crops.set_epoch(1)
    assert crops.order != first_order


def test_a_large_dataset_shows_each_image_once_per_epoch(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "data")
    stems = layout.read_split("train")
    crops = TrainingCrops(layout, stems, 3, UNIT, 24, 40, samples_per_epoch=2, seed=0)
    assert sorted(crops.order) == list(range(len(stems)))


@pytest.mark.parametrize(
    ("height", "width", "image_size", "expected"),
    [
        (750, 1000, 320, (240, 320)),
        (1000, 750, 320, (320, 240)),
        (30, 40, 80, (60, 80)),
        (33, 41, None, (33, 41)),
    ],
)
def test_working_size_scales_the_long_side_and_keeps_the_aspect_ratio(
    height: int, width: int, image_size: int | None, expected: tuple[int, int]
) -> None:
    assert working_size(height, width, image_size) == expected


def test_crops_are_drawn_around_the_working_size() -> None:
    """A 400-pixel image at a 40-pixel working size: a 40-pixel crop sees a large part."""
    mask = np.zeros((300, 400), dtype=np.uint8)
    mask[:, 200:] = 1  # the right half is an object
    image = np.repeat(mask[..., None] * 200, 3, axis=2).astype(np.uint8)
    for seed in range(10):
        rng = np.random.default_rng(seed)
        _, target = augment(image, mask, 40, UNIT, rng, base_scale=0.1)
        assert {0, 1} <= set(target.unique().tolist()), seed


@pytest.mark.parametrize("scale_range", [(0.67, 1.5), (0.5, 2.0)])
def test_the_scale_range_bounds_how_much_an_object_is_resized(
    scale_range: tuple[float, float],
) -> None:
    """A 20x20 object in a 60x60 image, cropped whole: its area moves with the zoom squared
    (rotations of a few degrees change it by a few percent)."""
    image, mask = _one_object(60, 60, (20, 20, 40, 40))
    low, high = scale_range
    areas = []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        _, target = augment(image, mask, 160, UNIT, rng, scale_range=scale_range)
        areas.append(int((target == 2).sum()) / 400)
    assert low**2 * 0.9 <= min(areas) and max(areas) <= high**2 * 1.1
    assert min(areas) < (low * 1.1) ** 2 and max(areas) > (high / 1.1) ** 2


@pytest.mark.parametrize("with_objects", [False, True])
def test_crops_are_rescaled_within_the_given_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_objects: bool
) -> None:
    layout = make_dataset(tmp_path / "data")
    stems = layout.read_split("train")
    objects = find_objects(read_label_png(layout.class_mask_path(stem)) for stem in stems)
    ranges = []

    def spy(*args: object, scale_range: tuple[float, float] = SCALE_RANGE, **kwargs: object):
        ranges.append(scale_range)
        return augment(*args, scale_range=scale_range, **kwargs)

    monkeypatch.setattr(train_data, "augment", spy)
    kwargs = {"samples_per_epoch": 4, "objects": objects if with_objects else None}
    TrainingCrops(layout, stems, 3, UNIT, 24, 40, **kwargs)[0]
    TrainingCrops(layout, stems, 3, UNIT, 24, 40, scale_range=OBJECT_SCALE_RANGE, **kwargs)[0]
    assert ranges == [SCALE_RANGE, OBJECT_SCALE_RANGE]


def test_validation_images_are_at_the_working_size_and_masks_at_their_own(
    tmp_path: Path,
) -> None:
    layout = make_dataset(tmp_path / "data", size=(33, 41))
    dataset = ValidationImages(layout, layout.read_split("val"), 3, UNIT, image_size=82)
    pixels, target = dataset[0]
    assert pixels.shape == (3, 66, 82) and target.shape == (33, 41)


def test_class_ids_beyond_class_names_are_refused(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "data")
    stem = layout.read_split("train")[0]
    write_label_png(layout.class_mask_path(stem), np.full((32, 40), 7, dtype=np.uint8))
    dataset = ValidationImages(layout, [stem], 3, UNIT, None)
    with pytest.raises(DatasetError, match=r"class id 7.*lists 3 classes"):
        dataset[0]


def test_image_and_mask_of_different_sizes_are_refused(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "data")
    stem = layout.read_split("train")[0]
    write_label_png(layout.class_mask_path(stem), np.zeros((20, 40), dtype=np.uint8))
    with pytest.raises(DatasetError, match="must match"):
        TrainingCrops(layout, [stem], 3, UNIT, 16, 32, samples_per_epoch=1)[0]


def test_an_epoch_is_long_enough_for_validation_to_stay_a_small_share() -> None:
    # 2 s of validation may be a tenth of an epoch: 18 s of steps of 0.1 s.
    assert steps_for_validation_share(25, 0.1, 2.0) == 180
    assert steps_for_validation_share(25, 1.0, 0.5) == 25  # the minimum holds
    assert steps_for_validation_share(25, 0.0, 2.0) == 25  # nothing measured yet


def test_a_timed_run_validates_less_often_when_validating_is_slow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import matplotlib.figure  # noqa: F401  (its first import alone could spend the budget)

    make_dataset(tmp_path / "data")  # 6 training images in batches of 2: 3 steps an epoch
    validate = engine.Engine.validate

    def slow_validate(self: engine.Engine, *args: object) -> object:
        time.sleep(0.4)
        return validate(self, *args)

    monkeypatch.setattr(engine.Engine, "validate", slow_validate)
    result = train(tiny_options(tmp_path, time_budget=6.0))

    steps = [row["step"] for row in result.history]
    assert steps[0] == 3  # nothing measured yet: the plain epoch
    assert steps[1] - steps[0] > 3 * 3  # then long enough to dwarf the validation
    assert result.validation_seconds < 2 * MAX_VALIDATION_SHARE * result.seconds + 0.4


def test_an_epochs_run_keeps_its_plain_epochs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_dataset(tmp_path / "data")
    monkeypatch.setattr(train_data, "MAX_VALIDATION_SHARE", 0.001)
    result = train(tiny_options(tmp_path, epochs=3))
    assert [row["step"] for row in result.history] == [3, 6, 9]
