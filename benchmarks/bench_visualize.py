"""Speed of annotool's label overlay against ``imgviz.label2rgb``, which labelme uses.

    python benchmarks/bench_visualize.py                  # three photo sizes, 20 runs each
    python benchmarks/bench_visualize.py --repeat 50 --classes 21

``annotool.visualize.overlay`` hand-writes the blend (integer arithmetic, VOC colours at
50 % over the greyscale photo) and the legend (only the classes present) instead of
calling ``imgviz.label2rgb(label, gray, label_names=..., font_size=15, loc="rb")`` as
labelme's ``labelme2voc.py`` does. This script keeps the evidence for that choice: it
times both on the same inputs and prints the median milliseconds per call and the ratio.

Inputs resemble real annotations: a greyscale photo with texture, and a label image of
a few filled polygons of different classes over background, with an ignored border
region, at PASCAL VOC size (500x375), a downscaled phone photo (1280x960) and a full
12-megapixel phone photo (4032x3024). The legend lists ``--present`` classes of a
``--classes``-class list, as a typical image does. imgviz is needed only here (it is not
a dependency of annotool): ``pip install imgviz``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from annotool.labels import IGNORE_ID_NPY
from annotool.visualize import overlay

SIZES = ((375, 500), (960, 1280), (3024, 4032))


def make_inputs(
    height: int, width: int, classes: int, present: int, seed: int
) -> tuple[NDArray[np.uint8], NDArray[np.int32]]:
    """A textured ``(H, W)`` greyscale photo and an ``(H, W)`` int32 label of polygons
    (-1 = ignore, as labelme's converter passes it to imgviz)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    photo = 128 + 60 * np.sin(x / 23.0) * np.cos(y / 31.0) + rng.normal(0, 12, (height, width))
    gray = np.clip(photo, 0, 255).astype(np.uint8)
    label = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(label)
    for class_id in rng.choice(np.arange(1, classes), size=present, replace=False):
        cx, cy = rng.uniform(0.15, 0.85) * width, rng.uniform(0.15, 0.85) * height
        radius = rng.uniform(0.08, 0.25) * min(width, height)
        angles = np.sort(rng.uniform(0, 2 * np.pi, 12))
        radii = radius * rng.uniform(0.6, 1.0, 12)
        points = [
            (cx + r * np.cos(a), cy + r * np.sin(a)) for a, r in zip(angles, radii, strict=True)
        ]
        draw.polygon(points, fill=int(class_id))
    values = np.array(label, dtype=np.int32)
    values[: max(1, height // 100)] = IGNORE_ID_NPY  # an ignored strip, as __ignore__ gives
    return gray, values


def median_ms(call: Callable[[], object], repeat: int) -> float:
    call()  # warm-up: font loading, caches
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20, help="timed calls per size")
    parser.add_argument("--classes", type=int, default=21, help="classes in the label list")
    parser.add_argument("--present", type=int, default=4, help="classes present per image")
    args = parser.parse_args()
    import imgviz  # only the benchmark needs it

    names = ["_background_", *(f"class_{index}" for index in range(1, args.classes))]
    print(f"{'size':>11}  {'annotool ms':>11}  {'imgviz ms':>9}  {'imgviz/annotool':>15}")
    for height, width in SIZES:
        gray, label = make_inputs(height, width, args.classes, args.present, seed=height)
        ours = median_ms(partial(overlay, label, gray, names), args.repeat)
        labelme_way = partial(
            imgviz.label2rgb, label, gray, label_names=names, font_size=15, loc="rb"
        )
        theirs = median_ms(labelme_way, args.repeat)
        print(f"{width:>5}x{height:<5}  {ours:>11.1f}  {theirs:>9.1f}  {theirs / ours:>14.1f}x")


if __name__ == "__main__":
    main()
