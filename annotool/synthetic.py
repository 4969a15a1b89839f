"""Synthetic labelme datasets: cluttered scenes of simple objects with exact annotations.

Each image shows one to five objects of three classes that differ in shape, colour and
texture, on a noisy background strewn with faint blobs and lines that are not objects:

=========  =========================  ===========  ==================================
class      geometry (labelme shape)   colour       texture
=========  =========================  ===========  ==================================
disc       circle (centre, rim)       warm (red)   smooth, lighter towards the centre
square     rotated square (polygon)   cool (blue)  stripes
triangle   triangle (polygon)         green        speckled with dark dots
=========  =========================  ===========  ==================================

Objects are painted in the order their shapes are written, so a later object covers an
earlier one exactly as labelme's converter lets later shapes win. Object pixels are
rasterized from the very points stored in the JSON, with the same Pillow calls labelme
uses, so converting the JSON reproduces the painted objects pixel for pixel. Now and
then a faded, ambiguous object is painted and annotated as ``__ignore__``.

The module needs only numpy and Pillow. Every image draws from its own generator seeded
with ``(seed, index)``: the same arguments always give the same bytes, and asking for more
images leaves the earlier ones unchanged.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from annotool.fileio import atomic_write_bytes, atomic_write_text
from annotool.labels import BACKGROUND_LABEL, IGNORE_LABEL
from annotool.voc import jpeg_bytes

CLASS_NAMES = ("disc", "square", "triangle")
"""The object classes, in class-id order after ``_background_``."""
LABELME_VERSION = "5.5.0"
JPEG_QUALITY = 90
MIN_SIDE = 160
MAX_SIDE = 320
MAX_OBJECTS = 5
IGNORE_PROBABILITY = 0.15
"""Chance that an image holds one faded object annotated as ``__ignore__``."""
OVERLAP_PROBABILITY = 0.35
"""Chance that an object is placed so that it partly covers an earlier one."""

Point = tuple[float, float]
FloatImage = NDArray[np.float32]
Texture = Callable[[np.random.Generator, int, int, "SceneShape"], FloatImage]


@dataclass(frozen=True)
class SceneShape:
    """One annotated region: a labelme shape and the geometry it was drawn from.

    ``points`` are exactly the coordinates written to the JSON (rounded to 1/100 px).
    """

    label: str
    shape_type: str
    points: tuple[Point, ...]
    center: Point
    radius: float

    def to_labelme(self) -> dict[str, object]:
        return {
            "label": self.label,
            "points": [list(point) for point in self.points],
            "group_id": None,
            "description": "",
            "shape_type": self.shape_type,
            "flags": {},
        }


def labels_text() -> str:
    """The ``labels.txt`` contents for the synthetic classes."""
    return "\n".join((IGNORE_LABEL, BACKGROUND_LABEL, *CLASS_NAMES)) + "\n"


def make_labelme_dataset(
    out_dir: Path,
    num_images: int,
    seed: int = 0,
    size: tuple[int, int] | None = None,
    prefix: str = "shapes",
) -> Path:
    """Write ``num_images`` synthetic images with their labelme JSON, and ``labels.txt``.

    Files are ``<prefix>_<index:04d>.jpg`` (JPEG quality 90) and ``.json`` next to it
    (``imageData`` null, ``imagePath`` the JPEG's name). ``size`` is ``(width, height)``
    for every image; by default each side is drawn between 160 and 320 pixels. Existing
    files of the same names are replaced; other files in ``out_dir`` are left alone.
    Returns ``out_dir``.
    """
    if num_images < 0:
        raise ValueError(f"num_images must be 0 or more, got {num_images}")
    if size is not None and min(size) < MIN_SIDE // 2:
        raise ValueError(f"size must be at least {MIN_SIDE // 2} pixels a side, got {size}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for index in range(num_images):
        stem = f"{prefix}_{index:04d}"
        image, shapes = make_scene(seed, index, size)
        atomic_write_bytes(out_dir / f"{stem}.jpg", jpeg_bytes(image, JPEG_QUALITY))
        atomic_write_text(out_dir / f"{stem}.json", labelme_json(shapes, f"{stem}.jpg", image))
    atomic_write_text(out_dir / "labels.txt", labels_text())
    return out_dir


def make_scene(
    seed: int, index: int, size: tuple[int, int] | None = None
) -> tuple[NDArray[np.uint8], list[SceneShape]]:
    """Image ``index`` of the dataset made with ``seed``: ``(H, W, 3)`` uint8 RGB, its shapes.

    The shapes are in painting order (later ones cover earlier ones).
    """
    rng = np.random.default_rng([seed, index])
    if size is None:
        width, height = (int(side) for side in rng.integers(MIN_SIDE, MAX_SIDE + 1, size=2))
    else:
        width, height = size
    canvas = _background(rng, width, height)
    shapes: list[SceneShape] = []
    if rng.random() < IGNORE_PROBABILITY:
        faded = _place_object(rng, str(rng.choice(CLASS_NAMES)), width, height, shapes)
        alpha = float(rng.uniform(0.3, 0.45))
        _paint(canvas, faded, _TEXTURES[faded.label](rng, width, height, faded), alpha)
        shapes.append(_relabelled(faded, IGNORE_LABEL))
    for _ in range(int(rng.integers(1, MAX_OBJECTS + 1))):
        shape = _place_object(rng, str(rng.choice(CLASS_NAMES)), width, height, shapes)
        _paint(canvas, shape, _TEXTURES[shape.label](rng, width, height, shape), 1.0)
        shapes.append(shape)
    canvas += rng.normal(0.0, 4.0, size=canvas.shape).astype(np.float32)
    image = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return image, shapes


def shape_mask(shape: SceneShape, height: int, width: int) -> NDArray[np.bool_]:
    """The ``(H, W)`` pixels of ``shape`` as labelme rasterizes it (circle or polygon)."""
    if shape.shape_type == "circle":
        (cx, cy), (px, py) = shape.points
        radius = math.sqrt((cx - px) ** 2 + (cy - py) ** 2)
        return _ellipse_mask(width, height, [cx - radius, cy - radius, cx + radius, cy + radius])
    return _polygon_mask(width, height, list(shape.points))


def labelme_json(shapes: list[SceneShape], image_name: str, image: NDArray[np.uint8]) -> str:
    """The labelme JSON document for an ``(H, W, 3)`` image stored next to it as ``image_name``."""
    document = {
        "version": LABELME_VERSION,
        "flags": {},
        "shapes": [shape.to_labelme() for shape in shapes],
        "imagePath": image_name,
        "imageData": None,
        "imageHeight": int(image.shape[0]),
        "imageWidth": int(image.shape[1]),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _background(rng: np.random.Generator, width: int, height: int) -> FloatImage:
    """A muted, unevenly lit background with faint blobs and lines that are not objects."""
    base = rng.uniform(70, 180) + rng.uniform(-10, 10, size=3)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    slope = rng.uniform(-20, 20, size=2) / np.float32(max(width, height))
    lighting = (xs - width / 2) * slope[0] + (ys - height / 2) * slope[1]
    canvas = (base[None, None, :] + lighting[..., None]).astype(np.float32)
    canvas += rng.normal(0.0, 6.0, size=canvas.shape).astype(np.float32)
    for _ in range(int(rng.integers(3, 11))):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        rx, ry = rng.uniform(5, width / 4), rng.uniform(5, height / 4)
        blob = _ellipse_mask(width, height, [cx - rx, cy - ry, cx + rx, cy + ry])
        _blend(canvas, blob, rng.uniform(0, 255, 3), rng.uniform(0.08, 0.2))
    for _ in range(int(rng.integers(2, 7))):
        ends = rng.uniform(0, 1, size=4) * (width, height, width, height)
        line = _line_mask(width, height, [float(value) for value in ends], int(rng.integers(1, 5)))
        _blend(canvas, line, rng.uniform(0, 255, 3), rng.uniform(0.15, 0.3))
    return canvas


def _ellipse_mask(width: int, height: int, box: list[float]) -> NDArray[np.bool_]:
    canvas = Image.new("L", (width, height), 0)
    ImageDraw.Draw(canvas).ellipse(box, outline=1, fill=1)
    return np.asarray(canvas, dtype=bool)


def _polygon_mask(width: int, height: int, points: list[Point]) -> NDArray[np.bool_]:
    canvas = Image.new("L", (width, height), 0)
    ImageDraw.Draw(canvas).polygon(points, outline=1, fill=1)
    return np.asarray(canvas, dtype=bool)


def _line_mask(width: int, height: int, ends: list[float], line_width: int) -> NDArray[np.bool_]:
    canvas = Image.new("L", (width, height), 0)
    ImageDraw.Draw(canvas).line(ends, fill=1, width=line_width)
    return np.asarray(canvas, dtype=bool)


def _blend(
    canvas: FloatImage, mask: NDArray[np.bool_], colour: NDArray[np.float64], alpha: float
) -> None:
    canvas[mask] = (1 - alpha) * canvas[mask] + alpha * colour.astype(np.float32)


def _place_object(
    rng: np.random.Generator, label: str, width: int, height: int, earlier: list[SceneShape]
) -> SceneShape:
    """A new object of class ``label`` lying inside the image, sometimes over an earlier one."""
    short_side = min(width, height)
    radius = float(rng.uniform(0.08, 0.2) * short_side)
    if earlier and rng.random() < OVERLAP_PROBABILITY:
        neighbour = earlier[int(rng.integers(len(earlier)))]
        angle = rng.uniform(0, 2 * math.pi)
        distance = rng.uniform(0.5, 1.0) * (radius + neighbour.radius)
        cx = neighbour.center[0] + distance * math.cos(angle)
        cy = neighbour.center[1] + distance * math.sin(angle)
    else:
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
    center = (
        _round(min(max(cx, radius + 1), width - radius - 1)),
        _round(min(max(cy, radius + 1), height - radius - 1)),
    )
    return _GEOMETRIES[label](rng, label, center, _round(radius))


def _disc(rng: np.random.Generator, label: str, center: Point, radius: float) -> SceneShape:
    rim = (_round(center[0] + radius), center[1])
    return SceneShape(label, "circle", (center, rim), center, radius)


def _square(rng: np.random.Generator, label: str, center: Point, radius: float) -> SceneShape:
    # ``radius`` is the half-diagonal, so the square stays inside the placement circle.
    start = rng.uniform(0, math.pi / 2)
    angles = [start + quarter * math.pi / 2 for quarter in range(4)]
    return SceneShape(label, "polygon", _polygon(center, radius, angles), center, radius)


def _triangle(rng: np.random.Generator, label: str, center: Point, radius: float) -> SceneShape:
    start = rng.uniform(0, 2 * math.pi)
    angles = [start + k * 2 * math.pi / 3 + rng.uniform(-0.25, 0.25) for k in range(3)]
    return SceneShape(label, "polygon", _polygon(center, radius, angles), center, radius)


def _polygon(center: Point, radius: float, angles: list[float]) -> tuple[Point, ...]:
    return tuple(
        (_round(center[0] + radius * math.cos(angle)), _round(center[1] + radius * math.sin(angle)))
        for angle in angles
    )


def _relabelled(shape: SceneShape, label: str) -> SceneShape:
    return SceneShape(label, shape.shape_type, shape.points, shape.center, shape.radius)


def _round(value: float) -> float:
    return round(float(value), 2)


def _smooth_warm(
    rng: np.random.Generator, width: int, height: int, shape: SceneShape
) -> FloatImage:
    """A red-orange fill, lightest at the centre and darker towards the rim."""
    colour = np.array([rng.uniform(200, 245), rng.uniform(60, 140), rng.uniform(20, 70)])
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    distance = np.hypot(xs - shape.center[0], ys - shape.center[1]) / np.float32(shape.radius)
    shading = 1.08 - 0.2 * np.clip(distance, 0, 1)
    return (shading[..., None] * colour[None, None, :]).astype(np.float32)


def _striped_cool(
    rng: np.random.Generator, width: int, height: int, shape: SceneShape
) -> FloatImage:
    """A blue fill crossed by straight stripes at a random angle."""
    colour = np.array([rng.uniform(30, 80), rng.uniform(90, 160), rng.uniform(180, 240)])
    angle, period = rng.uniform(0, math.pi), rng.uniform(5, 9)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = (xs * math.cos(angle) + ys * math.sin(angle)) * np.float32(2 * math.pi / period)
    stripes = 1 + 0.22 * np.sign(np.sin(phase))
    return (stripes[..., None] * colour[None, None, :]).astype(np.float32)


def _dotted_green(
    rng: np.random.Generator, width: int, height: int, shape: SceneShape
) -> FloatImage:
    """A green fill with grainy noise and scattered dark dots."""
    colour = np.array([rng.uniform(40, 100), rng.uniform(150, 210), rng.uniform(40, 100)])
    grain = 1 + rng.normal(0, 0.1, size=(height, width))
    dots = np.where(rng.random((height, width)) < 0.06, 0.55, 1.0)
    return ((grain * dots)[..., None] * colour[None, None, :]).astype(np.float32)


def _paint(canvas: FloatImage, shape: SceneShape, texture: FloatImage, alpha: float) -> None:
    height, width = canvas.shape[:2]
    mask = shape_mask(shape, height, width)
    canvas[mask] = (1 - alpha) * canvas[mask] + alpha * texture[mask]


_GEOMETRIES: dict[str, Callable[[np.random.Generator, str, Point, float], SceneShape]] = {
    "disc": _disc,
    "square": _square,
    "triangle": _triangle,
}
_TEXTURES: dict[str, Texture] = {
    "disc": _smooth_warm,
    "square": _striped_cool,
    "triangle": _dotted_green,
}
