"""Round trip through other tools' formats: how much of labelme's reference masks
``annotool import`` then ``annotool convert`` gives back, per image; and import speed.

    python benchmarks/bench_import.py                   # figures for every route
    python benchmarks/bench_import.py --json out.json --speed-copies 100

The inputs are the real labelme fixtures (``../shared/fixtures/labelme`` or the folder
``ANNOTOOL_LABELME_FIXTURES`` names) with the masks labelme's ``labelme2voc.py`` wrote for
them. Routes, each ending in ``annotool import ...`` and ``annotool convert`` run through
the command line:

- ``labelme2coco``: COCO written as labelme's ``labelme2coco.py`` example writes it
  (``__ignore__`` shapes left out, so ignored reference pixels do not count), then
  ``import coco``;
- ``yolo-%g``, ``yolo-6-decimals``: that COCO converted as Ultralytics' ``convert_coco``
  converts it (multi-part objects joined by zero-width bridges), then ``import yolo``;
- ``export-coco``, ``export-coco-tol1``: ``annotool export coco`` (RLE where polygons
  cannot hold the pixels, ignored pixels as crowd regions), then ``import coco`` (whose
  ``--crowd auto`` takes them as ignored) with exact tracing, and with the default 1 px
  tolerance (every pixel counts);
- ``export-yolo``: ``annotool export yolo``, then ``import yolo`` (ignored pixels do not
  count: YOLO has no ignore);
- ``voc``, ``voc-tol1``: ``annotool convert``, then ``import voc`` with exact tracing and
  with the default 1 px tolerance (every pixel counts).

The writers of the other tools' files are ``tests/foreign_formats.py``'s (written from
those scripts' behaviour). With ``--speed-copies N`` the semantic fixture's COCO file is
replicated N times (distinct file names, the same three photos) and ``import coco``
timed on it, reporting images/s and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests"))

import numpy as np  # noqa: E402
from foreign_formats import write_labelme2coco, write_ultralytics_yolo  # noqa: E402

from annotool.cli import main  # noqa: E402
from annotool.labels import IGNORE_ID  # noqa: E402
from annotool.masks import read_label_png  # noqa: E402

FIXTURES = Path(
    os.environ.get(
        "ANNOTOOL_LABELME_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures" / "labelme"
    )
)
POLYGON_DATASETS = ("semantic", "instance", "embedded_image")
ALL_DATASETS = (*POLYGON_DATASETS, "primitives")


def run(*arguments: object) -> None:
    result = CliRunner().invoke(main, [str(argument) for argument in arguments])
    if result.exit_code != 0:
        raise SystemExit(f"annotool {' '.join(map(str, arguments))} failed:\n{result.output}")


def labelme2coco_route(dataset: Path, work: Path) -> Path:
    coco = write_labelme2coco(dataset / "annotations", dataset / "labels.txt", work / "coco")
    run("import", "coco", coco, work / "json", "-q")
    return work / "json"


def yolo_route(decimals: int | None) -> Callable[[Path, Path], Path]:
    def route(dataset: Path, work: Path) -> Path:
        coco = write_labelme2coco(dataset / "annotations", dataset / "labels.txt", work / "coco")
        data = write_ultralytics_yolo(coco, work / "yolo", decimals=decimals)
        run("import", "yolo", data, work / "json", "-q")
        return work / "json"

    return route


def export_coco_route(tolerance: str) -> Callable[[Path, Path], Path]:
    def route(dataset: Path, work: Path) -> Path:
        labels = dataset / "labels.txt"
        run("export", "coco", dataset / "annotations", work / "coco", "--labels", labels, "-q")
        annotations = work / "coco" / "annotations.json"
        run("import", "coco", annotations, work / "json", "--tolerance", tolerance, "-q")
        return work / "json"

    return route


def export_yolo_route(dataset: Path, work: Path) -> Path:
    labels = dataset / "labels.txt"
    run("export", "yolo", dataset / "annotations", work / "yolo", "--labels", labels, "-q")
    run("import", "yolo", work / "yolo" / "data.yaml", work / "json", "-q")
    return work / "json"


def voc_route(tolerance: str) -> Callable[[Path, Path], Path]:
    def route(dataset: Path, work: Path) -> Path:
        labels = dataset / "labels.txt"
        run("convert", dataset / "annotations", work / "dataset", "--labels", labels, "-q")
        run("import", "voc", work / "dataset", work / "json", "--tolerance", tolerance, "-q")
        return work / "json"

    return route


ROUTES: dict[str, tuple[Callable[[Path, Path], Path], tuple[str, ...], bool]] = {
    # name: (route, datasets, whether ignored reference pixels count)
    "labelme2coco": (labelme2coco_route, POLYGON_DATASETS, False),
    "yolo-%g": (yolo_route(None), POLYGON_DATASETS, False),
    "yolo-6-decimals": (yolo_route(6), POLYGON_DATASETS, False),
    "export-coco": (export_coco_route("0"), ALL_DATASETS, True),
    "export-coco-tol1": (export_coco_route("1"), ALL_DATASETS, True),
    "export-yolo": (export_yolo_route, ALL_DATASETS, False),
    "voc": (voc_route("0"), ALL_DATASETS, True),
    "voc-tol1": (voc_route("1"), ALL_DATASETS, True),
}


def converted_agreement(
    json_dir: Path, dataset: Path, work: Path, count_ignored: bool
) -> dict[str, float]:
    """Per image: the share of pixels where the class mask ``annotool convert`` writes from
    the imported files equals the reference converter's (see ``count_ignored``)."""
    labels = dataset / "labels.txt"
    run("convert", json_dir, work / "voc", "--labels", labels, "--no-viz", "--no-objects", "-q")
    figures = {}
    for reference_path in sorted((dataset / "expected" / "SegmentationClass").glob("*.png")):
        reference = read_label_png(reference_path)
        converted = read_label_png(work / "voc" / "SegmentationClass" / reference_path.name)
        counted = np.ones_like(reference, bool) if count_ignored else reference != IGNORE_ID
        figures[reference_path.stem] = float(np.mean(converted[counted] == reference[counted]))
    return figures


