"""Tests of annotool.stats.results: the JSON schema, and reading it back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from stats_fixtures import make_dataset

from annotool.errors import DatasetError
from annotool.stats import (
    DatasetStats,
    compute_stats,
    read_class_weights,
    read_stats_json,
    stats_to_json,
    write_stats_json,
)

NUMBER = (int, float)
SIZE = {"min": int, "median": int, "max": int}
SCHEMA: dict[str, object] = {
    "schema_version": int,
    "kind": str,
    "dataset": str,
    "split": (str, type(None)),
    "images": {
        "count": int,
        "height": SIZE,
        "width": SIZE,
        "modes": dict,
        "rgb_mean": (list, type(None)),
        "rgb_std": (list, type(None)),
    },
    "classes": list,
    "ignore_pixel_share": NUMBER,
    "background_pixel_share": NUMBER,
    "ignore_pixels": int,
    "total_pixels": int,
    "splits": dict,
    "split_pixels": dict,
    "class_weights": {"inverse_frequency": list, "median_frequency": list},
    "warnings": list,
}
CLASS_SCHEMA: dict[str, object] = {
    "id": int,
    "name": str,
    "pixels": int,
    "pixel_share": NUMBER,
    "images": int,
    "instances": (int, type(None)),
    "mean_instance_area": (*NUMBER, type(None)),
    "min_instance_area": (int, type(None)),
}


def check_schema(value: object, schema: object, where: str = "$") -> None:
    """Fail naming the path when ``value`` lacks a key of ``schema`` or has the wrong type."""
    if isinstance(schema, dict):
        assert isinstance(value, dict), f"{where} is not an object"
        missing = set(schema) - set(value)
        assert not missing, f"{where} lacks {sorted(missing)}"
        for key, subschema in schema.items():
            check_schema(value[key], subschema, f"{where}.{key}")
    else:
        assert isinstance(value, schema), f"{where} = {value!r} is not {schema}"  # type: ignore[arg-type]


def check_dataset_document(document: dict[str, object]) -> None:
    check_schema(document, SCHEMA)
    assert document["schema_version"] == 1
    classes = document["classes"]
    assert isinstance(classes, list)
    for index, item in enumerate(classes):
        check_schema(item, CLASS_SCHEMA, f"$.classes[{index}]")
        assert item["id"] == index
    images = document["images"]
    assert isinstance(images, dict)
    for key in ("rgb_mean", "rgb_std"):
        assert images[key] is None or (
            len(images[key]) == 3 and all(isinstance(v, float) for v in images[key])
        )
    assert all(isinstance(count, int) for count in images["modes"].values())
    weights = document["class_weights"]
    assert isinstance(weights, dict)
    for values in weights.values():
        assert len(values) == len(classes)
        assert all(isinstance(value, float) for value in values)
    splits = document["splits"]
    assert isinstance(splits, dict)
    for counts in splits.values():
        assert list(counts) == [item["name"] for item in classes]
        assert all(isinstance(count, int) for count in counts.values())
    split_pixels = document["split_pixels"]
    assert isinstance(split_pixels, dict)
    assert list(split_pixels) == list(splits)
    for name, counts in split_pixels.items():
        check_schema(counts, {"ignore_pixels": int, "total_pixels": int}, f"$.split_pixels.{name}")
    assert all(isinstance(warning, str) for warning in document["warnings"])  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("objects", "splits", "rgb"),
    [(True, {"train": ["a", "b"], "val": ["c"]}, True), (False, None, False)],
    ids=["full", "minimal"],
)
def test_json_follows_the_schema(
    tmp_path: Path, objects: bool, splits: dict[str, list[str]] | None, rgb: bool
) -> None:
    root = make_dataset(tmp_path / "d", objects=objects, splits=splits).root
    path = tmp_path / "out" / "stats.json"

    write_stats_json(compute_stats(root, rgb=rgb), path)

    document = json.loads(path.read_text(encoding="utf-8"))
    check_dataset_document(document)
    assert document["kind"] == "dataset"
    assert document["dataset"] == str(root)


def test_schema_check_catches_a_wrong_type() -> None:
    with pytest.raises(AssertionError, match=r"\$\.images\.count"):
        check_schema({"images": {"count": "3"}}, {"images": {"count": int}})


# --- reading the JSON back ---------------------------------------------------------


@pytest.mark.parametrize(
    ("objects", "splits", "rgb"),
    [(True, {"train": ["a", "b"], "val": ["c"]}, True), (False, None, False)],
    ids=["full", "minimal"],
)
def test_json_reads_back_to_equal_stats(
    tmp_path: Path, objects: bool, splits: dict[str, list[str]] | None, rgb: bool
) -> None:
    stats = compute_stats(
        make_dataset(tmp_path / "d", objects=objects, splits=splits).root, rgb=rgb
    )
    path = tmp_path / "stats.json"
    write_stats_json(stats, path)

    assert read_stats_json(path) == stats
    assert DatasetStats.from_dict(json.loads(stats_to_json(stats))) == stats


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, r"stats\.json does not exist; write it with 'annotool stats --json'"),
        ("{not json", r"stats\.json is not JSON"),
        ('{"kind": "labelme", "schema_version": 1}', r'expected "kind": "dataset"'),
        ('{"kind": "dataset", "schema_version": 1}', r"KeyError: 'split'"),
        ("[1, 2]", r"stats\.json is not the 'annotool stats --json' file of a dataset"),
    ],
    ids=["missing", "not-json", "labelme", "incomplete", "a-list"],
)
def test_read_stats_json_names_the_file_and_the_problem(
    tmp_path: Path, content: str | None, match: str
) -> None:
    path = tmp_path / "stats.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(DatasetError, match=match):
        read_stats_json(path)


def test_read_class_weights_reads_one_list(tmp_path: Path) -> None:
    path = tmp_path / "stats.json"
    write_stats_json(compute_stats(make_dataset(tmp_path / "d").root), path)
    weights = json.loads(path.read_text(encoding="utf-8"))["class_weights"]

    assert read_class_weights(path) == tuple(weights["median_frequency"])
    assert read_class_weights(path, "inverse_frequency") == tuple(weights["inverse_frequency"])
    path.write_text('{"class_weights": {"median_frequency": [1, 0.5]}}', encoding="utf-8")
    assert read_class_weights(path) == (1.0, 0.5)


@pytest.mark.parametrize(
    "weights",
    ['{"median_frequency": [1, -2]}', '{"median_frequency": ["1"]}', '{"other": []}', "[]"],
    ids=["negative", "string", "missing", "not-an-object"],
)
def test_read_class_weights_refuses_other_content(tmp_path: Path, weights: str) -> None:
    path = tmp_path / "weights.json"
    path.write_text(f'{{"class_weights": {weights}}}', encoding="utf-8")
    with pytest.raises(
        DatasetError, match=r"weights\.json is not an 'annotool stats --json' file with "
    ):
        read_class_weights(path)
