"""`annotool export coco` and `annotool export yolo` from the command line."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from export_factory import converted, every_shape_type
from labelme_factory import make_dataset, shape, write_annotation

from annotool.cli import main
from annotool.voc import VocLayout


def run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(arg) for arg in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def export(kind: str, json_dir: Path, out_dir: Path, *extra: str | Path) -> tuple[int, str]:
    return run("export", kind, json_dir, out_dir, "--labels", json_dir / "labels.txt", "-q", *extra)


def test_export_coco_writes_annotations_and_a_summary(tmp_path: Path) -> None:
    code, output = export("coco", every_shape_type(tmp_path / "in"), tmp_path / "out")
    assert code == 0, output
    assert "Exported 1 images into" in output
    assert "10 objects, 5 as their shapes' polygons, 5 from their pixels" in output
    document = json.loads((tmp_path / "out" / "annotations.json").read_text())
    assert sum(a["iscrowd"] for a in document["annotations"]) == 2


def test_export_coco_ignore_drop(tmp_path: Path) -> None:
    code, _ = export(
        "coco", every_shape_type(tmp_path / "in"), tmp_path / "out", "--ignore", "drop"
    )
    assert code == 0
    document = json.loads((tmp_path / "out" / "annotations.json").read_text())
    assert not any(a["iscrowd"] for a in document["annotations"])


def test_export_coco_val_writes_split_files(tmp_path: Path) -> None:
    code, output = export("coco", make_dataset(tmp_path / "in", 5), tmp_path / "out", "--val", "2")
    assert code == 0, output
    assert "(train 3, val 2)" in output
    assert {p.name for p in (tmp_path / "out").glob("*.json")} == {
        "instances_train.json",
        "instances_val.json",
    }


def test_export_yolo_with_split_from(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", 3)
    voc = converted(annotations, tmp_path / "voc")
    VocLayout(voc).write_split("train", ["image000", "image001"])
    VocLayout(voc).write_split("val", ["image002"])
    code, output = export("yolo", annotations, tmp_path / "out", "--split-from", voc)
    assert code == 0, output
    assert "(train 2, val 1)" in output
    assert (tmp_path / "out" / "labels" / "val" / "image002.txt").is_file()
    assert "__ignore__ regions" in output  # YOLO has no ignore label: said once


def test_split_from_and_val_together_are_refused(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", 3)
    code, output = export(
        "yolo", annotations, tmp_path / "out", "--split-from", tmp_path, "--val", "0.2"
    )
    assert code == 1 and "exclude each other" in output


def test_invalid_input_fails_and_names_the_file_and_shape(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", 2)
    write_annotation(annotations, "bad", [shape("horse", [[1, 1], [5, 1], [3, 4]])])
    for kind in ("coco", "yolo"):
        code, output = export(kind, annotations, tmp_path / kind)
        assert code == 1
        assert "bad.json shape 0: label 'horse'" in output
        assert "--skip-invalid to export" in output
        assert not (tmp_path / kind).exists()


def test_skip_invalid_lists_the_skipped_files(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", 2)
    write_annotation(annotations, "bad", [shape("horse", [[1, 1], [5, 1], [3, 4]])])
    code, output = export("coco", annotations, tmp_path / "out", "--skip-invalid")
    assert code == 0
    assert "(skipped 1)" in output and "Skipped " in output and "bad.json" in output


def test_existing_output_is_refused_without_overwrite(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", 1)
    assert export("coco", annotations, tmp_path / "out")[0] == 0
    code, output = export("coco", annotations, tmp_path / "out")
    assert code == 1 and "--overwrite" in output
    assert export("coco", annotations, tmp_path / "out", "--overwrite")[0] == 0


def test_unknown_format_is_a_usage_error(tmp_path: Path) -> None:
    code, output = run("export", "voc", tmp_path, tmp_path / "out")
    assert code == 2 and "No such command 'voc'" in output


def test_a_full_disk_names_the_file_where_it_would_have_been(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    annotations = make_dataset(tmp_path / "in", 3)
    real_write = Path.write_bytes
    calls = {"count": 0}

    def write_bytes(path: Path, data: bytes) -> int:
        calls["count"] += 1
        if calls["count"] == 4:  # yolo: image, labels, image, then the second labels file
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(path, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    code, output = export("yolo", annotations, tmp_path / "out", "--workers", "1")
    assert code == 1 and "Traceback" not in output
    assert f"{tmp_path / 'out' / 'labels' / 'image001.txt'}: No space left on device" in output
    assert not (tmp_path / "out").exists()
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".out.")]
