"""``index.html``: the review as a static page, worst finding first.

The page is rendered from ``templates/index.html.j2`` (Jinja2, autoescaped); its styles
and script are inline and its pictures are files beside it (``crops/``: one per finding,
``photos/``: the photos of duplicate pairs), so it opens from disk with no server and no
network. Each crop shows the photo around the finding with the annotation's outline in
magenta and the model's region filled in cyan, the two colours no class map uses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from annotool.fileio import write_staged
from annotool.images import read_rgb
from annotool.labelme import Annotation
from annotool.labels import LabelSet
from annotool.masks import read_label_png
from annotool.polygons import BACKGROUND_ID
from annotool.rasterize import instance_ids, rasterize, shape_patches
from annotool.review.duplicates import DuplicatePair
from annotool.review.findings import BOUNDARY, KINDS, MISSING, SPURIOUS, WRONG_LABEL, Finding
from annotool.voc import VocLayout, jpeg_bytes

PREDICTED_DIR = "predicted"
"""Where the review keeps each photo's predicted class mask while it runs."""
CROPS_DIR = "crops"
PHOTOS_DIR = "photos"
CROP_SIDE = 320
"""Long side of a finding's picture, in page pixels."""
PHOTO_SIDE = 360
"""Long side of a duplicate pair's photos."""
CONTEXT = 0.6
"""A crop shows this share of the finding's size around it on every side."""
MIN_CROP = 64
ANNOTATION_COLOUR = np.array((255, 0, 200), dtype=np.float32)
MODEL_COLOUR = np.array((0, 220, 255), dtype=np.float32)
MODEL_ALPHA = 0.4
KIND_TITLES = {
    WRONG_LABEL: "wrong label",
    SPURIOUS: "spurious shape",
    MISSING: "missing object",
    BOUNDARY: "boundary",
}


def write_page(
    staging: Path,
    layout: VocLayout,
    findings: Sequence[Finding],
    duplicates: Sequence[DuplicatePair],
    annotations: Mapping[str, Annotation],
    files: Mapping[str, str],
    labels: LabelSet,
    fold_mious: Sequence[float],
) -> None:
    """Write ``index.html``, ``crops/`` and ``photos/`` into ``staging``."""
    (staging / CROPS_DIR).mkdir()
    (staging / PHOTOS_DIR).mkdir()
    predicted_dir = staging / ".work" / PREDICTED_DIR
    cards = []
    for rank, finding in enumerate(findings, start=1):
        picture = f"{CROPS_DIR}/{rank:04d}.jpg"
        photo = read_rgb(layout.image_path(finding.stem), oriented=False)
        predicted = read_label_png(predicted_dir / f"{finding.stem}.png")
        annotated = _shape_pixels(annotations[finding.stem], finding.shape, labels, photo.shape[:2])
        model = _model_pixels(finding, predicted, labels)
        write_staged(
            staging / picture,
            jpeg_bytes(finding_picture(photo, finding.bbox, annotated, model), 88),
        )
        cards.append(_card(rank, finding, picture, files))
    pairs = []
    for pair in duplicates:
        for stem in pair.stems:
            target = staging / PHOTOS_DIR / f"{stem}.jpg"
            if not target.exists():
                photo = read_rgb(layout.image_path(stem), oriented=False)
                write_staged(target, jpeg_bytes(_fit(photo, PHOTO_SIDE), 85))
        pairs.append(
            {
                "photos": [
                    {"file": files[stem], "picture": f"{PHOTOS_DIR}/{stem}.jpg"}
                    for stem in pair.stems
                ],
                "similarity": pair.similarity,
                "leak": pair.leak,
            }
        )
    counts = Counter(finding.kind for finding in findings)
    classes = sorted(
        {name for finding in findings for name in (finding.label, finding.suggested_label) if name}
    )
    html = render_page(
        {
            "cards": cards,
            "pairs": pairs,
            "kinds": [
                {"name": kind, "title": KIND_TITLES[kind], "count": counts[kind]} for kind in KINDS
            ],
            "classes": classes,
            "photos": len(files),
            "fold_mious": [f"{value:.2f}" for value in fold_mious],
            "leaks": sum(1 for pair in duplicates if pair.leak),
        }
    )
    write_staged(staging / "index.html", html.encode("utf-8"))


