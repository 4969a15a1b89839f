"""Time `split_dataset` on a synthetic dataset of 500x375 masks (generated once, in /tmp)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from annotool.split import format_split_table, split_dataset
from annotool.voc import write_label_png


def make_masks(root: Path, count: int, seed: int = 0) -> None:
    (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:375, 0:500]
    for index in range(count):
        path = root / "SegmentationClass" / f"img{index:05d}.png"
        if path.exists():
            continue
        mask = np.zeros((375, 500), dtype=np.uint8)
        for _ in range(rng.integers(1, 6)):
            class_id = int(rng.choice(20, p=np.linspace(2, 0.1, 20) / np.linspace(2, 0.1, 20).sum())) + 1
            cy, cx, r = rng.integers(0, 375), rng.integers(0, 500), rng.integers(10, 120)
            disc = (rows - cy) ** 2 + (cols - cx) ** 2 < r * r
            mask[disc] = class_id
            mask[disc & ((rows - cy) ** 2 + (cols - cx) ** 2 > (r - 3) ** 2)] = 255
        write_label_png(path, mask)


if __name__ == "__main__":
    root = Path(sys.argv[1])
    count = int(sys.argv[2])
    make_masks(root, count)
    start = time.perf_counter()
    result = split_dataset(root, val=0.2, overwrite=True, group_pattern=sys.argv[3] if len(sys.argv) > 3 else None)
    elapsed = time.perf_counter() - start
    print(format_split_table(result))
    print(f"{count} masks in {elapsed:.2f} s: {count / elapsed:.0f} images/s")
