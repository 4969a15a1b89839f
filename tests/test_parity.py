"""Pixel parity with labelme's reference converter on real labelme datasets.

``../shared/fixtures/labelme/<dataset>/expected/`` holds what labelme 7.1.0's
``labelme2voc.py`` wrote; the label PNGs annotool would write must match them.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from annotool.labelme import load_image, read_annotation
from annotool.labels import load_labels
from annotool.rasterize import rasterize
from annotool.voc import label_png_bytes

DATASETS = ["semantic", "instance", "primitives", "embedded_image"]
REQUIRED_MATCH_PERCENT = 99.99


def decode_png(data: bytes) -> tuple[NDArray[np.uint8], list[int] | None, str]:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image), image.getpalette(), image.mode


@pytest.mark.parametrize("dataset", DATASETS)
def test_label_pngs_match_the_reference_converter(
    labelme_fixtures: Path, dataset: str, record_property: pytest.RecordProperty
) -> None:
    root = labelme_fixtures / dataset
    assert root.is_dir(), f"fixture dataset {root} is missing from the fixtures folder"
    labels = load_labels(root / "labels.txt")
    json_paths = sorted((root / "annotations").glob("*.json"))
    assert json_paths, f"no annotations in {root}"
    report: list[str] = []
    for json_path in json_paths:
        annotation, problems = read_annotation(json_path, labels)
        assert annotation is not None and problems == [], problems
        height, width = load_image(annotation).pixels.shape[:2]
        class_label, object_label = rasterize(annotation.shapes, height, width, labels)
        for folder, label in (
            ("SegmentationClass", class_label),
            ("SegmentationObject", object_label),
        ):
            expected_path = root / "expected" / folder / f"{json_path.stem}.png"
            expected, expected_palette, expected_mode = decode_png(expected_path.read_bytes())
            actual, actual_palette, actual_mode = decode_png(label_png_bytes(label))
            assert (actual_mode, actual.shape) == (expected_mode, expected.shape)
            assert actual_palette == expected_palette, f"{folder}/{json_path.stem}: palette differs"
            percent = 100.0 * float(np.mean(actual == expected))
            report.append(f"{dataset}/{folder}/{json_path.stem}: {percent:.4f}%")
            assert percent >= REQUIRED_MATCH_PERCENT, (
                f"{folder}/{json_path.stem}: only {percent:.4f}% of pixels match "
                f"({int(np.sum(actual != expected))} differ)"
            )
    record_property("parity", "; ".join(report))


def test_image_size_from_the_header_equals_the_decoded_image(labelme_fixtures: Path) -> None:
    for json_path in sorted(labelme_fixtures.glob("*/annotations/*.json")):
        annotation, _ = read_annotation(json_path)
        assert annotation is not None and annotation.image_size is not None
        assert load_image(annotation).pixels.shape[:2] == annotation.image_size


PARITY_TEST = "tests/test_parity.py::test_image_size_from_the_header_equals_the_decoded_image"


@pytest.mark.parametrize(("required", "returncode"), [("1", 1), ("", 0)], ids=["ci", "local"])
def test_missing_fixtures_fail_only_when_required(
    tmp_path: Path, required: str, returncode: int
) -> None:
    environment = {
        **os.environ,
        "ANNOTOOL_LABELME_FIXTURES": str(tmp_path / "absent"),
        "ANNOTOOL_REQUIRE_FIXTURES": required,
    }
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", PARITY_TEST],
        cwd=Path(__file__).resolve().parent.parent,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert run.returncode == returncode, run.stdout + run.stderr
    # pytest reports a fixture that fails as an error of the test.
    assert ("1 error" if required else "1 skipped") in run.stdout
