"""The road frames of the convert benchmarks (benchmarks/road_frames.py) are what they
claim: 1920x1080 photos with 20-50 polygons over many classes, written deterministically,
that ``annotool convert`` reads without a problem."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from road_frames import HEIGHT, ROAD_CLASSES, WIDTH, make_road_frames

from annotool.cli import main
from annotool.images import read_rgb


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_road_frames(tmp_path_factory.mktemp("road"), count=2, seed=1)


def test_frames_are_large_with_many_polygons_of_many_classes(frames: Path) -> None:
    documents = [json.loads(path.read_text()) for path in sorted(frames.glob("*.json"))]
    assert len(documents) == 2
    for document in documents:
        assert (document["imageWidth"], document["imageHeight"]) == (WIDTH, HEIGHT)
        assert read_rgb(frames / document["imagePath"], oriented=False).shape == (HEIGHT, WIDTH, 3)
        assert 15 <= len(document["shapes"]) <= 60
        labels = {shape["label"] for shape in document["shapes"]}
        assert labels <= set(ROAD_CLASSES)
        assert {"sky", "road", "sidewalk"} <= labels
        assert len(labels) >= 6


def test_same_seed_same_bytes(frames: Path, tmp_path: Path) -> None:
    again = make_road_frames(tmp_path / "again", count=2, seed=1)
    for path in sorted(frames.iterdir()):
        assert (again / path.name).read_bytes() == path.read_bytes()


def test_frames_convert_cleanly(frames: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "convert",
            str(frames),
            str(tmp_path / "voc"),
            "--labels",
            str(frames / "labels.txt"),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "voc" / "SegmentationClass").glob("*.png"))) == 2
