"""``annotool review`` through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from review_fixtures import PHOTOS, make_review_inputs
from train_fixtures import one_torch_thread  # noqa: F401

from annotool.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TINY = ["--epochs", "1", "--image-size", "32", "--width", "4", "--device", "cpu", "-q"]


def test_review_writes_the_report_and_says_where(tmp_path: Path) -> None:
    inputs = make_review_inputs(tmp_path / "photos")
    out = tmp_path / "review"
    args = ["review", str(inputs), "--labels", str(inputs / "labels.txt"), "--out", str(out)]
    # The map makes the file with an unknown label valid: every photo is reviewed.
    result = CliRunner().invoke(main, [*args, *TINY, "--workers", "1", "--map", "unicorn=disc"])
    assert result.exit_code == 0, result.output
    assert "Skipped" not in result.output
    assert f"Reviewed {PHOTOS + 2} photos" in result.output
    # shapes_copy pairs with shapes_0000, shapes_invalid with shapes_0001 (same photo).
    assert "2 near-duplicate pairs (0 leaks)" in result.output
    assert f"Open {out / 'index.html'}" in result.output
    assert json.loads((out / "review.json").read_text())["schema_version"] == 1
    again = CliRunner().invoke(main, [*args, *TINY])
    assert again.exit_code == 1
    assert "already exists and is not empty; pass --overwrite" in again.output


def test_too_few_photos_is_one_line_with_advice(tmp_path: Path) -> None:
    inputs = make_review_inputs(tmp_path / "photos")
    args = ["review", str(inputs), "--labels", str(inputs / "labels.txt")]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "r"), "--folds", "8"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: 11 valid photos are too few for 8 folds")
    assert "pass --folds 5" in result.output
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--time", "soon"], "is not a duration"),
        (["--group", "no-capture"], "has no capture group"),
        (["--folds", "1"], "1 is not in the range x>=2"),
        (["--image-size", "8"], "16 or more"),
    ],
)
def test_bad_options_are_usage_errors(tmp_path: Path, extra: list[str], message: str) -> None:
    inputs = make_review_inputs(tmp_path / "photos")
    args = ["review", str(inputs), "--labels", str(inputs / "labels.txt"), "--out", "r"]
    result = CliRunner().invoke(main, [*args, *extra])
    assert result.exit_code == 2
    assert message in result.output


def test_a_map_to_an_unknown_class_is_refused_before_reading(tmp_path: Path) -> None:
    inputs = make_review_inputs(tmp_path / "photos")
    args = ["review", str(inputs), "--labels", str(inputs / "labels.txt"), "--out", "r"]
    result = CliRunner().invoke(main, [*args, "--map", "unicorn=pegasus"])
    assert result.exit_code == 1
    assert "'unicorn' -> 'pegasus' maps to a class that is not in" in result.output


def test_missing_dataset_split_files_are_named(tmp_path: Path) -> None:
    inputs = make_review_inputs(tmp_path / "photos")
    dataset = tmp_path / "dataset"
    converted = CliRunner().invoke(
        main,
        [
            "convert",
            str(inputs),
            str(dataset),
            "--labels",
            str(inputs / "labels.txt"),
            "--skip-invalid",
        ],
    )
    assert converted.exit_code == 0, converted.output
    args = ["review", str(inputs), "--labels", str(inputs / "labels.txt"), "--out", "r"]
    result = CliRunner().invoke(main, [*args, "--dataset", str(dataset)])
    assert result.exit_code == 1
    assert (
        f"--dataset {dataset} has no split files; run 'annotool split {dataset}'" in result.output
    )
