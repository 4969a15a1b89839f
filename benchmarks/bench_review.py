"""How many known mistakes ``annotool review`` puts near the top, and whether it pairs copies.

Makes the ``boards`` labelme set of ``benchmarks/photo_sets.py`` (800x600 desk photos with
one to three boards of four kinds), injects mistakes of each kind into distinct files
(label swaps, deleted shapes, polygons drawn on background, shapes moved by half their
size) and adds near-copies of some clean photos (smaller, re-compressed, brighter, their
shapes scaled alike). Then runs ``annotool review`` as a user would, as a subprocess, and
counts the injected mistakes among the top 2N findings (N = injected): a shape mistake is
found when a finding names its file and shape, a deleted shape when a finding without
shape in its file overlaps the deleted shape's box (IoU >= 0.3). Prints recall per kind,
how many were found as their own kind, the copies paired, other pairs, and the load.

    python benchmarks/bench_review.py [--photos 150] [--time 10m] [--seed 0] [--keep DIR]
        [-- extra 'annotool review' options]
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

sys.path.insert(0, str(Path(__file__).resolve().parent))
from photo_sets import make_board_photos

INJECTED = {"wrong_label": 8, "missing": 8, "spurious": 7, "boundary": 7}
COPIES = 5
MIN_BOX_IOU = 0.3


@dataclass
class Mistake:
    kind: str
    file: str
    shape: int | None
    box: tuple[float, float, float, float] | None = None
    """The deleted shape's box (``missing`` only)."""


def points_box(points: list[list[float]]) -> tuple[float, float, float, float]:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def box_iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    overlap = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - overlap
    return overlap / union if union > 0 else 0.0


def inject(folder: Path, seed: int) -> tuple[list[Mistake], list[tuple[str, str]]]:
    """Inject INJECTED mistakes into distinct files and add COPIES near-copies."""
    rng = np.random.default_rng([seed, 18])
    files = sorted(folder.glob("*.json"))
    kinds = [kind for kind, count in INJECTED.items() for _ in range(count)]
    chosen = rng.permutation(len(files))
    mistakes = []
    class_names = [
        line for line in (folder / "labels.txt").read_text().splitlines() if line[:1] != "_"
    ]
    for kind, index in zip(kinds, chosen, strict=False):
        path = files[int(index)]
        document = json.loads(path.read_text())
        shapes = document["shapes"]
        width, height = document["imageWidth"], document["imageHeight"]
        target = int(rng.integers(len(shapes)))
        if kind == "wrong_label":
            others = [name for name in class_names if name != shapes[target]["label"]]
            shapes[target]["label"] = str(rng.choice(others))
            mistakes.append(Mistake(kind, path.name, target))
        elif kind == "missing":
            removed = shapes.pop(target)
            mistakes.append(Mistake(kind, path.name, None, points_box(removed["points"])))
        elif kind == "boundary":
            x0, y0, x1, y1 = points_box(shapes[target]["points"])
            angle = rng.uniform(0, 2 * math.pi)
            dx, dy = 0.5 * (x1 - x0) * math.cos(angle), 0.5 * (y1 - y0) * math.sin(angle)
            dx = min(max(dx, -x0), width - 1 - x1)
            dy = min(max(dy, -y0), height - 1 - y1)
            shapes[target]["points"] = [[x + dx, y + dy] for x, y in shapes[target]["points"]]
            mistakes.append(Mistake(kind, path.name, target))
        else:  # spurious: a board-sized quadrilateral where no board is
            taken = [points_box(shape["points"]) for shape in shapes]
            for _attempt in range(100):
                side = math.sqrt(width * height * rng.uniform(0.035, 0.065))
                x0 = rng.uniform(0, width - side)
                y0 = rng.uniform(0, height - side * 0.7)
                box = (x0, y0, x0 + side, y0 + side * 0.7)
                if all(box_iou(box, other) == 0 for other in taken):
                    break
            jitter = rng.uniform(-0.05, 0.05, size=(4, 2)) * side
            corners = [[box[0], box[1]], [box[2], box[1]], [box[2], box[3]], [box[0], box[3]]]
            points = [
                [float(x + jx), float(y + jy)]
                for (x, y), (jx, jy) in zip(corners, jitter, strict=False)
            ]
            shapes.append(
                {
                    "label": str(rng.choice(class_names)),
                    "points": points,
                    "group_id": None,
                    "shape_type": "polygon",
                    "flags": {},
                }
            )
            mistakes.append(Mistake(kind, path.name, len(shapes) - 1))
        path.write_text(json.dumps(document))
    clean = [files[int(index)] for index in chosen[len(kinds) :]]
    copies = []
    for number, path in enumerate(clean[:COPIES]):
        copies.append((path.name, write_near_copy(path, f"copy_{number}", rng)))
    return mistakes, copies


