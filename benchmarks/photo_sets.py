"""Labelme datasets with the properties of real photo sets, made from real photographs.

Two generators for ``benchmarks/learning.py``, both writing JPEGs with labelme JSON next
to them (polygons; the pixels of each object are painted from the very polygon written
to the JSON, so converting reproduces them exactly) and a ``labels.txt``:

- :func:`make_pet_photos`: few large photos (about 1000x750), each with one animal-like
  object covering 30-80% of the frame, cut out of fur photographed by scikit-image's
  sample images and tinted to other coats, on a collage of other photographs, sometimes
  beside a distractor of the same fur in another shape: colour alone does not solve it.
- :func:`make_board_photos`: many 800x600 desk photos with one to three of four kinds of
  rectangular "boards", each about 5% of the frame, whose colours overlap between kinds
  and which differ by their component layout and proportions, among clutter cut from
  other photographs.

Textures come from ``skimage.data`` (shipped with scikit-image, no download).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter
from skimage import data as photos
from skimage.measure import approximate_polygon, find_contours

from annotool.fileio import atomic_write_bytes, atomic_write_text
from annotool.synthetic import SceneShape, labelme_json
from annotool.voc import jpeg_bytes

Rgb = NDArray[np.uint8]
SCENE_PHOTOS = ("astronaut", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry")
GREY_PHOTOS = ("brick", "grass", "gravel", "camera", "moon", "coins", "clock", "page", "text")
FUR_BOX = (40, 130, 300, 270)
"""Rows and columns (top, left, bottom, right) of ``skimage.data.chelsea`` holding fur only."""
COATS = ((1.0, 1.0, 1.0), (1.15, 0.8, 0.55), (0.55, 0.55, 0.6), (0.3, 0.28, 0.27), (1.3, 1.25, 1.2))
"""Tints of the fur: as photographed, ginger, grey, dark, pale."""


@cache
def _photo(name: str) -> Rgb:
    """A sample photograph as ``(H, W, 3)`` uint8; grey ones get a random-free warm tint."""
    pixels = photos.stereo_motorcycle()[0] if name == "motorcycle" else getattr(photos, name)()
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    return np.ascontiguousarray(pixels[..., :3], dtype=np.uint8)


def _random_crop(rng: np.random.Generator, name: str, width: int, height: int) -> Rgb:
    """A random part of photo ``name``, resized to ``width`` x ``height``, maybe mirrored."""
    source = _photo(name)
    rows, cols = source.shape[:2]
    share = rng.uniform(0.4, 1.0)
    crop_h = max(8, int(rows * share))
    crop_w = max(8, min(cols, int(crop_h * width / height)))
    top = int(rng.integers(0, rows - crop_h + 1))
    left = int(rng.integers(0, cols - crop_w + 1))
    crop = Image.fromarray(source[top : top + crop_h, left : left + crop_w])
    if rng.random() < 0.5:
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return np.asarray(crop.resize((width, height), Image.Resampling.BILINEAR))


def _tinted(pixels: Rgb, tint: tuple[float, float, float], gain: float = 1.0) -> Rgb:
    scaled = pixels.astype(np.float32) * np.asarray(tint, dtype=np.float32) * gain
    return np.clip(scaled, 0, 255).astype(np.uint8)


def _any_photo(rng: np.random.Generator, width: int, height: int) -> Rgb:
    """A crop of any sample photograph; grey ones tinted like paint, wood or paper."""
    names = SCENE_PHOTOS + GREY_PHOTOS + ("motorcycle",)
    name = str(rng.choice(names))
    crop = _random_crop(rng, name, width, height)
    if name in GREY_PHOTOS:
        crop = _tinted(crop, tuple(rng.uniform(0.6, 1.2, size=3)))  # type: ignore[arg-type]
    return crop


def _polygon_mask(points: list[tuple[float, float]], width: int, height: int) -> NDArray[np.bool_]:
    canvas = Image.new("L", (width, height), 0)
    ImageDraw.Draw(canvas).polygon(points, fill=1, outline=1)
    return np.asarray(canvas, dtype=bool)


def _paste(canvas: Rgb, patch: Rgb, mask: NDArray[np.bool_]) -> None:
    canvas[mask] = patch[mask]


def _collage(rng: np.random.Generator, width: int, height: int, pieces: int) -> Rgb:
    """A background of one photo with ``pieces`` blob- or box-shaped parts of others on it."""
    canvas = _any_photo(rng, width, height).copy()
    for _ in range(pieces):
        piece_w = int(width * rng.uniform(0.15, 0.5))
        piece_h = int(height * rng.uniform(0.15, 0.5))
        left = int(rng.integers(-piece_w // 3, width - piece_w // 2))
        top = int(rng.integers(-piece_h // 3, height - piece_h // 2))
        patch = np.zeros_like(canvas)
        crop = _any_photo(rng, piece_w, piece_h)
        box = (max(0, left), max(0, top), min(width, left + piece_w), min(height, top + piece_h))
        patch[box[1] : box[3], box[0] : box[2]] = crop[
            box[1] - top : box[3] - top, box[0] - left : box[2] - left
        ]
        shape = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(shape)
        if rng.random() < 0.5:
            draw.ellipse(box, fill=1)
        else:
            draw.rectangle(box, fill=1)
        _paste(canvas, patch, np.asarray(shape, dtype=bool))
    return canvas


def _lighting(rng: np.random.Generator, image: Rgb) -> Rgb:
    """Uneven light, a little blur and sensor noise, as a phone camera gives."""
    height, width = image.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    ramp = (xs / width - 0.5) * math.cos(angle) + (ys / height - 0.5) * math.sin(angle)
    light = 1.0 + rng.uniform(0.1, 0.4) * ramp + rng.uniform(-0.15, 0.1)
    pixels = Image.fromarray(image).filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    values = np.asarray(pixels, dtype=np.float32) * light[..., None]
    values += rng.normal(0, 3.0, size=values.shape)
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _fur(rng: np.random.Generator, width: int, height: int) -> Rgb:
    """Cat fur from ``chelsea``, rotated, rescaled and tinted to a random coat."""
    top, left, bottom, right = FUR_BOX
    fur = Image.fromarray(_photo("chelsea")[top:bottom, left:right])
    fur = fur.rotate(float(rng.uniform(-30, 30)), resample=Image.Resampling.BILINEAR)
    fur = fur.crop((30, 30, fur.width - 30, fur.height - 30))
    tiles_x = max(1, round(width / (fur.width * rng.uniform(1.5, 3.0))))
    tiles_y = max(1, round(height / (fur.height * rng.uniform(1.5, 3.0))))
    tile = np.asarray(fur.resize((math.ceil(width / tiles_x), math.ceil(height / tiles_y))))
    mirrored = np.concatenate([tile, tile[:, ::-1]], axis=1)
    mirrored = np.concatenate([mirrored, mirrored[::-1]], axis=0)
    reps = (math.ceil(height / mirrored.shape[0]), math.ceil(width / mirrored.shape[1]), 1)
    texture = np.tile(mirrored, reps)[:height, :width]
    coat = COATS[int(rng.integers(len(COATS)))]
    return _tinted(texture, coat, rng.uniform(0.8, 1.15))


def _animal_outline(
    rng: np.random.Generator, width: int, height: int, scale: float
) -> list[tuple[float, float]]:
    """A cat-like silhouette (body, head, ears, tail, legs) as one polygon in pixels."""
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    cx = width * rng.uniform(0.35, 0.65)
    cy = height * rng.uniform(0.4, 0.65)
    body_w, body_h = scale * rng.uniform(0.55, 0.8), scale * rng.uniform(0.3, 0.45)
    draw.ellipse((cx - body_w, cy - body_h, cx + body_w, cy + body_h), fill=1)
    side = 1 if rng.random() < 0.5 else -1
    head_r = scale * rng.uniform(0.2, 0.28)
    hx = cx + side * body_w * rng.uniform(0.6, 0.95)
    hy = cy - body_h * rng.uniform(0.5, 1.1)
    draw.ellipse((hx - head_r, hy - head_r, hx + head_r, hy + head_r), fill=1)
    for ear in (-1, 1):
        base = hx + ear * head_r * 0.55
        draw.polygon(
            [
                (base - head_r * 0.35, hy - head_r * 0.6),
                (base + head_r * 0.35, hy - head_r * 0.6),
                (base + ear * head_r * 0.15, hy - head_r * rng.uniform(1.35, 1.7)),
            ],
            fill=1,
        )
    tail_x = cx - side * body_w * 0.9
    tail_end = (tail_x - side * scale * rng.uniform(0.2, 0.5), cy - scale * rng.uniform(-0.2, 0.6))
    draw.line([(tail_x, cy), tail_end], fill=1, width=max(3, int(scale * 0.09)))
    for leg in range(int(rng.integers(0, 5))):
        lx = cx + (leg - 1.5) * body_w * 0.45
        draw.rectangle((lx - scale * 0.05, cy, lx + scale * 0.05, cy + body_h * 1.6), fill=1)
    mask = np.asarray(canvas, dtype=bool)
    contour = max(find_contours(np.pad(mask, 1).astype(np.float32), 0.5), key=len) - 1
    simple = approximate_polygon(contour, tolerance=1.0)
    return [(round(float(c), 2), round(float(r), 2)) for r, c in simple[:-1]]


def pet_scene(rng: np.random.Generator, width: int, height: int) -> tuple[Rgb, list[SceneShape]]:
    """One pet photo: collage background, maybe a fur distractor, one animal of 30-80%."""
    canvas = _collage(rng, width, height, int(rng.integers(2, 6)))
    if rng.random() < 0.6:
        box_w, box_h = int(width * rng.uniform(0.2, 0.4)), int(height * rng.uniform(0.2, 0.4))
        left, top = int(rng.integers(0, width - box_w)), int(rng.integers(0, height - box_h))
        shape = Image.new("L", (width, height), 0)
        ImageDraw.Draw(shape).rounded_rectangle((left, top, left + box_w, top + box_h), 20, 1)
        _paste(canvas, _fur(rng, width, height), np.asarray(shape, dtype=bool))
    target = rng.uniform(0.3, 0.8)
    scale = 0.5 * min(width, height)
    outline: list[tuple[float, float]] = []
    state = rng.bit_generator.state
    for _ in range(4):  # the same silhouette, rescaled until it covers the target share
        rng.bit_generator.state = state
        outline = _animal_outline(rng, width, height, scale)
        share = _polygon_mask(outline, width, height).mean()
        scale *= math.sqrt(target / max(share, 1e-3))
    mask = _polygon_mask(outline, width, height)
    fur = _fur(rng, width, height).astype(np.float32)
    ys, xs = np.nonzero(mask)
    centre_y, centre_x = ys.mean(), xs.mean()
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    distance = np.hypot((rows - centre_y) / height, (cols - centre_x) / width)
    shading = np.clip(1.15 - 1.2 * distance, 0.6, 1.15)[..., None]
    animal = np.clip(fur * shading, 0, 255).astype(np.uint8)
    _paste(canvas, animal, mask)
    shape = SceneShape("cat", "polygon", tuple(outline), (float(centre_x), float(centre_y)), 0.0)
    return _lighting(rng, canvas), [shape]


BOARD_KINDS = ("sensor", "controller", "relay", "display")
BOARD_COLOURS = ((40, 110, 60), (30, 70, 140), (150, 40, 40), (30, 30, 35), (60, 120, 110))
BOARD_ASPECT = {"sensor": 1.0, "controller": 1.9, "relay": 1.4, "display": 1.6}
BOARD_COLOUR_CHOICES = {
    "sensor": (0, 1, 4),
    "controller": (0, 1, 3),
    "relay": (1, 2, 4),
    "display": (0, 2, 3),
}
"""Each kind comes in three of the five board colours: colour alone does not tell kinds apart."""


def _board_patch(rng: np.random.Generator, kind: str, width: int, height: int) -> Rgb:
    """A ``(height, width, 3)`` board of ``kind``: its base colour, grain and components."""
    colour = BOARD_COLOURS[int(rng.choice(BOARD_COLOUR_CHOICES[kind]))]
    grain = _random_crop(rng, "gravel", width, height)[..., :1].astype(np.float32) / 255
    base = np.asarray(colour, dtype=np.float32) * (0.8 + 0.4 * grain) * rng.uniform(0.8, 1.2)
    board = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(board)
    metal = tuple(int(v) for v in rng.integers(170, 230, size=3))
    dark = tuple(int(v) for v in rng.integers(10, 40, size=3))
    unit = min(width, height)
    for x in (0.06, 0.94):  # mounting holes
        for y in (0.08, 0.92):
            r = unit * 0.04
            draw.ellipse((x * width - r, y * height - r, x * width + r, y * height + r), metal)
    if kind == "sensor":  # one round sensor in the middle, a short pin header
        r = unit * rng.uniform(0.2, 0.28)
        draw.ellipse((width / 2 - r, height / 2 - r, width / 2 + r, height / 2 + r), metal)
        draw.ellipse(
            (width / 2 - r / 2, height / 2 - r / 2, width / 2 + r / 2, height / 2 + r / 2), dark
        )
        for pin in range(4):
            x = width * (0.3 + 0.13 * pin)
            draw.rectangle((x, height * 0.85, x + unit * 0.05, height * 0.95), metal)
    elif kind == "controller":  # a big square chip and pin rows along both long edges
        side = unit * 0.45
        draw.rectangle(
            (width * 0.4, height / 2 - side / 2, width * 0.4 + side, height / 2 + side / 2), dark
        )
        for pin in range(int(width / (unit * 0.08))):
            x = unit * 0.1 + pin * unit * 0.08
            for y in (0.04, 0.9):
                draw.rectangle((x, height * y, x + unit * 0.04, height * y + unit * 0.05), metal)
    elif kind == "relay":  # two big blue blocks and screw terminals
        block = (40, 80, 200) if rng.random() < 0.7 else (230, 230, 230)
        for left in (0.12, 0.55):
            draw.rectangle(
                (width * left, height * 0.15, width * (left + 0.33), height * 0.7), block
            )
        for screw in range(4):
            x = width * (0.12 + 0.2 * screw)
            draw.rectangle((x, height * 0.78, x + width * 0.12, height * 0.95), (20, 120, 40))
            draw.ellipse((x + width * 0.03, height * 0.8, x + width * 0.09, height * 0.92), metal)
    else:  # display: a large glass rectangle with a frame, traces below
        draw.rectangle((width * 0.08, height * 0.1, width * 0.92, height * 0.72), (200, 200, 200))
        glass = tuple(int(v) for v in rng.integers(20, 90, size=3))
        draw.rectangle((width * 0.12, height * 0.15, width * 0.88, height * 0.67), glass)
        for trace in range(6):
            y = height * (0.76 + 0.03 * trace)
            draw.line((width * 0.1, y, width * 0.9, y), fill=metal, width=1)
    return np.asarray(board)


def _rotated_box(
    centre: tuple[float, float], width: float, height: float, angle: float
) -> list[tuple[float, float]]:
    cos, sin = math.cos(angle), math.sin(angle)
    corners = [
        (-width / 2, -height / 2),
        (width / 2, -height / 2),
        (width / 2, height / 2),
        (-width / 2, height / 2),
    ]
    return [
        (round(centre[0] + x * cos - y * sin, 2), round(centre[1] + x * sin + y * cos, 2))
        for x, y in corners
    ]


def _desk(rng: np.random.Generator, width: int, height: int) -> Rgb:
    """A desk: one stretched, tinted grey texture, with papers, photos and cables on it."""
    name = str(rng.choice(("brick", "grass", "gravel", "camera", "moon")))
    wood = _tinted(_random_crop(rng, name, width, height), tuple(rng.uniform(0.5, 1.1, size=3)))
    desk = np.asarray(Image.fromarray(wood).filter(ImageFilter.GaussianBlur(3))).copy()
    clutter = _collage(rng, width, height, 0)
    for _ in range(int(rng.integers(2, 6))):
        piece_w, piece_h = (int(v) for v in rng.integers(60, 260, size=2))
        left, top = int(rng.integers(0, width - piece_w)), int(rng.integers(0, height - piece_h))
        clutter = _any_photo(rng, piece_w, piece_h)
        desk[top : top + piece_h, left : left + piece_w] = clutter
    cable = Image.fromarray(desk)
    draw = ImageDraw.Draw(cable)
    for _ in range(int(rng.integers(0, 3))):
        points = [
            tuple(float(v) for v in rng.uniform(0, 1, size=2) * (width, height)) for _ in range(4)
        ]
        colour = tuple(int(v) for v in rng.integers(0, 255, size=3))
        draw.line(points, fill=colour, width=int(rng.integers(4, 10)), joint="curve")
    return np.asarray(cable).copy()


def board_scene(rng: np.random.Generator, width: int, height: int) -> tuple[Rgb, list[SceneShape]]:
    """One desk photo with one to three boards of about 5% of the frame each."""
    canvas = _desk(rng, width, height)
    shapes: list[SceneShape] = []
    occupied = np.zeros((height, width), dtype=bool)
    for _ in range(int(rng.integers(1, 4))):
        kind = str(rng.choice(BOARD_KINDS))
        area = width * height * rng.uniform(0.035, 0.065)
        aspect = BOARD_ASPECT[kind] * rng.uniform(0.9, 1.1)
        board_w, board_h = math.sqrt(area * aspect), math.sqrt(area / aspect)
        for _attempt in range(20):
            centre = (
                rng.uniform(board_w / 2, width - board_w / 2),
                rng.uniform(board_h / 2, height - board_h / 2),
            )
            angle = rng.uniform(-math.pi, math.pi)
            outline = _rotated_box(centre, board_w, board_h, angle)
            mask = _polygon_mask(outline, width, height)
            if not (mask & occupied).any():
                break
        else:
            continue
        patch = Image.fromarray(_board_patch(rng, kind, round(board_w), round(board_h)))
        layer, _ = rotated_layer(canvas, patch, angle, centre)
        _paste(canvas, layer, mask)
        occupied |= mask
        shapes.append(SceneShape(kind, "polygon", tuple(outline), centre, 0.0))
    return _lighting(rng, canvas), shapes


def write_labelme_set(
    out_dir: Path,
    scene: Callable[[np.random.Generator, int, int], tuple[Rgb, list[SceneShape]]],
    sizes: list[tuple[int, int]],
    labels: tuple[str, ...],
    seed: int,
    prefix: str,
) -> Path:
    """Write one JPEG + labelme JSON per ``(width, height)`` in ``sizes``, and ``labels.txt``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for index, (width, height) in enumerate(sizes):
        image, shapes = scene(np.random.default_rng([seed, index]), width, height)
        stem = f"{prefix}_{index:04d}"
        atomic_write_bytes(out_dir / f"{stem}.jpg", jpeg_bytes(image, 90))
        atomic_write_text(out_dir / f"{stem}.json", labelme_json(shapes, f"{stem}.jpg", image))
    atomic_write_text(out_dir / "labels.txt", "\n".join(("__ignore__", "_background_", *labels)))
    return out_dir