def render_page(context: Mapping[str, Any]) -> str:
    """``templates/index.html.j2`` rendered with ``context``."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("annotool.review", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    return environment.get_template("index.html.j2").render(context)


def _card(rank: int, finding: Finding, picture: str, files: Mapping[str, str]) -> dict[str, Any]:
    return {
        "rank": rank,
        "picture": picture,
        "kind": finding.kind,
        "kind_title": KIND_TITLES[finding.kind],
        "label": finding.label,
        "suggested_label": finding.suggested_label,
        "score": finding.score,
        "file": files[finding.stem],
        "shape": finding.shape,
        "bbox": list(finding.bbox),
        "iou": None if finding.iou is None else round(finding.iou, 2),
        "classes": [name for name in (finding.label, finding.suggested_label) if name],
    }


def _shape_pixels(
    annotation: Annotation, shape_index: int | None, labels: LabelSet, size: tuple[int, int]
) -> NDArray[np.bool_] | None:
    """``(H, W)`` the visible pixels of the shape numbered ``shape_index`` in the file."""
    if shape_index is None:
        return None
    height, width = size
    shapes = annotation.shapes
    position = next(i for i, shape in enumerate(shapes) if shape.index == shape_index)
    _class_label, object_label = rasterize(shapes, height, width, labels)
    patch = shape_patches([shapes[position]], height, width)[0]
    pixels = np.zeros((height, width), dtype=bool)
    if patch is not None:
        (top, bottom, left, right), painted = patch
        pixels[top:bottom, left:right] = painted
    return pixels & (object_label == instance_ids(shapes)[position])


def _model_pixels(
    finding: Finding, predicted: NDArray[np.uint8], labels: LabelSet
) -> NDArray[np.bool_]:
    """``(H, W)`` what the model sees that bears on the finding: the suggested class, or
    for a spurious shape any object at all."""
    if finding.kind == SPURIOUS or finding.suggested_label is None:
        return predicted != BACKGROUND_ID
    return predicted == labels.class_id(finding.suggested_label)


def finding_picture(
    photo: NDArray[np.uint8],
    bbox: tuple[int, int, int, int],
    annotated: NDArray[np.bool_] | None,
    model: NDArray[np.bool_],
) -> NDArray[np.uint8]:
    """``(h, w, 3)`` the part of ``photo`` around ``bbox`` (x0, y0, x1, y1), scaled to
    :data:`CROP_SIDE`, the model's pixels tinted and the annotation's outlined."""
    height, width = photo.shape[:2]
    x0, y0, x1, y1 = bbox
    pad_x = max(CONTEXT * (x1 - x0), (MIN_CROP - (x1 - x0)) / 2)
    pad_y = max(CONTEXT * (y1 - y0), (MIN_CROP - (y1 - y0)) / 2)
    left, right = max(0, int(x0 - pad_x)), min(width, int(np.ceil(x1 + pad_x)))
    top, bottom = max(0, int(y0 - pad_y)), min(height, int(np.ceil(y1 + pad_y)))
    scale = CROP_SIDE / max(bottom - top, right - left)
    size = (max(1, round((right - left) * scale)), max(1, round((bottom - top) * scale)))
    crop = np.asarray(
        Image.fromarray(photo[top:bottom, left:right]).resize(size, Image.Resampling.BILINEAR),
        dtype=np.float32,
    )
    tinted = _resized_mask(model[top:bottom, left:right], size)
    crop[tinted] = (1 - MODEL_ALPHA) * crop[tinted] + MODEL_ALPHA * MODEL_COLOUR
    crop[_edge(tinted, 1)] = MODEL_COLOUR
    if annotated is not None:
        crop[_edge(_resized_mask(annotated[top:bottom, left:right], size), 3)] = ANNOTATION_COLOUR
    return crop.round().astype(np.uint8)


def _resized_mask(mask: NDArray[np.bool_], size: tuple[int, int]) -> NDArray[np.bool_]:
    image = Image.fromarray(mask.astype(np.uint8) * 255)
    return np.asarray(image.resize(size, Image.Resampling.NEAREST)) > 127


def _edge(mask: NDArray[np.bool_], thickness: int) -> NDArray[np.bool_]:
    """The pixels of ``mask`` within ``thickness`` pixels of its outside."""
    inner = mask.copy()
    for _ in range(thickness):
        padded = np.pad(inner, 1, mode="edge")
        inner = inner & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~inner


def _fit(photo: NDArray[np.uint8], side: int) -> NDArray[np.uint8]:
    height, width = photo.shape[:2]
    scale = min(1.0, side / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(photo).resize(size, Image.Resampling.BILINEAR))
