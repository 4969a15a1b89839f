"""Measure `annotool split` on a generated dataset of 500x375 masks: images/s and memory.

    python benchmarks/bench_split.py [--images 2000] [--dir DIR]

The masks (20 classes of discs with an ignore rim) are generated once into DIR (a
temporary directory by default) and reused on later runs with the same DIR.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from annotool.voc import write_label_png

HEIGHT, WIDTH, CLASSES = 375, 500, 20


def make_masks(root: Path, count: int, seed: int = 0) -> None:
    (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    frequency = np.linspace(2, 0.1, CLASSES)
    frequency /= frequency.sum()
    for index in range(count):
        path = root / "SegmentationClass" / f"img{index:05d}.png"
        if path.exists():
            continue
        mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
        for _ in range(rng.integers(1, 6)):
            class_id = int(rng.choice(CLASSES, p=frequency)) + 1
            cy, cx, r = rng.integers(0, HEIGHT), rng.integers(0, WIDTH), rng.integers(10, 120)
            distance = (rows - cy) ** 2 + (cols - cx) ** 2
            mask[distance < r * r] = class_id
            mask[(distance < r * r) & (distance > (r - 3) ** 2)] = 255
        write_label_png(path, mask)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--dir", type=Path, help="where to keep the generated masks")
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="bench_split_")) / "dataset"
    make_masks(root, args.images)
    command = [sys.executable, "-m", "annotool", "split", str(root), "-q", "--overwrite"]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"split of {args.images} masks ({WIDTH}x{HEIGHT}): {elapsed:.2f} s wall "
        f"including start-up, {args.images / elapsed:.0f} images/s, peak memory {peak_mib:.0f} MiB"
    )


if __name__ == "__main__":
    main()
