"""Speed and memory of ``annotool stats`` on a generated VOC-style dataset.

Generates N (default 2000) 500x375 JPEG photos with class masks (PASCAL-like: a few
objects per image, a 255 border around each) and instance masks under a temporary
directory, then measures:

* masks/s: ``compute_stats(rgb=False)``, which decodes every class and instance mask
  (image headers only), with 1 and 2 workers;
* images/s: ``compute_stats()`` with the exact RGB mean/std, which also decodes every
  JPEG, with 1 and 2 workers;
* peak memory (ru_maxrss) of ``annotool stats`` run as a subprocess on the first 500
  images and on all of them, largest single process.

Usage: ``python benchmarks/bench_stats.py [--images 2000] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from annotool.stats import compute_stats
from annotool.voc import VocLayout, write_label_png

WIDTH, HEIGHT = 500, 375
CLASS_NAMES = ["_background_", "aeroplane", "bicycle", "bird", "boat", "bottle"]


def generate(root: Path, count: int, seed: int = 0) -> VocLayout:
    """Write ``count`` photo-like JPEGs with class and instance masks under ``root``."""
    layout = VocLayout(root)
    layout.images_dir.mkdir(parents=True)
    layout.write_class_names(CLASS_NAMES)
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    for index in range(count):
        stem = f"img_{index:05d}"
        classes = Image.new("L", (WIDTH, HEIGHT), 0)
        instances = Image.new("L", (WIDTH, HEIGHT), 0)
        draw_classes, draw_instances = ImageDraw.Draw(classes), ImageDraw.Draw(instances)
        base = rng.uniform(40, 200, 3)
        slope = rng.uniform(-0.2, 0.2, (2, 3))
        photo = base + ys[..., None] * slope[0] + xs[..., None] * slope[1]
        for instance_id in range(1, int(rng.integers(1, 5)) + 1):
            class_id = int(rng.integers(1, len(CLASS_NAMES)))
            x0, y0 = int(rng.integers(0, WIDTH - 60)), int(rng.integers(0, HEIGHT - 60))
            x1 = x0 + int(rng.integers(30, WIDTH - x0))
            y1 = y0 + int(rng.integers(30, HEIGHT - y0))
            box = (x0, y0, x1, y1)
            draw_classes.ellipse(box, fill=class_id, outline=255, width=3)
            draw_instances.ellipse(box, fill=instance_id, outline=0, width=3)
            inside = (slice(y0, y1), slice(x0, x1))
            photo[inside] = photo[inside] * 0.5 + rng.uniform(0, 255, 3) * 0.5
        photo += rng.normal(0, 6, photo.shape)
        Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)).save(
            layout.images_dir / f"{stem}.jpg", quality=90
        )
        write_label_png(layout.class_mask_path(stem), np.asarray(classes))
        write_label_png(layout.object_mask_path(stem), np.asarray(instances))
    return layout


def subset(layout: VocLayout, root: Path, count: int) -> VocLayout:
    """A dataset of the first ``count`` images of ``layout``, hard-linked under ``root``."""
    small = VocLayout(root)
    for folder in (small.images_dir, small.class_dir, small.object_dir):
        folder.mkdir(parents=True)
    small.write_class_names(CLASS_NAMES)
    for stem in layout.stems()[:count]:
        os.link(layout.image_path(stem), small.images_dir / f"{stem}.jpg")
        os.link(layout.class_mask_path(stem), small.class_mask_path(stem))
        os.link(layout.object_mask_path(stem), small.object_mask_path(stem))
    return small


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the pool workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def rates(root: Path, count: int, workers: int, rgb: bool) -> tuple[float, float]:
    """Items per wall-clock second and per CPU second of one ``compute_stats`` run.

    On a shared machine the wall-clock rate depends on the other load; the CPU rate
    times the number of cores estimates the rate on dedicated cores.
    """
    wall, cpu = time.perf_counter(), cpu_seconds()
    compute_stats(root, workers=workers, rgb=rgb)
    return count / (time.perf_counter() - wall), count / (cpu_seconds() - cpu)


PEAK_RSS = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak_rss_mib(root: Path, workers: int) -> float:
    """Largest resident set (MiB) of any process of one ``annotool stats`` run."""
    command = [sys.executable, "-c", PEAK_RSS, sys.executable, "-m", "annotool", "stats"]
    command += [str(root), "-q", "--workers", str(workers)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return int(output.strip()) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--small", type=int, default=500, help="Images of the memory baseline.")
    parser.add_argument("--keep", type=Path, help="Generate here and keep it (must not exist).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_stats.") as temporary:
        work = args.keep or Path(temporary)
        start = time.perf_counter()
        layout = generate(work / "full", args.images)
        small = subset(layout, work / "small", args.small)
        print(f"generated {args.images} images in {time.perf_counter() - start:.1f} s")
        compute_stats(small.root, rgb=False)  # warm the page cache and imports
        compute_stats(layout.root, rgb=True)
        print(f"load average before timing: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        for rgb, what in (
            (False, "masks/s (class + instance masks, image headers)"),
            (True, "images/s (masks + JPEG decoding for the exact RGB mean/std)"),
        ):
            for workers in (1, 2):
                wall, cpu = rates(layout.root, args.images, workers, rgb=rgb)
                print(
                    f"workers={workers}: {wall:6.0f} {what} wall clock; {cpu:6.0f} per CPU "
                    f"second, so about {cpu * workers:.0f} on {workers} dedicated core(s)"
                )
        for workers in (1, 2):
            small_rss = peak_rss_mib(small.root, workers)
            full_rss = peak_rss_mib(layout.root, workers)
            print(
                f"peak RSS, workers={workers}: {small_rss:.1f} MiB at {args.small} images, "
                f"{full_rss:.1f} MiB at {args.images} images"
            )


if __name__ == "__main__":
    main()
