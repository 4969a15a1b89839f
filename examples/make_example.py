"""Regenerate the bundled example dataset ``examples/shapes/``.

    python examples/make_example.py [OUT_DIR]

Writes 12 synthetic 240x180 images of discs, squares and triangles with their labelme
JSON and ``labels.txt`` (see :mod:`annotool.synthetic`). The output is the same bytes on
every run, so the committed files can be checked against a fresh run.
"""

from __future__ import annotations

import sys
from pathlib import Path

from annotool.fileio import staged_dir
from annotool.synthetic import make_labelme_dataset

EXAMPLE_DIR = Path(__file__).resolve().parent / "shapes"
EXAMPLE_IMAGES = 12
EXAMPLE_SEED = 7
EXAMPLE_SIZE = (240, 180)


def make_example(out_dir: Path = EXAMPLE_DIR) -> Path:
    """Write the example dataset to ``out_dir``, replacing whatever was there."""
    with staged_dir(out_dir, overwrite=True) as staging:
        make_labelme_dataset(staging, EXAMPLE_IMAGES, seed=EXAMPLE_SEED, size=EXAMPLE_SIZE)
    return out_dir


if __name__ == "__main__":
    out = make_example(Path(sys.argv[1]) if len(sys.argv) > 1 else EXAMPLE_DIR)
    print(f"wrote {EXAMPLE_IMAGES} labelme images to {out}")