def write_near_copy(path: Path, stem: str, rng: np.random.Generator) -> str:
    """A smaller, re-compressed, brighter copy of ``path``'s photo, its shapes scaled."""
    document = json.loads(path.read_text())
    image = Image.open(path.parent / document["imagePath"]).convert("RGB")
    scale = float(rng.uniform(0.6, 0.85))
    size = (round(image.width * scale), round(image.height * scale))
    image = ImageEnhance.Brightness(image.resize(size, Image.Resampling.BILINEAR))
    image = image.enhance(float(rng.uniform(1.1, 1.25)))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(rng.integers(55, 75)))
    (path.parent / f"{stem}.jpg").write_bytes(buffer.getvalue())
    for shape in document["shapes"]:
        shape["points"] = [
            [x * size[0] / document["imageWidth"], y * size[1] / document["imageHeight"]]
            for x, y in shape["points"]
        ]
    document.update(imagePath=f"{stem}.jpg", imageWidth=size[0], imageHeight=size[1])
    (path.parent / f"{stem}.json").write_text(json.dumps(document))
    return f"{stem}.json"


def found(mistake: Mistake, issues: list[dict]) -> dict | None:
    for issue in issues:
        if issue["file"] != mistake.file:
            continue
        if mistake.shape is not None and issue["shape"] == mistake.shape:
            return issue
        overlap = 0.0 if mistake.box is None else box_iou(mistake.box, tuple(issue["bbox"]))
        if issue["shape"] is None and overlap >= MIN_BOX_IOU:
            return issue
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=150)
    parser.add_argument("--time", default="10m")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="Keep the photos and the review here.")
    parser.add_argument("extra", nargs="*", help="More 'annotool review' options (after --).")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-review-"))
    try:
        photos = make_board_photos(work / "photos", args.seed, args.photos)
        mistakes, copies = inject(photos, args.seed)
        out = work / "review"
        command = [
            sys.executable, "-m", "annotool", "review", str(photos), "--labels",
            str(photos / "labels.txt"), "--out", str(out), "--time", args.time, *args.extra,
        ]  # fmt: skip
        load_before = os.getloadavg()
        started = time.perf_counter()
        subprocess.run(command, check=True)
        seconds = time.perf_counter() - started
        load_after = os.getloadavg()
        report(json.loads((out / "review.json").read_text()), mistakes, copies)
        print(
            f"{len(list(photos.glob('*.json')))} photos, --time {args.time}: {seconds:.0f} s; "
            f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after "
            f"(1-minute), {load_after[2]:.1f} (15-minute), {os.cpu_count()} CPUs"
        )
        if args.keep:
            shutil.copytree(work, args.keep, dirs_exist_ok=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(document: dict, mistakes: list[Mistake], copies: list[tuple[str, str]]) -> None:
    issues = document["issues"]
    top = issues[: 2 * len(mistakes)]
    print(f"{len(issues)} findings; top {len(top)} = 2N for N = {len(mistakes)} injected mistakes")
    total = same_kind = 0
    for kind in INJECTED:
        of_kind = [mistake for mistake in mistakes if mistake.kind == kind]
        hits = [found(mistake, top) for mistake in of_kind]
        hit = sum(issue is not None for issue in hits)
        right = sum(issue is not None and issue["kind"] == kind for issue in hits)
        ranks = sorted(
            issues.index(issue) + 1 for issue in (found(m, issues) for m in of_kind) if issue
        )
        total += hit
        same_kind += right
        print(f"  {kind:12s} {hit}/{len(of_kind)} in top 2N ({right} as {kind}); ranks {ranks}")
    print(
        f"  recall {total}/{len(mistakes)} = {total / len(mistakes):.2f} "
        f"({same_kind} as their kind)"
    )
    pairs = {tuple(sorted(pair["files"])) for pair in document["duplicates"]}
    paired = sum(tuple(sorted(copy)) in pairs for copy in copies)
    print(f"  near-copies paired: {paired}/{len(copies)}; other pairs: {len(pairs) - paired}")
    folds = ", ".join(f"{fold['val_miou']:.2f}" for fold in document["folds"])
    print(f"  folds: {len(document['folds'])}, val mIoU {folds}")


if __name__ == "__main__":
    main()
