"""Pre-labels a person keeps: ``predict --labelme``'s shapes against the annotations.

Trains on a multi-class photo set (``boards`` of ``benchmarks/photo_sets.py``, or the
harder ``clutter`` of ``benchmarks/desk_clutter.py``) exactly as a user would
(``annotool convert``, ``split``, ``train --time``), then pre-labels the validation photos
and photos the run never saw (another seed), and compares two ways of turning the
model's output into shapes:

- before: every connected region of every predicted class becomes a shape (regions under
  20 pixels left out), as ``predict --labelme`` did before predicted objects;
- after: one shape per predicted object, with the minimum area and confidence the run
  chose on its validation split and its maximum area (see ``annotool.objects`` and
  ``annotool.train.prelabels``).

For each: shapes per photo against the annotated objects per photo, precision and recall
of the shapes at IoU >= 0.5 (any class), and the share of found objects with the right
class.

    python benchmarks/bench_prelabels.py [boards|clutter] [--time 5m] [--seed 0]
        [--unseen 30] [--keep DIR] [-- extra 'annotool train' options]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
import photo_sets
from desk_clutter import make_clutter_photos

from annotool.images import read_rgb
from annotool.masks import read_label_png
from annotool.object_scores import PrelabelScores, match_objects, truth_instances
from annotool.objects import ObjectThresholds, PredictedObject, find_objects, select_objects
from annotool.train.inference import Predictor
from annotool.voc import VocLayout

FOUR_CONNECTED = ndimage.generate_binary_structure(2, 1)


def make_set(name: str, out_dir: Path, seed: int, count: int) -> Path:
    if name == "clutter":
        return make_clutter_photos(out_dir, seed, count=count)
    return photo_sets.make_board_photos(out_dir, seed, count=count)


def annotool(*arguments: str) -> str:
    command = [sys.executable, "-m", "annotool", *arguments]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout + done.stderr


def convert(labelme: Path, dataset: Path) -> VocLayout:
    annotool(
        "convert",
        str(labelme),
        str(dataset),
        "--labels",
        str(labelme / "labels.txt"),
        "--no-viz",
        "--overwrite",
        "-q",
    )
    return VocLayout.open(dataset)


def class_regions(
    probabilities: NDArray[np.float32],
) -> tuple[NDArray[np.int32], list[PredictedObject]]:
    """The shapes of before: each 4-connected region of each predicted class."""
    classes = probabilities.argmax(axis=0)
    region_map = np.zeros(classes.shape, dtype=np.int32)
    regions: list[PredictedObject] = []
    for class_id in range(1, probabilities.shape[0]):
        components, count = ndimage.label(classes == class_id, structure=FOUR_CONNECTED)
        for index in range(1, count + 1):
            pixels = components == index
            region_map[pixels] = len(regions) + 1
            regions.append(
                PredictedObject(
                    index=len(regions) + 1,
                    class_id=class_id,
                    probability=float(probabilities[class_id][pixels].mean()),
                    runner_up=None,
                    runner_up_probability=0.0,
                    confidence=float(1 - probabilities[0][pixels].mean()),
                    pixels=int(pixels.sum()),
                )
            )
    return region_map, regions


def score(predictor: Predictor, layout: VocLayout, stems: list[str]) -> dict[str, PrelabelScores]:
    totals = {name: [0, 0, 0, 0] for name in ("before", "after")}
    for stem in stems:
        image = read_rgb(layout.image_path(stem), oriented=False)
        instance_map, classes = truth_instances(
            read_label_png(layout.class_mask_path(stem)),
            read_label_png(layout.object_mask_path(stem)),
        )
        probabilities = predictor.probabilities(image)
        region_map, regions = class_regions(probabilities)
        before = select_objects(regions, ObjectThresholds(), instance_map.size).kept
        object_map, objects = find_objects(probabilities)
        after = select_objects(objects, predictor.object_thresholds, instance_map.size).kept
        for name, shape_map, kept in (
            ("before", region_map, before),
            ("after", object_map, after),
        ):
            matches = match_objects(shape_map, kept, instance_map, classes)
            counts = totals[name]
            counts[0] += len(classes)
            counts[1] += len(kept)
            counts[2] += sum(match.matched for match in matches)
            counts[3] += sum(match.right_class for match in matches)
    return {name: PrelabelScores(len(stems), *counts) for name, counts in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", nargs="?", default="boards", choices=("boards", "clutter"))
    parser.add_argument("--time", default="5m")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--unseen", type=int, default=30, help="Photos of another seed.")
    parser.add_argument("--keep", type=Path)
    parser.add_argument("train_options", nargs="*")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="annotool-prelabels-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        layout = convert(make_set(args.dataset, root / "labelme", args.seed, 150), root / "data")
        annotool("split", str(layout.root), "--val", "0.2", "--seed", str(args.seed), "--overwrite")
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        log = annotool(
            "train",
            str(layout.root),
            "--out",
            str(root / "run"),
            "--overwrite",
            "--time",
            args.time,
            "-q",
            *args.train_options,
        )
        seconds = time.perf_counter() - started
        notes = [line for line in log.splitlines() if "precision" in line or "pre-label" in line]
        print("\n".join(notes))
        print(
            f"{args.dataset} seed {args.seed}, --time {args.time}: train wall {seconds:.0f} s, "
            f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}"
        )
        predictor = Predictor.from_checkpoint(root / "run" / "best.pt", device="cpu")
        print(f"thresholds: {predictor.object_thresholds.describe(600 * 800)}")
        sets = [("val", layout, layout.read_split("val"))]
        if args.unseen:
            unseen = convert(
                make_set(args.dataset, root / "unseen", args.seed + 1000, args.unseen),
                root / "unseen-data",
            )
            sets.append((f"unseen ({args.unseen})", unseen, unseen.stems()))
        for name, where, stems in sets:
            for way, scores in score(predictor, where, stems).items():
                print(f"{name:12s} {way:6s} {scores.describe()}")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