def make_pet_photos(out_dir: Path, seed: int, count: int = 8) -> Path:
    """``count`` pet photos of about 1000x750 (long side 900-1050, landscape or portrait)."""
    rng = np.random.default_rng([seed, 1_000_000])
    sizes = []
    for _ in range(count):
        long_side = int(rng.integers(900, 1051))
        short_side = int(long_side * rng.uniform(0.68, 0.8))
        sizes.append((long_side, short_side) if rng.random() < 0.75 else (short_side, long_side))
    return write_labelme_set(out_dir, pet_scene, sizes, ("cat",), seed, "pet")


def make_board_photos(out_dir: Path, seed: int, count: int = 150) -> Path:
    """``count`` desk photos of 800x600 with boards of four kinds."""
    return write_labelme_set(out_dir, board_scene, [(800, 600)] * count, BOARD_KINDS, seed, "desk")


def rotated_layer(
    canvas: NDArray[np.uint8], patch: Image.Image, angle: float, centre: tuple[float, float]
) -> tuple[NDArray[np.uint8], bool]:
    """A black layer the size of the ``(H, W, 3)`` canvas with ``patch`` rotated by ``angle``
    (radians) and centred at ``centre`` (x, y), and whether any of it lies on the canvas."""
    height, width = canvas.shape[:2]
    rotated = patch.rotate(-math.degrees(angle), expand=True, resample=Image.Resampling.BILINEAR)
    layer = np.zeros_like(canvas)
    left = round(centre[0] - rotated.width / 2)
    top = round(centre[1] - rotated.height / 2)
    box = (
        max(0, left),
        max(0, top),
        min(width, left + rotated.width),
        min(height, top + rotated.height),
    )
    if box[0] >= box[2] or box[1] >= box[3]:
        return layer, False
    layer[box[1] : box[3], box[0] : box[2]] = np.asarray(rotated)[
        box[1] - top : box[3] - top, box[0] - left : box[2] - left
    ]
    return layer, True
