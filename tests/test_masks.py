"""The mask reader and the counts taken from masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.typing import NDArray
from PIL import Image

from annotool.errors import DatasetError
from annotool.labels import voc_palette
from annotool.masks import (
    check_class_ids,
    check_mask_size,
    class_presence,
    read_label_png,
    unknown_class_ids,
    unknown_ids_warning,
    value_counts,
)
from annotool.voc import write_label_png

VALUES = np.array([[0, 1, 2], [254, 255, 7]], dtype=np.uint8)


@pytest.mark.parametrize("mode", ["P", "L"], ids=["palettized", "greyscale"])
def test_read_label_png_returns_raw_values(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "mask.png"
    image = Image.fromarray(VALUES)
    if mode == "P":
        # A palette unlike VOC's: the values read must be the indices, not colours.
        image.putpalette(voc_palette()[::-1])
    assert image.mode == mode
    image.save(path)
    values = read_label_png(path)
    assert values.dtype == np.uint8
    np.testing.assert_array_equal(values, VALUES)


def test_read_label_png_reads_16_bit_greyscale(tmp_path: Path) -> None:
    path = tmp_path / "mask.png"
    Image.fromarray(VALUES.astype(np.uint16)).save(path)
    np.testing.assert_array_equal(read_label_png(path), VALUES)


def test_read_label_png_refuses_16_bit_values_above_255(tmp_path: Path) -> None:
    path = tmp_path / "mask.png"
    Image.fromarray(np.array([[0, 256]], dtype=np.uint16)).save(path)
    with pytest.raises(DatasetError, match=r"mask\.png has pixel values outside 0-255"):
        read_label_png(path)


def test_read_label_png_refuses_rgb_with_an_explanation(tmp_path: Path) -> None:
    path = tmp_path / "mask.png"
    Image.new("RGB", (3, 2), (128, 0, 0)).save(path)
    with pytest.raises(
        DatasetError,
        match=r"mask\.png is a RGB image; label masks must be palettized \(mode P\) "
        r"or greyscale",
    ):
        read_label_png(path)


def test_read_label_png_missing(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"^mask .*mask\.png does not exist$"):
        read_label_png(tmp_path / "mask.png")


@pytest.mark.parametrize("content", [b"not a png", b""], ids=["garbage", "empty-file"])
def test_read_label_png_unreadable(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "mask.png"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=r"^cannot read mask .*mask\.png"):
        read_label_png(path)


def test_read_label_png_truncated(tmp_path: Path) -> None:
    path = tmp_path / "mask.png"
    rng = np.random.default_rng(0)
    write_label_png(path, rng.integers(0, 20, size=(64, 64)))
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DatasetError, match=r"^cannot read mask .*mask\.png"):
        read_label_png(path)


@given(arrays(np.uint8, st.tuples(st.integers(0, 6), st.integers(0, 6))))
def test_class_presence_matches_unique_values(mask: NDArray[np.uint8]) -> None:
    expected = np.zeros(255, dtype=bool)
    expected[[value for value in np.unique(mask) if value != 255]] = True
    np.testing.assert_array_equal(class_presence(mask), expected)


@pytest.mark.parametrize(
    ("values", "bins"),
    [
        (np.repeat(np.array([0, 3, 255, 3, 0], np.uint8), [1000, 50, 7, 300, 1]), 256),
        (np.random.default_rng(1).integers(0, 256, 5000).astype(np.uint8), 256),
        (np.repeat(np.array([0, 258, 65535], np.uint16), [9, 400, 2000]), 65536),
        (np.array([7], np.uint8), 256),
    ],
    ids=["long-runs", "noise", "uint16-pairs", "single-pixel"],
)
def test_value_counts_equals_bincount(values: NDArray[np.unsignedinteger], bins: int) -> None:
    counts = value_counts(values, bins)

    assert counts.dtype == np.int64
    assert np.array_equal(counts, np.bincount(values, minlength=bins))


def test_unknown_class_ids_are_those_beyond_the_classes_but_never_ignore() -> None:
    mask = np.array([[0, 2, 3], [255, 9, 9]], np.uint8)
    assert unknown_class_ids(class_presence(mask), 3) == [3, 9]
    assert unknown_class_ids(class_presence(mask), 10) == []


def test_check_class_ids_names_the_mask_and_every_unknown_id() -> None:
    check_class_ids(np.array([[0, 2, 255]], np.uint8), Path("m.png"), 3)
    with pytest.raises(
        DatasetError,
        match=r"^m\.png has class ids 4, 7, but class_names\.txt lists 3 classes "
        r"\(ids 0-2, 255 = ignore\); fix the mask",
    ):
        check_class_ids(np.array([[0, 7, 4, 255]], np.uint8), Path("m.png"), 3)
    with pytest.raises(DatasetError, match=r"has class id 5, but the model lists 2 classes"):
        check_class_ids(np.array([[5]], np.uint8), Path("m.png"), 2, "the model")


def test_unknown_ids_warning_names_masks_and_ids_then_counts_the_rest() -> None:
    found = [(Path(f"m{index:02d}.png"), [3, index + 3] if index else [3]) for index in range(12)]
    warning = unknown_ids_warning(found[:1], 3, Path("class_names.txt"))
    assert warning == (
        "1 mask(s) hold class ids beyond the 3 classes of class_names.txt "
        "(ids 0-2, 255 = ignore): m00.png (class id 3)"
    )
    warning = unknown_ids_warning(found, 3, Path("class_names.txt"))
    assert warning.startswith("12 mask(s) hold")
    assert "m01.png (class ids 3, 4), m02.png" in warning
    assert warning.endswith("m09.png (class ids 3, 12) and 2 more")


def test_check_mask_size_names_image_and_mask() -> None:
    check_mask_size((4, 5), Path("m.png"), (4, 5, 3), Path("i.jpg"))
    with pytest.raises(
        DatasetError,
        match=r"^i\.jpg is 6x4 but its mask m\.png is 5x4 \(width x height\); image and mask "
        "must match in size$",
    ):
        check_mask_size((4, 5), Path("m.png"), (4, 6, 3), Path("i.jpg"))
