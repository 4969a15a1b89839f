"""The round trip on real labelme files: written as other tools write COCO and YOLO,
imported, then painted as ``convert`` paints them, the masks are labelme's reference
converter's (issue 19: >= 0.999 of the pixels from COCO polygons, >= 0.998 from YOLO)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from foreign_formats import agreement, write_labelme2coco, write_ultralytics_yolo

from annotool.cli import main
from annotool.importers import CocoImportOptions, import_coco, import_yolo
from annotool.labelme_write import ShapeOptions
from annotool.masks import read_label_png
from annotool.polygons import TraceOptions

POLYGON_DATASETS = ["semantic", "instance", "embedded_image"]
"""The fixtures labelme2coco.py writes correctly (it writes rectangles, lines and points
as polygons of one or two points)."""
COCO_MIN_AGREEMENT = 0.999
YOLO_MIN_AGREEMENT = 0.998
EXPORTED_CIRCLE_AGREEMENT = 0.9997
EXPORTED_YOLO_AGREEMENT = 0.999


@pytest.mark.parametrize("dataset", POLYGON_DATASETS)
def test_labelme2coco_then_import_paints_the_reference_masks(
    labelme_fixtures: Path, tmp_path: Path, dataset: str
) -> None:
    root = labelme_fixtures / dataset
    coco = write_labelme2coco(root / "annotations", root / "labels.txt", tmp_path / "coco")
    import_coco(coco, tmp_path / "json")
    figures = agreement(
        tmp_path / "json", root / "expected" / "SegmentationClass", root / "labels.txt"
    )
    assert figures and min(figures.values()) >= COCO_MIN_AGREEMENT, figures


@pytest.mark.parametrize("decimals", [None, 6], ids=["%g", "6-decimals"])
@pytest.mark.parametrize("dataset", POLYGON_DATASETS)
def test_ultralytics_yolo_then_import_paints_the_reference_masks(
    labelme_fixtures: Path, tmp_path: Path, dataset: str, decimals: int | None
) -> None:
    root = labelme_fixtures / dataset
    coco = write_labelme2coco(root / "annotations", root / "labels.txt", tmp_path / "coco")
    data = write_ultralytics_yolo(coco, tmp_path / "yolo", decimals=decimals)
    import_yolo(data, tmp_path / "json")
    figures = agreement(
        tmp_path / "json", root / "expected" / "SegmentationClass", root / "labels.txt"
    )
    assert figures and min(figures.values()) >= YOLO_MIN_AGREEMENT, figures


@pytest.mark.parametrize("dataset", [*POLYGON_DATASETS, "primitives"])
def test_export_coco_then_import_gives_every_pixel_back(
    labelme_fixtures: Path, tmp_path: Path, dataset: str
) -> None:
    """annotool's own COCO (RLE for lines, points, masks, objects painted over; ignored
    pixels as crowd regions) imported with exact tracing."""
    root = labelme_fixtures / dataset
    labels = root / "labels.txt"
    result = CliRunner().invoke(
        main,
        [
            "export",
            "coco",
            str(root / "annotations"),
            str(tmp_path / "coco"),
            "--labels",
            str(labels),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    # --crowd auto: the crowd regions of annotool's own export are its ignored pixels.
    options = CocoImportOptions(shapes=ShapeOptions(TraceOptions(tolerance=0)))
    import_coco(tmp_path / "coco" / "annotations.json", tmp_path / "json", options)
    # Every pixel counts here: the ignored ones come back as __ignore__.
    reference = root / "expected" / "SegmentationClass"
    figures = agreement(tmp_path / "json", reference, labels, count_ignored=True)
    # export coco writes a circle as a polygon within 0.2 px of it, which paints a few
    # boundary pixels differently (64 of primitives' 252,000); everything else is exact.
    least = EXPORTED_CIRCLE_AGREEMENT if dataset == "primitives" else 1.0
    assert figures and min(figures.values()) >= least, figures


def same_partition(first: np.ndarray, second: np.ndarray) -> bool:
    """Whether two label images split the pixels the same way, whatever their ids."""
    pairs = np.unique(np.stack([first.ravel(), second.ravel()]), axis=1)
    return pairs.shape[1] == len(np.unique(first)) == len(np.unique(second))


@pytest.mark.parametrize("dataset", [*POLYGON_DATASETS, "primitives"])
def test_convert_then_import_voc_then_convert_gives_both_masks_back(
    labelme_fixtures: Path, tmp_path: Path, dataset: str
) -> None:
    root = labelme_fixtures / dataset
    labels = str(root / "labels.txt")

    def convert(source: Path, out: Path) -> None:
        arguments = ["convert", str(source), str(out), "--labels", labels, "--no-viz", "-q"]
        result = CliRunner().invoke(main, arguments)
        assert result.exit_code == 0, result.output

    convert(root / "annotations", tmp_path / "voc")
    arguments = ["import", "voc", str(tmp_path / "voc"), str(tmp_path / "json")]
    result = CliRunner().invoke(main, [*arguments, "--tolerance", "0", "-q"])
    assert result.exit_code == 0, result.output
    convert(tmp_path / "json", tmp_path / "again")
    for expected_path in sorted((tmp_path / "voc" / "SegmentationClass").glob("*.png")):
        expected_class, expected_objects, again_class, again_objects = (
            read_label_png(tmp_path / run / folder / expected_path.name)
            for run in ("voc", "again")
            for folder in ("SegmentationClass", "SegmentationObject")
        )
        assert np.array_equal(again_class, expected_class), expected_path.stem
        # The objects, not the background: labelme gives _background_ shapes (the holes
        # traced from masks) an instance id of their own.
        painted = expected_class != 0
        assert same_partition(again_objects[painted], expected_objects[painted])


@pytest.mark.parametrize("dataset", [*POLYGON_DATASETS, "primitives"])
def test_export_yolo_then_import_yolo(labelme_fixtures: Path, tmp_path: Path, dataset: str) -> None:
    """YOLO holds no ignore and joins an object's parts by bridges: >= 0.999 elsewhere."""
    root = labelme_fixtures / dataset
    labels = str(root / "labels.txt")
    arguments = ["export", "yolo", str(root / "annotations"), str(tmp_path / "yolo")]
    result = CliRunner().invoke(main, [*arguments, "--labels", labels, "-q"])
    assert result.exit_code == 0, result.output
    import_yolo(tmp_path / "yolo" / "data.yaml", tmp_path / "json")
    figures = agreement(
        tmp_path / "json", root / "expected" / "SegmentationClass", root / "labels.txt"
    )
    assert figures and min(figures.values()) >= EXPORTED_YOLO_AGREEMENT, figures
