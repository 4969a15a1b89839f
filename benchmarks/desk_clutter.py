"""``clutter``: phone photos of small boards on busy desks, as hard as real ones.

The ``boards`` set of ``benchmarks/photo_sets.py`` scores 0.81 val mIoU in 10 minutes
where real photos of four kinds of boards scored 0.49-0.53: its kinds differ by colour
and size, and nothing else on its desks looks like a board. Here, as in real photos:

- the four kinds share the board colours and the same PCB texture (grain cut from a real
  photograph, copper traces, silkscreen) and differ by layout: ``uno`` a long DIP chip,
  a USB socket and a barrel jack; ``nano`` a narrow board with pin rows on both long
  sides and a small square chip; ``esp`` a metal shield can and a zig-zag antenna;
  ``oled`` a small dark display and one row of four pins;
- the hard negatives are made of the very same parts: keyboards (grids of dark keys),
  multimeters (a display, a dial), breadboards (white, hole grids), loose chips and pin
  headers, cables with plugs, patterned fabric;
- desks of several materials (white laminate, wood, grey fabric, stone), with paper and
  photographs on them, under uneven light, soft shadows, glare spots, blur and noise;
- one to three boards per photo, each 1-5% of the 800x600 frame, at any angle.

Textures are cut from the photographs shipped with scikit-image (gravel, brick, grass,
text, page): no download. Run it with ``python benchmarks/learning.py clutter``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from photo_sets import (
    Rgb,
    _any_photo,
    _polygon_mask,
    _random_crop,
    _rotated_box,
    _tinted,
    rotated_layer,
    write_labelme_set,
)
from PIL import Image, ImageDraw, ImageFilter

from annotool.synthetic import SceneShape

CLUTTER_KINDS = ("uno", "nano", "esp", "oled")
FRAME = (800, 600)
PCB_COLOURS = {
    "green": (35, 105, 60),
    "blue": (25, 75, 150),
    "black": (28, 28, 32),
    "white": (215, 215, 210),
    "red": (140, 35, 40),
}
KIND_COLOURS = {
    "uno": ("blue", "green", "black"),
    "nano": ("blue", "black", "green"),
    "esp": ("black", "blue", "white"),
    "oled": ("blue", "black", "white"),
}
"""Each kind comes in three board colours, and every colour is used by two or more kinds:
colour alone never tells the kind."""
KIND_AREA = {
    "uno": (0.035, 0.05),
    "nano": (0.01, 0.018),
    "esp": (0.018, 0.03),
    "oled": (0.012, 0.022),
}
"""Share of the frame each kind covers (real boards: 1-5%)."""
KIND_ASPECT = {"uno": 1.35, "nano": 2.6, "esp": 1.8, "oled": 1.1}
SUPERSAMPLE = 2
"""Boards and clutter are drawn at twice their size and shrunk: antialiased parts."""


def _colour(rng: np.random.Generator, base: tuple[int, int, int], spread: float = 0.15) -> tuple:
    gain = rng.uniform(1 - spread, 1 + spread, size=3)
    return tuple(int(v) for v in np.clip(np.asarray(base) * gain, 0, 255))


def _pcb(
    rng: np.random.Generator, colour: tuple[int, int, int], width: int, height: int
) -> Image.Image:
    """A bare board: the colour over real gravel grain, copper traces and silkscreen."""
    grain = _random_crop(rng, "gravel", width, height)[..., :1].astype(np.float32) / 255
    base = np.asarray(colour, dtype=np.float32) * (0.82 + 0.36 * grain) * rng.uniform(0.85, 1.15)
    board = Image.fromarray(np.clip(base + 6, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(board)
    trace = _colour(rng, tuple(min(255, int(c * 1.3 + 20)) for c in colour), 0.05)
    for _ in range(int(rng.integers(6, 16))):  # Manhattan traces
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        points = [(x, y)]
        for leg in range(3):
            if leg % 2 == 0:
                x = rng.uniform(0, width)
            else:
                y = rng.uniform(0, height)
            points.append((x, y))
        draw.line(points, fill=trace, width=max(1, round(SUPERSAMPLE * rng.uniform(0.5, 1.2))))
    silk = (235, 235, 230) if sum(colour) < 500 else (40, 40, 45)
    for _ in range(int(rng.integers(2, 6))):  # labels: short rows of tiny marks
        x, y = rng.uniform(0, width * 0.8), rng.uniform(0, height * 0.9)
        for char in range(int(rng.integers(2, 7))):
            step = SUPERSAMPLE * 2.5
            draw.rectangle((x + char * step, y, x + char * step + step * 0.6, y + step), silk)
    return board


def _header(draw: ImageDraw.ImageDraw, x: float, y: float, pins: int, pitch: float, across: bool):
    """A black plastic pin header with gold pins; ``across`` runs it along x."""
    plastic, gold = (20, 20, 22), (205, 175, 90)
    length = pins * pitch
    box = (x, y, x + length, y + pitch) if across else (x, y, x + pitch, y + length)
    draw.rectangle(box, plastic)
    for pin in range(pins):
        px = x + pin * pitch + pitch * 0.3 if across else x + pitch * 0.3
        py = y + pitch * 0.3 if across else y + pin * pitch + pitch * 0.3
        draw.rectangle((px, py, px + pitch * 0.4, py + pitch * 0.4), gold)


def _chip(draw: ImageDraw.ImageDraw, box: tuple[float, float, float, float], legs: bool):
    """A black chip; with ``legs``, silver legs along its long sides."""
    left, top, right, bottom = box
    draw.rectangle(box, (25, 25, 28))
    if legs:
        metal = (185, 185, 190)
        along_x = right - left >= bottom - top
        length = right - left if along_x else bottom - top
        count = max(3, int(length / (SUPERSAMPLE * 2.5)))
        for leg in range(count):
            offset = (leg + 0.5) * length / count
            if along_x:
                x = left + offset
                draw.line((x, top - SUPERSAMPLE * 2, x, top), metal, SUPERSAMPLE)
                draw.line((x, bottom, x, bottom + SUPERSAMPLE * 2), metal, SUPERSAMPLE)
            else:
                y = top + offset
                draw.line((left - SUPERSAMPLE * 2, y, left, y), metal, SUPERSAMPLE)
                draw.line((right, y, right + SUPERSAMPLE * 2, y), metal, SUPERSAMPLE)
    draw.ellipse(
        (left + 2, top + 2, left + 2 + SUPERSAMPLE * 2, top + 2 + SUPERSAMPLE * 2), (60, 60, 60)
    )


def _display(draw: ImageDraw.ImageDraw, rng: np.random.Generator, box: tuple[float, ...]):
    """A small dark glass display in a frame, maybe with lit pixels."""
    left, top, right, bottom = box
    draw.rectangle(box, (60, 60, 65))
    inset = min(right - left, bottom - top) * 0.08
    glass = (left + inset, top + inset, right - inset, bottom - inset * 1.6)
    draw.rectangle(glass, _colour(rng, (18, 20, 30), 0.3))
    if rng.random() < 0.6:  # some lit text rows
        lit = _colour(rng, (120, 200, 255), 0.2)
        rows = int(rng.integers(1, 4))
        for row in range(rows):
            y = glass[1] + (row + 0.5) * (glass[3] - glass[1]) / (rows + 0.5)
            x1 = glass[0] + (glass[2] - glass[0]) * rng.uniform(0.3, 0.9)
            draw.line((glass[0] + inset, y, x1, y), lit, SUPERSAMPLE)


def _metal(rng: np.random.Generator, draw: ImageDraw.ImageDraw, box: tuple[float, ...]):
    draw.rectangle(box, _colour(rng, (190, 190, 195), 0.08))
    draw.rectangle(box, outline=(120, 120, 125), width=SUPERSAMPLE)


def board_patch(rng: np.random.Generator, kind: str, width: int, height: int) -> Rgb:
    """A ``(height, width, 3)`` board of ``kind`` (drawn supersampled, then shrunk)."""
    colour = PCB_COLOURS[str(rng.choice(KIND_COLOURS[kind]))]
    w, h = width * SUPERSAMPLE, height * SUPERSAMPLE
    board = _pcb(rng, colour, w, h)
    draw = ImageDraw.Draw(board)
    pitch = max(3.0, min(w, h) * 0.07)
    hole = (200, 190, 150)
    for x in (0.05, 0.95):  # mounting holes, on every kind
        for y in (0.07, 0.93):
            r = min(w, h) * 0.035
            draw.ellipse((x * w - r, y * h - r, x * w + r, y * h + r), hole)
    if kind == "uno":  # long DIP chip, headers on both long edges, USB socket, barrel jack
        _header(draw, w * 0.3, h * 0.03, int(w * 0.6 / pitch), pitch, True)
        _header(draw, w * 0.25, h * 0.97 - pitch, int(w * 0.65 / pitch), pitch, True)
        _chip(draw, (w * 0.4, h * 0.55, w * 0.88, h * 0.7), legs=True)
        _metal(rng, draw, (-1, h * 0.15, w * 0.2, h * 0.4))
        draw.rectangle((-1, h * 0.65, w * 0.18, h * 0.88), (15, 15, 18))
        _chip(draw, (w * 0.35, h * 0.25, w * 0.45, h * 0.38), legs=False)
    elif kind == "nano":  # narrow: pin rows on both long sides, a small square chip
        along = int(w * 0.9 / pitch)
        for y in (h * 0.04, h * 0.96 - pitch):
            for pin in range(along):
                x = w * 0.05 + pin * pitch
                draw.ellipse((x, y, x + pitch * 0.8, y + pitch * 0.8), (205, 175, 90))
        side = h * 0.38
        _chip(draw, (w * 0.45, h / 2 - side / 2, w * 0.45 + side, h / 2 + side / 2), legs=True)
        _metal(rng, draw, (-1, h * 0.3, w * 0.1, h * 0.7))
    elif kind == "esp":  # a metal shield can, a zig-zag antenna, headers on the short sides
        _metal(rng, draw, (w * 0.3, h * 0.18, w * 0.8, h * 0.82))
        antenna = _colour(rng, (200, 170, 90), 0.1)
        x, points = w * 0.85, []
        for step in range(8):
            y = h * (0.15 + 0.7 * (step // 2 % 2))
            points.append((x + step * w * 0.015, y))
        draw.line(points, antenna, max(1, SUPERSAMPLE))
        _header(draw, w * 0.04, h * 0.1, int(h * 0.8 / pitch), pitch, False)
        _chip(draw, (w * 0.14, h * 0.4, w * 0.24, h * 0.6), legs=False)
    else:  # oled: a display over most of the board, four pins on one edge
        _display(draw, rng, (w * 0.08, h * 0.22, w * 0.92, h * 0.9))
        _header(draw, w / 2 - 2 * pitch, h * 0.03, 4, pitch, True)
    return np.asarray(board.resize((width, height), Image.Resampling.LANCZOS))


def _keyboard(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    body = _colour(rng, (40, 40, 45) if rng.random() < 0.6 else (210, 210, 205), 0.2)
    image = Image.new("RGB", (width, height), body)
    draw = ImageDraw.Draw(image)
    key = tuple(max(0, min(255, c + int(rng.integers(-25, 25)))) for c in body)
    size = width / rng.uniform(14, 22)
    label = (220, 220, 220) if sum(body) < 300 else (30, 30, 30)
    for row in range(int(height / size)):
        for column in range(int(width / size)):
            x, y = column * size + size * 0.1, row * size + size * 0.1
            draw.rectangle((x, y, x + size * 0.8, y + size * 0.8), key, outline=(0, 0, 0))
            if rng.random() < 0.7:
                draw.rectangle(
                    (x + size * 0.25, y + size * 0.25, x + size * 0.4, y + size * 0.45), label
                )
    return image


def _multimeter(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    body = _colour(rng, (220, 180, 30) if rng.random() < 0.5 else (50, 50, 55), 0.15)
    image = Image.new("RGB", (width, height), body)
    draw = ImageDraw.Draw(image)
    draw.rectangle((width * 0.08, height * 0.05, width * 0.92, height * 0.95), (35, 35, 38))
    _display(draw, rng, (width * 0.15, height * 0.1, width * 0.85, height * 0.35))
    r = min(width, height) * 0.22
    cx, cy = width / 2, height * 0.62
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), (70, 70, 75), outline=(150, 150, 150))
    draw.line((cx, cy, cx + r * 0.9, cy - r * 0.3), (220, 220, 220), 3)
    for socket in range(3):
        x = width * (0.25 + 0.25 * socket)
        draw.ellipse((x - 5, height * 0.87 - 5, x + 5, height * 0.87 + 5), (200, 40, 40))
    return image


def _breadboard(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    image = Image.new("RGB", (width, height), _colour(rng, (225, 225, 218), 0.05))
    draw = ImageDraw.Draw(image)
    pitch = max(4.0, min(width, height) / rng.uniform(10, 18))
    for row in range(int(height / pitch)):
        for column in range(int(width / pitch)):
            x, y = column * pitch + pitch * 0.35, row * pitch + pitch * 0.35
            draw.rectangle((x, y, x + pitch * 0.3, y + pitch * 0.3), (60, 60, 60))
    for y in (0.08, 0.92):
        draw.line((0, height * y, width, height * y), (200, 40, 40), 2)
    return image


def _loose_parts(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A bare PCB offcut, a chip or a pin-header strip lying on the desk."""
    choice = rng.random()
    if choice < 0.35:  # an unlabelled bare board: same colours and texture as the boards
        colour = PCB_COLOURS[str(rng.choice(list(PCB_COLOURS)))]
        return _pcb(rng, colour, width, height)
    image = Image.new("RGB", (width, height), (0, 0, 0))
    draw = ImageDraw.Draw(image)
    if choice < 0.7:
        _chip(draw, (width * 0.15, height * 0.15, width * 0.85, height * 0.85), legs=True)
    else:
        pitch = min(width, height) * 0.9
        _header(draw, 0, 0, max(2, int(width / pitch)), pitch, True)
    return image


