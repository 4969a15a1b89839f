"""The ``clutter`` benchmark set (benchmarks/desk_clutter.py) has the properties it claims:
one to three boards per photo, each 1-5% of the frame, four kinds, every board colour
shared by several kinds, and masks that convert from the JSON exactly as painted."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from desk_clutter import (
    CLUTTER_KINDS,
    KIND_COLOURS,
    board_patch,
    clutter_scene,
    make_clutter_photos,
)

from annotool.images import read_rgb

WIDTH, HEIGHT = 800, 600


def polygon_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


@pytest.fixture(scope="module")
def clutter_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clutter_photos(tmp_path_factory.mktemp("clutter"), seed=3, count=12)


def _documents(folder: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]


def test_every_photo_has_one_to_three_boards_of_one_to_five_percent(clutter_set: Path) -> None:
    documents = _documents(clutter_set)
    assert len(documents) == 12
    for document in documents:
        assert (document["imageWidth"], document["imageHeight"]) == (WIDTH, HEIGHT)
        assert 1 <= len(document["shapes"]) <= 3
        for shape in document["shapes"]:
            assert shape["label"] in CLUTTER_KINDS
            share = polygon_area(np.asarray(shape["points"])) / (WIDTH * HEIGHT)
            assert 0.01 * 0.9 <= share <= 0.05 * 1.05, (document["imagePath"], share)


def test_the_set_holds_every_kind_and_writes_the_labels_file(clutter_set: Path) -> None:
    labels = Counter(
        shape["label"] for document in _documents(clutter_set) for shape in document["shapes"]
    )
    assert set(labels) == set(CLUTTER_KINDS)
    lines = (clutter_set / "labels.txt").read_text().splitlines()
    assert lines == ["__ignore__", "_background_", *CLUTTER_KINDS]


def test_colour_alone_never_tells_the_kind() -> None:
    uses = Counter(colour for colours in KIND_COLOURS.values() for colour in colours)
    assert min(uses.values()) >= 2


def test_the_photos_are_the_jpegs_the_json_names(clutter_set: Path) -> None:
    for document in _documents(clutter_set)[:3]:
        image = read_rgb(clutter_set / document["imagePath"], oriented=False)
        assert image.shape == (HEIGHT, WIDTH, 3)
        assert image.std() > 20  # a busy photo, not a flat canvas


def test_the_same_seed_gives_the_same_scene() -> None:
    first = clutter_scene(np.random.default_rng([5, 0]), 400, 300)
    second = clutter_scene(np.random.default_rng([5, 0]), 400, 300)
    assert np.array_equal(first[0], second[0])
    assert first[1] == second[1]


@pytest.mark.parametrize("kind", CLUTTER_KINDS)
def test_a_board_patch_has_the_size_asked(kind: str) -> None:
    patch = board_patch(np.random.default_rng(0), kind, 120, 70)
    assert patch.shape == (70, 120, 3)
    assert patch.dtype == np.uint8
