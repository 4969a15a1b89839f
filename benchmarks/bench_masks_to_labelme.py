"""Speed of ``annotool masks-to-labelme``, and how exactly its JSON converts back.

    python benchmarks/bench_masks_to_labelme.py                  # speed + round trip
    python benchmarks/bench_masks_to_labelme.py --masks 400 --workers 2 --skip-round-trip

Speed: ``--masks`` masks of 1000x750 with a few objects each (3 to 6 smooth blobs of 1 to
3 classes, some with a background hole or an island of another class inside, some cut
by the image border, an ``__ignore__`` band now and then), each with a JPEG of the same
size, converted by ``annotool masks-to-labelme`` run as a subprocess (``-q``, default
tolerance). Reported: masks/s over the wall time of the command (start-up included),
again without the start-up (the best of three ``--help`` runs), and CPU ms per mask
(user + system of the command and its workers). Target (issue 10): at least 50 masks/s
on 2 cores.

Round trip: masks -> labelme JSON (masks_to_labelme) -> ``annotool convert`` -> masks,
the pixel agreement with the input at several ``--tolerance`` values, per data source:

- ``scenes``: 30 masks like the speed masks above;
- ``hard blobs``: 40 masks of 160x120 thresholded smooth noise with 3 classes: ragged
  outlines, many holes and islands, thin parts and specks touching the border;
- ``fixtures``: labelme's own converter output for the shared labelme fixtures
  (``../shared/fixtures/labelme/*/expected/SegmentationClass``);
- ``example``: the bundled example (``examples/shapes``) converted by annotool.

Targets: at least 99.9% with ``--tolerance 0`` and 99% at the default tolerance.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw
from scipy import ndimage

from annotool.convert import ConvertOptions, convert_dataset
from annotool.labelme_write import ShapeOptions
from annotool.labels import IGNORE_ID, LabelSet, load_labels
from annotool.masks_to_labelme import find_mask_pairs, masks_to_labelme
from annotool.polygons import DEFAULT_TOLERANCE, TraceOptions
from annotool.voc import read_label_png, write_label_png

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT.parent / "shared" / "fixtures" / "labelme"
EXAMPLE = REPO_ROOT / "examples" / "shapes"
CLASS_NAMES = ("_background_", "cat", "dog", "bird")
TOLERANCES = (0.0, 0.5, DEFAULT_TOLERANCE, 2.0)
MASKS_ONLY = ConvertOptions(objects=False, visualizations=False)


def scene_mask(rng: np.random.Generator, height: int = 750, width: int = 1000) -> NDArray:
    """A photo-like mask: a few smooth objects, some with a hole or an island inside."""
    canvas = Image.new("L", (width, height), 0)
    pen = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(3, 7))):
        class_id = int(rng.integers(1, 4))
        centre_x, centre_y = rng.uniform(0, width), rng.uniform(0, height)
        radius = rng.uniform(40, 220)
        count = int(rng.integers(6, 40))
        angles = np.sort(rng.uniform(0, 2 * np.pi, count))
        radii = radius * np.clip(1 + 0.25 * rng.standard_normal(count), 0.5, 1.5)
        outline = np.stack(
            [centre_x + radii * np.cos(angles), centre_y + radii * np.sin(angles)], axis=1
        )
        pen.polygon([tuple(point) for point in outline.tolist()], fill=class_id)
        if rng.random() < 0.4:
            inner = 0 if rng.random() < 0.6 else int(rng.integers(1, 4))
            box = (centre_x - radius / 4, centre_y - radius / 5)
            box += (centre_x + radius / 4, centre_y + radius / 5)
            pen.ellipse(box, fill=inner)
    if rng.random() < 0.3:
        top = int(rng.integers(0, height - 20))
        pen.rectangle((0, top, width, top + int(rng.integers(3, 20))), fill=IGNORE_ID)
    return np.array(canvas)


def hard_blob_mask(rng: np.random.Generator, height: int = 120, width: int = 160) -> NDArray:
    """Thresholded smooth noise, one layer per class: ragged outlines, holes, specks."""
    mask = np.zeros((height, width), dtype=np.uint8)
    for class_id in (1, 2, 3):
        field = ndimage.gaussian_filter(rng.random((height, width)), 3)
        mask[field > np.quantile(field, 0.8)] = class_id
    return mask


def write_pairs(masks: dict[str, NDArray], folder: Path) -> None:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for stem, mask in masks.items():
        write_label_png(folder / "masks" / f"{stem}.png", mask)
        grey = np.full((*mask.shape, 3), 128, dtype=np.uint8)
        Image.fromarray(grey).save(folder / "images" / f"{stem}.jpg", quality=80)


def annotool_command() -> list[str]:
    return [sys.executable, "-m", "annotool"]


def measure_speed(count: int, workers: int | None, folder: Path) -> dict[str, float]:
    rng = np.random.default_rng(0)
    write_pairs({f"scene{index:04d}": scene_mask(rng) for index in range(count)}, folder)
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    startup = min(
        _timed([*annotool_command(), "masks-to-labelme", "--help"], environment)[0]
        for _ in range(3)
    )
    command = [
        *annotool_command(),
        "masks-to-labelme",
        str(folder / "masks"),
        str(folder / "images"),
        str(folder / "labelme"),
        "--labels",
        ",".join(CLASS_NAMES),
        "-q",
    ]
    if workers is not None:
        command += ["--workers", str(workers)]
    seconds, cpu_seconds = _timed(command, environment)
    shapes = [
        len(json.loads(path.read_text())["shapes"])
        for path in sorted((folder / "labelme").glob("*.json"))
    ]
    return {
        "masks": count,
        "seconds": seconds,
        "masks_per_second": count / seconds,
        "masks_per_second_after_startup": count / max(seconds - startup, 1e-9),
        "cpu_ms_per_mask": 1000 * cpu_seconds / count,
        "shapes_per_mask": statistics.mean(shapes),
    }


def _timed(command: list[str], environment: dict[str, str]) -> tuple[float, float]:
    before = os.times()
    start = time.perf_counter()
    subprocess.run(command, env=environment, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return seconds, cpu


def round_trip_sources(folder: Path) -> dict[str, tuple[Path, Path, LabelSet]]:
    """(masks, images, labels) per data source."""
    rng = np.random.default_rng(1)
    write_pairs({f"s{index:03d}": scene_mask(rng) for index in range(30)}, folder / "scenes")
    write_pairs({f"b{index:03d}": hard_blob_mask(rng) for index in range(40)}, folder / "blobs")
    labels = LabelSet(CLASS_NAMES)
    sources = {
        "scenes": (folder / "scenes" / "masks", folder / "scenes" / "images", labels),
        "hard blobs": (folder / "blobs" / "masks", folder / "blobs" / "images", labels),
    }
    if FIXTURES.is_dir():
        for fixture in sorted(path for path in FIXTURES.iterdir() if path.is_dir()):
            fixture_labels = load_labels(fixture / "labels.txt")
            voc = folder / f"fixture-{fixture.name}"
            convert_dataset(fixture / "annotations", voc, fixture_labels, ConvertOptions())
            expected = fixture / "expected" / "SegmentationClass"
            sources[f"fixture {fixture.name}"] = (expected, voc / "JPEGImages", fixture_labels)
    example_labels = load_labels(EXAMPLE / "labels.txt")
    example_voc = folder / "example-voc"
    convert_dataset(EXAMPLE, example_voc, example_labels, ConvertOptions())
    sources["example"] = (
        example_voc / "SegmentationClass",
        example_voc / "JPEGImages",
        example_labels,
    )
    return sources


def measure_round_trip(folder: Path) -> list[dict[str, object]]:
    rows = []
    for name, (masks, images, labels) in round_trip_sources(folder / "sources").items():
        pairs = find_mask_pairs(masks, images)
        for tolerance in TOLERANCES:
            out = folder / "runs" / f"{name}-{tolerance}".replace(" ", "-")
            options = ShapeOptions(TraceOptions(tolerance=tolerance))
            start = time.perf_counter()
            report = masks_to_labelme(pairs, out / "labelme", labels, options)
            seconds = time.perf_counter() - start
            assert not report.failed, report.failed
            convert_dataset(
                out / "labelme",
                out / "voc",
                labels,
                ConvertOptions(objects=False, visualizations=False),
            )
            agreements, points = [], []
            for pair in pairs:
                back = read_label_png(out / "voc" / "SegmentationClass" / pair.mask.name)
                agreements.append(float(np.mean(back == read_label_png(pair.mask))))
                document = json.loads((out / "labelme" / f"{pair.mask.stem}.json").read_text())
                points.extend(len(shape["points"]) for shape in document["shapes"])
            rows.append(
                {
                    "source": name,
                    "masks": len(pairs),
                    "tolerance": tolerance,
                    "mean_agreement": statistics.mean(agreements),
                    "min_agreement": min(agreements),
                    "points_per_shape": statistics.mean(points) if points else 0.0,
                    "ms_per_mask_in_process": 1000 * seconds / len(pairs),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--masks", type=int, default=300, help="masks for the speed run")
    parser.add_argument("--workers", type=int, default=None, help="default: all CPUs")
    parser.add_argument("--skip-round-trip", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results here")
    arguments = parser.parse_args()
    results: dict[str, object] = {"load_average": os.getloadavg()}
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        if not arguments.skip_speed:
            speed = measure_speed(arguments.masks, arguments.workers, folder / "speed")
            results["speed"] = speed
            print(
                f"speed: {speed['masks']} masks of 1000x750, {speed['shapes_per_mask']:.1f} "
                f"shapes each: {speed['masks_per_second']:.1f} masks/s "
                f"({speed['masks_per_second_after_startup']:.1f} without start-up), "
                f"{speed['cpu_ms_per_mask']:.1f} CPU ms/mask"
            )
        if not arguments.skip_round_trip:
            rows = measure_round_trip(folder / "round-trip")
            results["round_trip"] = rows
            print(f"{'source':<24} {'masks':>5} {'tol':>4} {'mean':>9} {'min':>9} {'pts':>6}")
            for row in rows:
                print(
                    f"{row['source']:<24} {row['masks']:>5} {row['tolerance']:>4} "
                    f"{row['mean_agreement']:>9.5%} {row['min_agreement']:>9.5%} "
                    f"{row['points_per_shape']:>6.1f}"
                )
    if arguments.json is not None:
        arguments.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