def _fabric(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """Patterned fabric: checks or stripes over a real woven texture (grass)."""
    weave = _random_crop(rng, "grass", width, height)[..., 0].astype(np.float32) / 255
    ys, xs = np.mgrid[0:height, 0:width]
    period = rng.uniform(6, 20)
    if rng.random() < 0.5:
        pattern = ((xs // period + ys // period) % 2).astype(np.float32)
    else:
        pattern = ((xs + ys) // period % 2).astype(np.float32)
    one = np.asarray(_colour(rng, tuple(int(v) for v in rng.integers(20, 235, size=3)), 0.1))
    two = np.asarray(_colour(rng, tuple(int(v) for v in rng.integers(20, 235, size=3)), 0.1))
    colour = one * pattern[..., None] + two * (1 - pattern[..., None])
    return Image.fromarray(
        np.clip(colour * (0.75 + 0.5 * weave[..., None]), 0, 255).astype(np.uint8)
    )


CLUTTER_MAKERS = (_keyboard, _multimeter, _breadboard, _loose_parts, _fabric)
CLUTTER_SIZE = {  # (short side, long side) in pixels of the frame
    _keyboard: ((90, 200), (260, 520)),
    _multimeter: ((80, 130), (140, 220)),
    _breadboard: ((60, 130), (120, 260)),
    _loose_parts: ((10, 60), (30, 120)),
    _fabric: ((120, 300), (200, 500)),
}


def _desk(rng: np.random.Generator, width: int, height: int) -> Rgb:
    """A desk top: white laminate, wood, grey fabric or stone, cut from real photographs."""
    material = str(rng.choice(("white", "wood", "fabric", "stone")))
    if material == "white":
        page = _random_crop(rng, "page", width, height).astype(np.float32)
        desk = 200 + 0.2 * (page - page.mean()) + rng.uniform(-15, 25)
        desk = desk * np.asarray(rng.uniform(0.95, 1.05, size=3))
    elif material == "wood":  # real grain stretched along one direction
        grain = _random_crop(rng, "gravel", width // 16, height)
        grain = np.asarray(Image.fromarray(grain).resize((width, height), Image.Resampling.BICUBIC))
        desk = _tinted(grain, (1.1, 0.75, 0.45), rng.uniform(0.7, 1.2)).astype(np.float32)
    elif material == "fabric":
        weave = _random_crop(rng, "grass", width, height).astype(np.float32)
        desk = 120 + 0.5 * (weave - weave.mean()) + rng.uniform(-30, 30)
    else:
        name = str(rng.choice(("gravel", "brick")))
        stone = _random_crop(rng, name, width, height)
        desk = _tinted(stone, tuple(rng.uniform(0.75, 1.05, size=3)), rng.uniform(0.8, 1.2))
        desk = desk.astype(np.float32)
    canvas = np.clip(desk, 0, 255).astype(np.uint8)
    if canvas.ndim == 2:
        canvas = np.repeat(canvas[..., None], 3, axis=2)
    canvas = canvas.copy()
    for _ in range(int(rng.integers(0, 3))):  # paper, printed photos
        piece_w, piece_h = (int(v) for v in rng.integers(80, 260, size=2))
        left, top = int(rng.integers(0, width - piece_w)), int(rng.integers(0, height - piece_h))
        canvas[top : top + piece_h, left : left + piece_w] = _any_photo(rng, piece_w, piece_h)
    return canvas


def _place(
    rng: np.random.Generator,
    canvas: Rgb,
    patch: Image.Image,
    centre: tuple[float, float],
    angle: float,
    mask: NDArray[np.bool_],
    shadow: bool,
) -> None:
    """Paint ``patch`` rotated by ``angle`` at ``centre`` where ``mask`` is set, after a
    soft drop shadow."""
    height, width = canvas.shape[:2]
    if shadow:
        dx, dy = rng.uniform(2, 7, size=2)
        soft = Image.fromarray(mask.astype(np.uint8) * 255).transform(
            (width, height), Image.Transform.AFFINE, (1, 0, -dx, 0, 1, -dy)
        )
        soft = np.asarray(soft.filter(ImageFilter.GaussianBlur(4)), np.float32) / 255
        canvas[:] = np.clip(canvas * (1 - 0.45 * soft[..., None]), 0, 255).astype(np.uint8)
    layer, on_canvas = rotated_layer(canvas, patch, angle, centre)
    if not on_canvas:
        return
    canvas[mask] = layer[mask]


def _cables(rng: np.random.Generator, canvas: Rgb) -> Rgb:
    height, width = canvas.shape[:2]
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(1, 4))):
        points = [tuple(float(v) for v in rng.uniform(-0.1, 1.1, size=2) * (width, height))]
        for _bend in range(4):
            step = rng.normal(0, 120, size=2)
            points.append((points[-1][0] + step[0], points[-1][1] + step[1]))
        colour = _colour(rng, tuple(int(v) for v in rng.integers(10, 240, size=3)), 0.1)
        draw.line(points, fill=colour, width=int(rng.integers(3, 8)), joint="curve")
        x, y = points[-1]  # a plug: black body, metal tip
        draw.rectangle((x - 8, y - 5, x + 8, y + 5), (25, 25, 25))
        draw.rectangle((x + 8, y - 3, x + 14, y + 3), (190, 190, 195))
    return np.asarray(image).copy()


def _photo_finish(rng: np.random.Generator, image: Rgb) -> Rgb:
    """Phone-camera light: colour temperature, a gradient, soft shadows, glare, blur, noise."""
    height, width = image.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    ramp = (xs / width - 0.5) * math.cos(angle) + (ys / height - 0.5) * math.sin(angle)
    light = 1.0 + rng.uniform(0.1, 0.5) * ramp + rng.uniform(-0.2, 0.1)
    shade = Image.new("L", (width, height), 0)
    for _ in range(int(rng.integers(0, 3))):  # a hand's or a lamp's shadow
        corners = rng.uniform(0, 1, size=(int(rng.integers(3, 6)), 2)) * (width, height)
        ImageDraw.Draw(shade).polygon([tuple(c) for c in corners], fill=255)
    shade_map = np.asarray(shade.filter(ImageFilter.GaussianBlur(25)), np.float32) / 255
    light = light * (1 - rng.uniform(0.25, 0.5) * shade_map)
    values = np.asarray(image, np.float32) * light[..., None]
    warmth = rng.uniform(-0.08, 0.08)  # warm or cool light
    values *= np.asarray((1 + warmth, 1.0, 1 - warmth), dtype=np.float32)
    for _ in range(int(rng.integers(0, 3))):  # glare spots
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        radius = rng.uniform(30, 120)
        spot = np.exp(-((xs - cx) ** 2 + ((ys - cy) * rng.uniform(1, 2.5)) ** 2) / radius**2)
        values += rng.uniform(60, 160) * spot[..., None]
    pixels = Image.fromarray(np.clip(values, 0, 255).astype(np.uint8))
    pixels = pixels.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.6)))
    noisy = np.asarray(pixels, np.float32) + rng.normal(0, rng.uniform(2, 6), size=values.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def clutter_scene(
    rng: np.random.Generator, width: int, height: int
) -> tuple[Rgb, list[SceneShape]]:
    """One desk photo: clutter, then one to three boards of 1-5% of the frame each."""
    canvas = _desk(rng, width, height)
    frame_scale = math.sqrt(width * height / (FRAME[0] * FRAME[1]))
    for _ in range(int(rng.integers(2, 6))):
        maker = CLUTTER_MAKERS[int(rng.integers(len(CLUTTER_MAKERS)))]
        (short_low, short_high), (long_low, long_high) = CLUTTER_SIZE[maker]
        short = max(6, round(rng.uniform(short_low, short_high) * frame_scale))
        long = max(short, round(rng.uniform(long_low, long_high) * frame_scale))
        patch = maker(rng, long, short)
        centre = (rng.uniform(0, width), rng.uniform(0, height))
        angle = rng.uniform(-0.5, 0.5) + (math.pi / 2 if rng.random() < 0.3 else 0)
        mask = _polygon_mask(_rotated_box(centre, long, short, angle), width, height)
        _place(rng, canvas, patch, centre, angle, mask, shadow=rng.random() < 0.7)
    canvas = _cables(rng, canvas)
    shapes: list[SceneShape] = []
    occupied = np.zeros((height, width), dtype=bool)
    for _ in range(int(rng.integers(1, 4))):
        kind = str(rng.choice(CLUTTER_KINDS))
        area = width * height * rng.uniform(*KIND_AREA[kind])
        aspect = KIND_ASPECT[kind] * rng.uniform(0.9, 1.1)
        board_w, board_h = math.sqrt(area * aspect), math.sqrt(area / aspect)
        margin = math.hypot(board_w, board_h) / 2
        for _attempt in range(30):
            centre = (rng.uniform(margin, width - margin), rng.uniform(margin, height - margin))
            angle = rng.uniform(-math.pi, math.pi)
            outline = _rotated_box(centre, board_w, board_h, angle)
            mask = _polygon_mask(outline, width, height)
            if not (mask & occupied).any():
                break
        else:
            continue
        patch = Image.fromarray(board_patch(rng, kind, round(board_w), round(board_h)))
        _place(rng, canvas, patch, centre, angle, mask, shadow=True)
        occupied |= mask
        shapes.append(SceneShape(kind, "polygon", tuple(outline), centre, 0.0))
    return _photo_finish(rng, canvas), shapes


def make_clutter_photos(
    out_dir: Path, seed: int, count: int = 150, size: tuple[int, int] = FRAME
) -> Path:
    """``count`` desk photos of ``size`` (800x600) with boards of four kinds among clutter."""
    return write_labelme_set(out_dir, clutter_scene, [size] * count, CLUTTER_KINDS, seed, "clutter")
