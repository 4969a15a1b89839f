"""Tests of ``annotool split``: options, table, messages, exit codes, nothing written on error."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from annotool.cli import main
from annotool.voc import VocLayout, write_label_png


def make_dataset(root: Path, classes_by_stem: dict[str, Sequence[int]]) -> VocLayout:
    """A tiny VOC dataset: per stem an 8x8 JPEG and a mask with one row per class id."""
    (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
    for stem, class_ids in classes_by_stem.items():
        Image.new("RGB", (8, 8), (90, 120, 150)).save(root / "JPEGImages" / f"{stem}.jpg")
        mask = np.zeros((8, 8), dtype=np.uint8)
        for row, class_id in enumerate(class_ids):
            mask[row] = class_id
        write_label_png(root / "SegmentationClass" / f"{stem}.png", mask)
    return VocLayout.open(root)


@pytest.fixture
def dataset(tmp_path: Path) -> VocLayout:
    stems = {f"cam{i // 2}_{i % 2}": [1 + i % 3] + ([3] if i % 4 == 0 else []) for i in range(20)}
    layout = make_dataset(tmp_path / "ds", stems)
    layout.write_class_names(["_background_", "cat", "dog", "bird"])
    return layout


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["split", *args])


def split_files(layout: VocLayout) -> list[str]:
    if not layout.split_dir().is_dir():
        return []
    return sorted(str(p.relative_to(layout.split_dir())) for p in layout.split_dir().rglob("*.txt"))


def test_help_lists_every_option() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for option in ("--val", "--test", "--seed", "--group", "--folds", "--keep-existing"):
        assert option in result.output


def test_split_prints_table_and_writes_files(dataset: VocLayout) -> None:
    result = run(str(dataset.root), "--test", "2", "-q")
    assert result.exit_code == 0, result.output
    assert split_files(dataset) == ["test.txt", "train.txt", "trainval.txt", "val.txt"]
    lines = result.stdout.splitlines()
    header = ["class", "all", "share", "train", "share", "val", "share"]
    assert lines[0].split() == [*header, "test", "share"]
    assert [line.split()[0] for line in lines[2:6]] == ["_background_", "cat", "dog", "bird"]
    assert "train 14, val 4, test 2 images, seed 0" in lines[-1]
    assert result.stderr == ""


def test_split_shows_progress_unless_quiet(dataset: VocLayout) -> None:
    result = run(str(dataset.root))
    assert result.exit_code == 0
    assert "Reading masks" in result.stderr


def test_same_seed_same_files_other_seed_other_files(dataset: VocLayout) -> None:
    assert run(str(dataset.root), "-q", "--seed", "5").exit_code == 0
    first = dataset.split_path("val").read_bytes()
    assert run(str(dataset.root), "-q", "--seed", "5", "--overwrite").exit_code == 0
    assert dataset.split_path("val").read_bytes() == first
    others = set()
    for seed in range(6, 10):
        assert run(str(dataset.root), "-q", "--seed", str(seed), "--overwrite").exit_code == 0
        others.add(dataset.split_path("val").read_bytes())
    assert others != {first}


def test_group_option_keeps_cameras_together(dataset: VocLayout) -> None:
    result = run(str(dataset.root), "-q", "--group", r"^(cam\d+)_", "--val", "4")
    assert result.exit_code == 0, result.output
    val = dataset.split_path("val").read_text().split()
    assert len(val) == 4
    for stem in val:
        partner = stem[:-1] + ("1" if stem.endswith("0") else "0")
        assert partner in val


def test_folds_write_fold_files(dataset: VocLayout) -> None:
    result = run(str(dataset.root), "-q", "--folds", "4")
    assert result.exit_code == 0, result.output
    assert split_files(dataset) == [
        f"fold{k}/{name}.txt" for k in range(4) for name in ("train", "val")
    ] + ["trainval.txt"]
    assert "fold0 5, fold1 5, fold2 5, fold3 5 images" in result.stdout


def test_keep_existing_assigns_only_new_stems(dataset: VocLayout) -> None:
    assert run(str(dataset.root), "-q").exit_code == 0
    val_before = set(dataset.split_path("val").read_text().split())
    make_dataset(dataset.root, {"new_0": [1], "new_1": [2]})
    dataset.class_mask_path("cam0_0").unlink()
    result = run(str(dataset.root), "-q", "--keep-existing")
    assert result.exit_code == 0, result.output
    assert "cam0_0" in result.stderr and "dropped" in result.stderr
    val_after = set(dataset.split_path("val").read_text().split())
    assert val_before - {"cam0_0"} <= val_after


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        (["--group", "(unclosed"], 2, "not a valid regular expression"),
        (["--group", r"cam\d+"], 2, "has no capture group"),
        (["--val", "abc"], 2, "neither a fraction such as 0.2 nor a number of images"),
        (["--val", "1.5"], 1, "val size 1.5 is not a fraction between 0 and 1"),
        (["--val", "21"], 1, "val asks for 21 images but the dataset has only 20"),
        (["--val", "0.5", "--test", "0.5"], 1, "leaving none for train"),
        (["--folds", "1"], 2, "--folds"),
        (["--folds", "3", "--val", "0.2"], 1, "val and folds exclude each other"),
        (["--folds", "11", "--group", r"^(cam\d+)_"], 1, "11 parts (fold0, fold1"),
        (["--val", "1", "--group", r"^(cam\d+)_"], 1, "even the smallest group, 'cam0', has 2"),
        (["--seed", "-1"], 2, "--seed"),
    ],
    ids=["bad-regex", "no-capture", "not-a-number", "fraction-above-one", "too-many", "no-train",
         "one-fold", "val-with-folds", "folds-over-groups", "val-below-group", "negative-seed"],
)  # fmt: skip
def test_split_errors_write_nothing(
    dataset: VocLayout, args: list[str], exit_code: int, message: str
) -> None:
    result = run(str(dataset.root), "-q", *args)
    assert result.exit_code == exit_code
    assert message in " ".join(result.output.split())
    assert split_files(dataset) == []


def test_existing_split_files_need_overwrite(dataset: VocLayout) -> None:
    assert run(str(dataset.root), "-q", "--seed", "1").exit_code == 0
    before = dataset.split_path("train").read_bytes()
    result = run(str(dataset.root), "-q", "--seed", "2")
    assert result.exit_code == 1
    assert f"{dataset.split_path('train')} already exists; pass --overwrite" in result.output
    assert dataset.split_path("train").read_bytes() == before


def test_missing_dataset_is_an_error(tmp_path: Path) -> None:
    result = run(str(tmp_path / "nowhere"))
    assert result.exit_code == 1
    assert "does not exist" in result.output


def test_ids_beyond_class_names_are_a_warning_naming_the_mask(dataset: VocLayout) -> None:
    dataset.write_class_names(["_background_", "cat", "dog"])
    result = run(str(dataset.root), "-q")
    assert result.exit_code == 0
    assert "warning: " in result.stderr
    assert "hold class ids beyond the 3 classes of" in result.stderr
    assert f"{dataset.class_mask_path('cam0_0')} (class id 3)" in result.stderr
