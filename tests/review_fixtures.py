"""A tiny labelme set to review, and options that train its fold models in seconds (not a
test module itself)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

from PIL import Image, ImageEnhance

from annotool.review.run import ReviewOptions
from annotool.synthetic import make_labelme_dataset

PHOTOS = 10
COPY_STEM = "shapes_copy"
"""A brighter, re-compressed copy of shapes_0000, annotated alike."""
INVALID_STEM = "shapes_invalid"


def tiny_options(**changes: object) -> ReviewOptions:
    options = {
        "time_budget": None,
        "epochs": 1,
        "image_size": 48,
        "width": 4,
        "crop_size": 32,
        "batch_size": 2,
        "min_epoch_steps": 1,
        "device": "cpu",
    }
    options.update(changes)
    return ReviewOptions(**options)  # type: ignore[arg-type]


def make_review_inputs(folder: Path) -> Path:
    """``PHOTOS`` synthetic photos, a near copy of the first, and one invalid file."""
    make_labelme_dataset(folder, PHOTOS, seed=3, size=(96, 80))
    original = Image.open(folder / "shapes_0000.jpg")
    brighter = ImageEnhance.Brightness(original).enhance(1.2)
    buffer = io.BytesIO()
    brighter.save(buffer, format="JPEG", quality=60)
    (folder / f"{COPY_STEM}.jpg").write_bytes(buffer.getvalue())
    document = json.loads((folder / "shapes_0000.json").read_text())
    document["imagePath"] = f"{COPY_STEM}.jpg"
    (folder / f"{COPY_STEM}.json").write_text(json.dumps(document))
    shutil.copy(folder / "shapes_0001.jpg", folder / f"{INVALID_STEM}.jpg")
    invalid = json.loads((folder / "shapes_0001.json").read_text())
    invalid["imagePath"] = f"{INVALID_STEM}.jpg"
    invalid["shapes"][0]["label"] = "unicorn"
    (folder / f"{INVALID_STEM}.json").write_text(json.dumps(invalid))
    return folder
