"""Labelme road frames: large photos with many polygons of many classes, for the convert
benchmarks.

Road scenes annotated in labelme (dash-cam frames, Cityscapes-like sets) are the other
half of what people convert besides VOC-like photos: 1920x1080 JPEGs, 20-50 polygons per
frame over some twenty classes (sky, buildings with ragged rooflines, vegetation, the
road and its sidewalks, cars near and far, people, poles, signs), later shapes drawn over
earlier ones as labelme does. The pixels are painted from the very polygons written to
the JSON (a colour per class with photo-like noise), so the frame compresses like a photo.

    make_road_frames(out_dir, count=6, seed=0)  # writes frame_000.jpg/.json ... and labels.txt
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from annotool.voc import jpeg_bytes

WIDTH, HEIGHT = 1920, 1080
ROAD_CLASSES = (
    "road",
    "sidewalk",
    "building",
    "wall",
    "fence",
    "pole",
    "traffic light",
    "traffic sign",
    "vegetation",
    "terrain",
    "sky",
    "person",
    "rider",
    "car",
    "truck",
    "bus",
    "bicycle",
    "motorbike",
)
Point = tuple[float, float]


def _colour(rng: np.random.Generator, label: str) -> tuple[int, int, int]:
    base = (sum(map(ord, label)) * 2654435761) & 0xFFFFFF
    rgb = np.array([(base >> 16) & 255, (base >> 8) & 255, base & 255], dtype=float)
    return tuple(int(v) for v in np.clip(rgb * rng.uniform(0.7, 1.1), 0, 255))


def _blob(rng: np.random.Generator, cx: float, cy: float, rx: float, ry: float, n: int) -> list:
    angles = np.sort(rng.uniform(0, 2 * math.pi, n))
    radii = rng.uniform(0.75, 1.0, n)
    return [
        (cx + rx * r * math.cos(a), cy + ry * r * math.sin(a))
        for a, r in zip(angles, radii, strict=True)
    ]


def _car(rng: np.random.Generator, cx: float, bottom: float, width: float) -> list[Point]:
    """A car's outline seen from behind or the side: body, cabin, wheels, 20-40 points."""
    height = width * rng.uniform(0.45, 0.7)
    n = int(rng.integers(20, 41))
    points = []
    for i in range(n):
        t = i / n
        angle = 2 * math.pi * t
        x = cx + width / 2 * math.cos(angle)
        y = bottom - height / 2 + height / 2 * math.sin(angle)
        if y < bottom - height * 0.55:  # the cabin is narrower than the body
            x = cx + (x - cx) * 0.7
        points.append((x + rng.normal(0, width * 0.01), y + rng.normal(0, width * 0.01)))
    return points