def measure_routes(work_root: Path) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for name, (route, datasets, count_ignored) in ROUTES.items():
        figures: dict[str, float] = {}
        for dataset_name in datasets:
            work = work_root / name / dataset_name
            json_dir = route(FIXTURES / dataset_name, work)
            per_image = converted_agreement(json_dir, FIXTURES / dataset_name, work, count_ignored)
            figures.update({f"{dataset_name}/{stem}": value for stem, value in per_image.items()})
        results[name] = figures
        worst = min(figures, key=figures.__getitem__)
        print(
            f"{name:18s} worst {figures[worst]:.6f} ({worst}), mean "
            f"{sum(figures.values()) / len(figures):.6f}, images {len(figures)}"
        )
    return results


def measure_speed(copies: int, work_root: Path) -> dict[str, float]:
    dataset = FIXTURES / "semantic"
    coco = write_labelme2coco(dataset / "annotations", dataset / "labels.txt", work_root / "speed")
    document = json.loads(coco.read_text())
    images, annotations = [], []
    for copy in range(copies):
        for image in document["images"]:
            source = coco.parent / image["file_name"]
            name = f"JPEGImages/{copy:05d}_{source.name}"
            shutil.copyfile(source, coco.parent / name)
            images.append({**image, "id": len(images), "file_name": name})
            for annotation in document["annotations"]:
                if annotation["image_id"] == image["id"]:
                    annotations.append(
                        {**annotation, "id": len(annotations), "image_id": images[-1]["id"]}
                    )
    coco.write_text(json.dumps({**document, "images": images, "annotations": annotations}))
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    start = time.perf_counter()
    run("import", "coco", coco, work_root / "speed-json", "-q")
    seconds = time.perf_counter() - start
    print(
        f"import coco: {len(images)} images in {seconds:.2f} s = "
        f"{len(images) / seconds:.0f} images/s (load average {load}, {os.cpu_count()} CPUs)"
    )
    return {"images": len(images), "seconds": seconds, "images_per_second": len(images) / seconds}


def main_cli() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    parser.add_argument("--speed-copies", type=int, default=0, help="Time import coco on N copies.")
    args = parser.parse_args()
    if not FIXTURES.is_dir():
        raise SystemExit(f"labelme fixtures not found at {FIXTURES}")
    with tempfile.TemporaryDirectory() as temporary:
        results: dict[str, object] = {"agreement": measure_routes(Path(temporary))}
        if args.speed_copies:
            results["speed"] = measure_speed(args.speed_copies, Path(temporary))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main_cli())
