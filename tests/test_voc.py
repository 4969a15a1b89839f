"""The dataset layout: finding datasets and their files, split files, masks on disk."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotool.errors import DatasetError
from annotool.labels import voc_palette
from annotool.voc import (
    CLASS_DIR,
    IMAGES_DIR,
    LEGACY_CLASS_DIR,
    LEGACY_OBJECT_DIR,
    OBJECT_DIR,
    VocLayout,
    label_png_bytes,
    npy_bytes,
    read_label_png,
    write_label_png,
)


def make_dataset(root: Path, class_dir: str = CLASS_DIR, stems: tuple[str, ...] = ()) -> Path:
    (root / IMAGES_DIR).mkdir(parents=True)
    (root / class_dir).mkdir()
    for stem in stems:
        (root / IMAGES_DIR / f"{stem}.jpg").write_bytes(b"")
        write_label_png(root / class_dir / f"{stem}.png", np.zeros((2, 3), dtype=np.int32))
    return root


def test_open_finds_the_current_layout(tmp_path: Path) -> None:
    layout = VocLayout.open(make_dataset(tmp_path / "data"))
    assert layout.class_dir == tmp_path / "data" / CLASS_DIR
    assert layout.object_dir == tmp_path / "data" / OBJECT_DIR
    assert layout.images_dir == tmp_path / "data" / IMAGES_DIR


def test_open_finds_the_legacy_png_layout(tmp_path: Path) -> None:
    layout = VocLayout.open(make_dataset(tmp_path / "data", LEGACY_CLASS_DIR, ("a",)))
    assert layout.class_dir == tmp_path / "data" / LEGACY_CLASS_DIR
    assert layout.object_dir == tmp_path / "data" / LEGACY_OBJECT_DIR
    assert layout.class_mask_path("a") == tmp_path / "data" / LEGACY_CLASS_DIR / "a.png"
    assert layout.stems() == ["a"]


def test_open_prefers_the_current_layout_when_both_exist(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "data")
    (root / LEGACY_CLASS_DIR).mkdir()
    assert VocLayout.open(root).class_dir_name == CLASS_DIR


def test_open_refuses_a_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=rf"^dataset directory {tmp_path / 'nope'} does not"):
        VocLayout.open(tmp_path / "nope")


def test_open_refuses_a_file(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_text("")
    with pytest.raises(DatasetError, match=rf"^{path} is a file, not a dataset directory$"):
        VocLayout.open(path)


def test_open_without_masks_suggests_convert(tmp_path: Path) -> None:
    (tmp_path / IMAGES_DIR).mkdir()
    with pytest.raises(
        DatasetError,
        match=rf"is not a segmentation dataset.*'annotool convert JSON_DIR {tmp_path}'",
    ):
        VocLayout.open(tmp_path)


def test_open_refuses_masks_without_images(tmp_path: Path) -> None:
    (tmp_path / CLASS_DIR).mkdir()
    with pytest.raises(DatasetError, match=rf"^{tmp_path} has masks but no JPEGImages/ folder"):
        VocLayout.open(tmp_path)


def test_stems_are_sorted_class_masks_only(tmp_path: Path) -> None:
    root = make_dataset(tmp_path, stems=("b", "a10", "a2", "A"))
    (root / CLASS_DIR / "notes.txt").write_text("not a mask")
    assert VocLayout.open(root).stems() == ["A", "a10", "a2", "b"]


def test_masks_named_png_in_any_case_are_read(tmp_path: Path) -> None:
    root = make_dataset(tmp_path, stems=("c",))
    mask = np.array([[0, 1], [255, 2]], dtype=np.int32)
    for folder in (CLASS_DIR, OBJECT_DIR):
        (root / folder).mkdir(exist_ok=True)
        write_label_png(root / folder / "a.PNG", mask)
        write_label_png(root / folder / "b.Png", mask)
    layout = VocLayout.open(root)
    assert layout.stems() == ["a", "b", "c"]
    assert layout.class_mask_path("a") == root / CLASS_DIR / "a.PNG"
    assert layout.object_mask_path("b") == root / OBJECT_DIR / "b.Png"
    assert layout.class_mask_path("c") == root / CLASS_DIR / "c.png"
    assert layout.class_mask_path("missing") == root / CLASS_DIR / "missing.png"
    np.testing.assert_array_equal(read_label_png(layout.class_mask_path("b")), mask)


def test_stems_of_a_layout_without_masks_is_empty(tmp_path: Path) -> None:
    assert VocLayout(tmp_path).stems() == []


def test_paths_follow_the_voc_layout(tmp_path: Path) -> None:
    layout = VocLayout(tmp_path)
    assert layout.object_mask_path("a") == tmp_path / "SegmentationObject" / "a.png"
    assert layout.class_viz_path("a") == tmp_path / "SegmentationClassVisualization" / "a.jpg"
    assert layout.object_viz_path("a") == tmp_path / "SegmentationObjectVisualization" / "a.jpg"
    assert layout.class_npy_path("a") == tmp_path / "SegmentationClassNpy" / "a.npy"
    assert layout.object_npy_path("a") == tmp_path / "SegmentationObjectNpy" / "a.npy"
    assert layout.class_names_path == tmp_path / "class_names.txt"
    assert layout.split_path("train") == tmp_path / "ImageSets/Segmentation/train.txt"
    assert layout.split_path("val", fold=2) == tmp_path / "ImageSets/Segmentation/fold2/val.txt"


def test_has_objects(tmp_path: Path) -> None:
    layout = VocLayout.open(make_dataset(tmp_path))
    assert not layout.has_objects()
    layout.object_dir.mkdir()
    assert layout.has_objects()


@pytest.mark.parametrize(
    ("present", "expected"),
    [
        ((), "a.jpg"),
        (("a.png",), "a.png"),
        (("a.png", "a.jpg"), "a.jpg"),
        (("a.tiff", "a.jpeg"), "a.jpeg"),
        (("a.webp",), "a.webp"),
    ],
    ids=["none-defaults-to-jpg", "png-only", "jpg-first", "jpeg-before-tiff", "webp"],
)
def test_image_path_falls_back_to_other_suffixes(
    tmp_path: Path, present: tuple[str, ...], expected: str
) -> None:
    layout = VocLayout(tmp_path)
    layout.images_dir.mkdir()
    for name in present:
        (layout.images_dir / name).write_bytes(b"")
    assert layout.image_path("a") == layout.images_dir / expected


def test_split_round_trip_is_sorted(tmp_path: Path) -> None:
    layout = VocLayout(tmp_path)
    layout.write_split("train", ["c", "a", "b"])
    layout.write_split("val", ["z"], fold=1)
    assert layout.split_path("train").read_text(encoding="utf-8") == "a\nb\nc\n"
    assert layout.read_split("train") == ["a", "b", "c"]
    assert layout.read_split("val", fold=1) == ["z"]
    assert layout.split_names() == ["train"]


def test_read_split_tolerates_bom_crlf_and_blank_lines(tmp_path: Path) -> None:
    layout = VocLayout(tmp_path)
    layout.split_dir().mkdir(parents=True)
    layout.split_path("train").write_bytes(b"\xef\xbb\xbfb\r\n\r\n a \r\n\r\n")
    assert layout.read_split("train") == ["b", "a"]


def test_read_split_missing_suggests_annotool_split(tmp_path: Path) -> None:
    with pytest.raises(
        DatasetError, match=rf"train\.txt does not exist; run 'annotool split {tmp_path}'"
    ):
        VocLayout(tmp_path).read_split("train")


def test_read_split_refuses_non_utf8(tmp_path: Path) -> None:
    layout = VocLayout(tmp_path)
    layout.split_dir().mkdir(parents=True)
    layout.split_path("train").write_bytes("chaté\n".encode("latin-1"))
    with pytest.raises(DatasetError, match=r"train\.txt is not UTF-8 text .*save it as UTF-8"):
        layout.read_split("train")


def test_split_names_of_a_dataset_without_splits_is_empty(tmp_path: Path) -> None:
    assert VocLayout(tmp_path).split_names() == []


@pytest.mark.parametrize(
    "content",
    [
        b"_background_\ncat\n",
        b"\xef\xbb\xbf_background_\r\ncat\r\n",
        b"_background_\ncat\n\n\n  \n",
    ],
    ids=["plain", "bom-crlf", "trailing-blank-lines"],
)
def test_read_class_names(tmp_path: Path, content: bytes) -> None:
    layout = VocLayout(tmp_path)
    layout.class_names_path.write_bytes(content)
    assert layout.read_class_names() == ["_background_", "cat"]


def test_read_class_names_absent_is_none(tmp_path: Path) -> None:
    assert VocLayout(tmp_path).read_class_names() is None


def test_read_class_names_refuses_non_utf8(tmp_path: Path) -> None:
    layout = VocLayout(tmp_path)
    layout.class_names_path.write_bytes("_background_\nchaté\n".encode("latin-1"))
    with pytest.raises(DatasetError, match=r"class_names\.txt is not UTF-8 text"):
        layout.read_class_names()


def test_write_class_names_round_trip(tmp_path: Path) -> None:
    layout = VocLayout(tmp_path)
    layout.write_class_names(("_background_", "chaté"))
    assert layout.class_names_path.read_bytes() == "_background_\nchaté\n".encode()
    assert layout.read_class_names() == ["_background_", "chaté"]


@pytest.mark.parametrize(
    "dtype", [np.int32, np.int64, np.int16, np.uint8], ids=["int32", "int64", "int16", "uint8"]
)
def test_label_png_bytes_keeps_values_and_writes_ignore_as_255(dtype: type) -> None:
    label = np.array([[0, 1, 254], [255, 3, 0]], dtype=dtype)
    if np.issubdtype(dtype, np.signedinteger):
        label[1, 1] = -1
    with Image.open(io.BytesIO(label_png_bytes(label))) as image:
        assert image.mode == "P"
        assert image.format == "PNG"
        assert image.getpalette() == voc_palette()
        values = np.asarray(image)
    expected = label.astype(np.int64)
    expected[expected == -1] = 255
    np.testing.assert_array_equal(values, expected)


def test_label_png_bytes_refuses_an_image_that_is_not_palettized() -> None:
    with pytest.raises(ValueError, match="mode 'P', not 'L'"):
        label_png_bytes(Image.new("L", (4, 3)))


def test_label_png_bytes_is_deterministic() -> None:
    label = np.arange(12, dtype=np.int32).reshape(3, 4)
    assert label_png_bytes(label) == label_png_bytes(label.copy())


@pytest.mark.parametrize(
    ("value", "shown"),
    [(256, r"0\.\.256"), (-2, r"-2\.\.0"), (1000, r"0\.\.1000")],
    ids=["256", "minus-2", "1000"],
)
def test_label_png_bytes_refuses_out_of_range_values(value: int, shown: str) -> None:
    label = np.zeros((2, 2), dtype=np.int32)
    label[1, 0] = value
    with pytest.raises(
        DatasetError, match=rf"^label values {shown} do not fit a PNG mask \(allowed: -1\.\.255\)$"
    ):
        label_png_bytes(label)


def test_write_label_png_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "SegmentationClass" / "a.png"
    label = np.array([[-1, 0], [1, 2]], dtype=np.int32)
    write_label_png(path, label)
    np.testing.assert_array_equal(read_label_png(path), [[255, 0], [1, 2]])
    assert path.read_bytes() == label_png_bytes(label)
    assert sorted(path.parent.iterdir()) == [path]


def test_write_label_png_refusal_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    with pytest.raises(DatasetError):
        write_label_png(path, np.full((2, 2), 300, dtype=np.int32))
    assert list(tmp_path.iterdir()) == []


def test_npy_bytes_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "SegmentationClassNpy" / "a.npy"
    label = np.array([[-1, 0], [3, 300]], dtype=np.int32)
    path.parent.mkdir()
    path.write_bytes(npy_bytes(label))
    loaded = np.load(path, allow_pickle=False)
    assert loaded.dtype == np.int32
    np.testing.assert_array_equal(loaded, label)
    assert sorted(path.parent.iterdir()) == [path]


def test_folds_and_split_files_list_what_annotool_wrote(tmp_path: Path) -> None:
    layout = VocLayout.open(make_dataset(tmp_path / "d"))
    assert layout.folds() == []
    assert layout.split_files() == []
    layout.write_split("train", ["a"])
    layout.write_split("test", ["b"])
    for fold in (1, 0, 10):
        layout.write_split("val", ["a"], fold)
    (layout.image_sets_dir / "foldx").mkdir()
    (layout.image_sets_dir / "notes.txt").write_text("not a split file\n")

    assert layout.folds() == [0, 1, 10]
    assert layout.split_dir(3) == layout.image_sets_dir / "fold3"
    assert layout.split_files() == [
        layout.split_path("train"),
        layout.split_path("test"),
        layout.split_path("val", 0),
        layout.split_path("val", 1),
        layout.split_path("val", 10),
    ]


def test_ordered_split_names_put_annotool_splits_first(tmp_path: Path) -> None:
    layout = VocLayout.open(make_dataset(tmp_path / "d"))
    for name in ("aaa", "trainval", "val", "zzz", "train"):
        layout.write_split(name, ["a"])
    assert layout.ordered_split_names() == ["train", "val", "trainval", "aaa", "zzz"]


@pytest.mark.parametrize("suffix", [".JPG", ".Jpeg", ".PNG", ".png"])
def test_image_path_finds_suffixes_in_any_case(tmp_path: Path, suffix: str) -> None:
    layout = VocLayout(tmp_path)
    layout.images_dir.mkdir()
    (layout.images_dir / f"a{suffix}").write_bytes(b"")
    (layout.images_dir / "ab.jpg").write_bytes(b"")
    assert layout.image_path("a") == layout.images_dir / f"a{suffix}"
    assert layout.image_path("missing") == layout.images_dir / "missing.jpg"