def road_scene(rng: np.random.Generator) -> list[tuple[str, list[Point]]]:
    """The shapes of one frame, in drawing order (later shapes cover earlier ones)."""
    horizon = HEIGHT * rng.uniform(0.38, 0.5)
    vanish = WIDTH * rng.uniform(0.4, 0.6)
    shapes: list[tuple[str, list[Point]]] = []
    skyline = [(0.0, 0.0), (WIDTH, 0.0)]
    level = horizon * 0.5
    for x in np.linspace(WIDTH, 0, int(rng.integers(40, 80))):
        level = float(np.clip(level + rng.normal(0, horizon * 0.08), horizon * 0.2, horizon * 0.8))
        skyline.append((float(x), level))
    shapes.append(("sky", skyline))
    for _ in range(int(rng.integers(2, 6))):
        left = rng.uniform(0, WIDTH * 0.8)
        right = left + rng.uniform(WIDTH * 0.1, WIDTH * 0.35)
        roof = [
            (float(x), float(horizon * rng.uniform(0.15, 0.6)))
            for x in np.linspace(left, right, 12)
        ]
        shapes.append(("building", [(left, horizon + 20), *roof, (right, horizon + 20)]))
    for _ in range(int(rng.integers(1, 5))):
        cx, cy = rng.uniform(0, WIDTH), horizon * rng.uniform(0.6, 1.0)
        shapes.append(
            ("vegetation", _blob(rng, cx, cy, rng.uniform(80, 300), rng.uniform(60, 200), 50))
        )
    shapes.append(("terrain", [(0, horizon), (WIDTH * 0.25, horizon), (0, HEIGHT * 0.75)]))
    road = [
        (vanish - 30, horizon),
        (vanish + 30, horizon),
        (WIDTH * 0.95, HEIGHT),
        (WIDTH * 0.05, HEIGHT),
    ]
    shapes.append(("road", road))
    shapes.append(
        (
            "sidewalk",
            [(vanish - 30, horizon), (WIDTH * 0.05, HEIGHT), (0, HEIGHT), (0, HEIGHT * 0.8)],
        )
    )
    shapes.append(
        (
            "sidewalk",
            [
                (vanish + 30, horizon),
                (WIDTH, HEIGHT * 0.8),
                (WIDTH, HEIGHT),
                (WIDTH * 0.95, HEIGHT),
            ],
        )
    )
    if rng.random() < 0.5:
        top = horizon + rng.uniform(10, 60)
        shapes.append(
            (
                "fence",
                [(WIDTH * 0.7, top), (WIDTH, top - 30), (WIDTH, top + 60), (WIDTH * 0.7, top + 40)],
            )
        )
    if rng.random() < 0.3:
        shapes.append(
            (
                "wall",
                [
                    (0, horizon - 40),
                    (WIDTH * 0.2, horizon - 30),
                    (WIDTH * 0.2, horizon + 30),
                    (0, horizon + 50),
                ],
            )
        )
    for _ in range(int(rng.integers(2, 7))):
        x, width = rng.uniform(0, WIDTH), rng.uniform(6, 18)
        top = horizon * rng.uniform(0.1, 0.7)
        bottom = horizon + rng.uniform(40, 300)
        shapes.append(("pole", [(x, top), (x + width, top), (x + width, bottom), (x, bottom)]))
        if rng.random() < 0.5:
            sign = "traffic sign" if rng.random() < 0.6 else "traffic light"
            size = rng.uniform(20, 60)
            shapes.append((sign, _blob(rng, x + width / 2, top + size, size, size * 1.3, 8)))
    vehicles = ("car",) * 6 + ("truck", "bus", "motorbike", "bicycle")
    for _ in range(int(rng.integers(3, 13))):
        depth = rng.uniform(0.05, 1.0)  # 0 at the horizon, 1 at the bottom of the frame
        bottom = horizon + depth * (HEIGHT - horizon)
        cx = vanish + rng.uniform(-0.9, 0.9) * depth * WIDTH * 0.6
        label = vehicles[int(rng.integers(len(vehicles)))]
        width = (40 + 560 * depth) * (0.4 if label in ("motorbike", "bicycle") else 1.0)
        shapes.append((label, _car(rng, cx, bottom, width)))
        if label in ("motorbike", "bicycle") and rng.random() < 0.7:
            shapes.append(
                ("rider", _blob(rng, cx, bottom - width * 0.9, width * 0.2, width * 0.45, 16))
            )
    for _ in range(int(rng.integers(0, 7))):
        depth = rng.uniform(0.1, 0.8)
        foot = horizon + depth * (HEIGHT - horizon)
        cx = rng.uniform(0, WIDTH)
        tall = 60 + 400 * depth
        shapes.append(("person", _blob(rng, cx, foot - tall / 2, tall * 0.18, tall / 2, 24)))
    return [(label, [(round(x, 2), round(y, 2)) for x, y in points]) for label, points in shapes]


def paint(rng: np.random.Generator, shapes: list[tuple[str, list[Point]]]) -> Image.Image:
    """The frame: each polygon filled with its class's colour, then light blur and noise."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (90, 90, 90))
    draw = ImageDraw.Draw(image)
    for label, points in shapes:
        draw.polygon(points, fill=_colour(rng, label))
    image = image.filter(ImageFilter.GaussianBlur(1.2))
    pixels = np.asarray(image, dtype=np.int16) + rng.normal(0, 4, (HEIGHT, WIDTH, 3)).astype(
        np.int16
    )
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def make_road_frames(out_dir: Path, count: int = 6, seed: int = 0, suffix: str = ".jpg") -> Path:
    """Write ``count`` frames (``frame_NNN.jpg`` or ``.png``, as ``suffix`` says, + ``.json``)
    and ``labels.txt``; return out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        shapes = road_scene(rng)
        stem = f"frame_{index:03d}"
        frame = paint(rng, shapes)
        if suffix == ".png":
            frame.save(out_dir / f"{stem}.png")
        else:
            (out_dir / f"{stem}.jpg").write_bytes(jpeg_bytes(frame))
        document = {
            "version": "5.5.0",
            "flags": {},
            "shapes": [
                {
                    "label": label,
                    "points": [list(p) for p in points],
                    "group_id": None,
                    "description": "",
                    "shape_type": "polygon",
                    "flags": {},
                    "mask": None,
                }
                for label, points in shapes
            ],
            "imagePath": f"{stem}{suffix}",
            "imageData": None,
            "imageHeight": HEIGHT,
            "imageWidth": WIDTH,
        }
        (out_dir / f"{stem}.json").write_text(json.dumps(document), encoding="utf-8")
    labels = ["__ignore__", "_background_", *ROAD_CLASSES]
    (out_dir / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    return out_dir
