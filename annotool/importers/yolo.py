"""Importing an Ultralytics YOLO dataset (segmentation or detection) into labelme JSON.

The dataset is found as Ultralytics finds it: ``data.yaml`` names the root (``path``,
absolute or relative to the YAML file; the YAML's own folder when that does not hold the
images, so a moved or unzipped dataset still imports), the splits (``train``, ``val``,
``test``: folders of images, lists of folders, or ``.txt`` files listing images) and the
classes (``names``, a list or a mapping from index to name). Without a YAML, a folder
whose images lie under ``images/`` is read with class names given by ``--names``.

Each image's labels are in the file at the same place under ``labels/`` instead of
``images/``, with the suffix ``.txt``: one object per line, a class index then
coordinates divided by the image's width and height (as Ultralytics shows the image,
EXIF orientation applied). Three or more x y pairs are a polygon, four numbers a box
(centre x, centre y, width, height), which becomes a rectangle. An image without a label
file is background: a document with no shapes. Coordinates at most one pixel outside the
image are moved onto its border (rounding in other tools puts them there); farther ones
are an error.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from annotool.errors import AnnotoolError, ForeignFormatError, Problem
from annotool.fileio import read_utf8
from annotool.images import ImageSource, read_header
from annotool.importers.documents import (
    ImportedImage,
    ImportResult,
    WriteOptions,
    class_list,
    finish_import,
)
from annotool.labelme_write import new_shape
from annotool.progress import ProgressCallback
from annotool.voc import IMAGE_SUFFIXES

DATA_FILES = ("data.yaml", "data.yml", "dataset.yaml")
"""The names under which a folder's dataset YAML is found."""
SPLIT_KEYS = ("train", "val", "test")
OUTSIDE_TOLERANCE_PX = 1.0
"""How far (pixels) a point may lie outside the image and still be moved onto its border."""
_DECIMALS = 4
"""Decimals kept of a pixel coordinate: far below a pixel, and the JSON stays readable."""


@dataclass(frozen=True)
class YoloDataset:
    """Where a YOLO dataset's images are and what its classes are called.

    ``source`` is the data.yaml (or the folder) named in messages; ``images`` every image
    file (sorted, each once, whatever split lists it); ``names[i]`` the name of class i
    (None for an index the YAML's mapping leaves out).
    """

    source: Path
    images: tuple[Path, ...]
    names: tuple[str | None, ...]


def import_yolo(
    source: YoloDataset | Path,
    out_dir: Path,
    names: Sequence[str] | None = None,
    write: WriteOptions | None = None,
    progress: ProgressCallback | None = None,
) -> ImportResult:
    """Write one labelme JSON per image of the YOLO dataset ``source`` (found, or a
    data.yaml, or a folder holding one or holding ``images/``) into ``out_dir``; ``names``
    replace the YAML's class names (and are needed without a YAML).

    Raises ForeignFormatError when the dataset cannot be found or read, and
    InvalidInputError listing every invalid label line or image otherwise.
    """
    dataset = source if isinstance(source, YoloDataset) else find_dataset(Path(source), names)
    imported: list[ImportedImage] = []
    problems: list[Problem] = []
    for image in dataset.images:
        try:
            imported.append(_import_image(image, dataset))
        except _Invalid as error:
            problems += error.problems
        if progress is not None:
            progress(1)
    known = [name for name in dataset.names if name is not None]
    class_names = class_list(known, str(dataset.source))
    return finish_import(
        imported, problems, class_names, dataset.source, out_dir, write or WriteOptions()
    )


def find_dataset(source: Path, names: Sequence[str] | None = None) -> YoloDataset:
    """The images and class names of the dataset at ``source`` (see :func:`import_yolo`).

    Raises ForeignFormatError saying what is missing or malformed."""
    if not source.exists():
        raise ForeignFormatError(f"{source} does not exist; give a data.yaml or a dataset folder")
    yaml_path = source if source.is_file() else _yaml_in(source)
    if yaml_path is None:
        if not names:
            raise ForeignFormatError(
                f"{source} holds no {' or '.join(DATA_FILES)}; give the class names in "
                "class index order with --names (a comma-separated list or a file with one "
                "name per line)"
            )
        folder = source / "images" if (source / "images").is_dir() else source
        images = _images_in(folder)
        if not images:
            raise ForeignFormatError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        return YoloDataset(source, tuple(images), tuple(names))
    data = _read_yaml(yaml_path)
    yaml_names = _names(yaml_path, data) if names is None else tuple(names)
    return YoloDataset(yaml_path, tuple(_split_images(yaml_path, data)), yaml_names)


def _yaml_in(folder: Path) -> Path | None:
    for name in DATA_FILES:
        if (folder / name).is_file():
            return folder / name
    return None


def _read_yaml(path: Path) -> dict[str, Any]:
    text = read_utf8(path, ForeignFormatError)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "malformed"
        raise ForeignFormatError(f"{path} is not valid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise ForeignFormatError(
            f"{path} is not a dataset YAML: it must be a mapping with names and train/val"
        )
    return data


def _names(path: Path, data: dict[str, Any]) -> tuple[str | None, ...]:
    raw = data.get("names")
    if isinstance(raw, list):
        pairs = list(enumerate(raw))
    elif isinstance(raw, dict):
        pairs = []
        for key, value in raw.items():
            index = int(key) if isinstance(key, str) and key.isdigit() else key
            if not isinstance(index, int) or isinstance(index, bool) or index < 0:
                raise ForeignFormatError(
                    f"{path}: names key {key!r} is not a class index (0, 1, ...)"
                )
            pairs.append((index, value))
    else:
        raise ForeignFormatError(
            f"{path} has no names: give the class names as a list or a mapping "
            "{0: name, ...} (or pass --names)"
        )
    if not pairs:
        raise ForeignFormatError(f"{path}: names is empty")
    names: list[str | None] = [None] * (max(index for index, _ in pairs) + 1)
    for index, value in pairs:
        if isinstance(value, bool) or value is None:
            raise ForeignFormatError(
                f"{path}: names entry {index} reads as {value}: YAML takes yes, no, on, off, "
                "true, false and null unquoted for those values; quote the name"
            )
        if not isinstance(value, str | int | float):
            raise ForeignFormatError(f"{path}: names entry {index} is not a name: {value!r}")
        names[index] = str(value).strip()
    count = data.get("nc")
    if count is not None and count != len(names):
        raise ForeignFormatError(
            f"{path}: nc is {count!r}, but names lists {len(names)} classes; make them agree"
        )
    return tuple(names)


def _split_images(path: Path, data: dict[str, Any]) -> list[Path]:
    """Every image the splits of the YAML at ``path`` list, sorted, each once."""
    entries = {key: data[key] for key in SPLIT_KEYS if data.get(key)}
    if not entries:
        raise ForeignFormatError(f"{path} names no split: it needs train (and val) entries")
    for key, value in entries.items():
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(item, str) and item for item in values):
            raise ForeignFormatError(
                f"{path}: {key} must be a folder, a .txt list of images, or a list of them"
            )
    roots = _candidate_roots(path, data.get("path"))
    root = next(
        (root for root in roots if any((root / _first(v)).exists() for v in entries.values())),
        None,
    )
    if root is None:
        splits = ", ".join(f"{key}: {_first(value)}" for key, value in entries.items())
        tried = ", ".join(str(root) for root in roots)
        raise ForeignFormatError(
            f"{path}: the splits ({splits}) are not found under {tried}; fix path in the YAML"
        )
    images: set[Path] = set()
    for key, value in entries.items():
        for item in value if isinstance(value, list) else [value]:
            images.update(_listed_images(path, key, root / item))
    return sorted(images)


def _first(value: str | list[str]) -> str:
    return value[0] if isinstance(value, list) else value


def _candidate_roots(path: Path, root: object) -> list[Path]:
    """Where the splits may be relative to: ``path`` as written (relative to the YAML's
    folder, then to the working folder), then the YAML's folder."""
    folder = path.absolute().parent
    candidates = []
    if isinstance(root, str) and root:
        given = Path(os.path.expanduser(root))
        candidates = [given] if given.is_absolute() else [folder / given, Path.cwd() / given]
    return list(dict.fromkeys([*candidates, folder]))


def _listed_images(path: Path, key: str, entry: Path) -> Iterable[Path]:
    if entry.is_dir():
        return _images_in(entry)
    if entry.is_file() and entry.suffix.lower() == ".txt":
        lines = read_utf8(entry, ForeignFormatError).splitlines()
        listed = [line.strip() for line in lines if line.strip()]
        return [Path(line) if Path(line).is_absolute() else entry.parent / line for line in listed]
    raise ForeignFormatError(
        f"{path}: {key} names {entry}, which is neither a folder of images nor a .txt list"
    )


def _images_in(folder: Path) -> list[Path]:
    return sorted(
        path
        for path in folder.rglob("*")
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()
    )


def label_path(image: Path) -> Path:
    """Where Ultralytics looks for an image's labels: the last ``images`` folder of its
    path replaced by ``labels`` (the same folder when there is none), suffix ``.txt``."""
    parts = list(image.parts)
    for index in range(len(parts) - 2, -1, -1):
        if parts[index] == "images":
            parts[index] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


class _Invalid(Exception):
    """The problems of one image: its file, or each bad line of its labels."""

    def __init__(self, *problems: Problem) -> None:
        super().__init__("; ".join(map(str, problems)))
        self.problems = problems


def _import_image(image: Path, dataset: YoloDataset) -> ImportedImage:
    if not image.is_file():
        raise _Invalid(Problem(dataset.source, f"the image {image} it lists does not exist"))
    try:
        header = read_header(ImageSource.file(image))
    except AnnotoolError as error:
        raise _Invalid(Problem(image, str(error))) from None
    labels = label_path(image)
    shapes: list[dict[str, Any]] = []
    if labels.is_file():
        try:
            text = read_utf8(labels, ForeignFormatError)
        except ForeignFormatError as error:
            raise _Invalid(Problem(labels, str(error).removeprefix(f"{labels} "))) from None
        bad_lines = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    shapes.append(_line_shape(line, dataset.names, header.width, header.height))
                except ValueError as error:
                    bad_lines.append(Problem(labels, f"line {number}: {error}"))
        if bad_lines:
            raise _Invalid(*bad_lines)
    return ImportedImage(str(image), image, header.height, header.width, tuple(shapes))


def _line_shape(line: str, names: Sequence[str | None], width: int, height: int) -> dict[str, Any]:
    """The labelme shape of one label line; ValueError saying what is wrong with it."""
    tokens = line.split()
    try:
        values = [float(token) for token in tokens]
    except ValueError:
        bad = next(token for token in tokens if not _is_float(token))
        raise ValueError(f"{bad!r} is not a number") from None
    if not all(math.isfinite(value) for value in values):
        raise ValueError("a value is not a finite number")
    class_index = values[0]
    if class_index != int(class_index) or class_index < 0:
        raise ValueError(f"the class index {tokens[0]} is not a whole number 0, 1, ...")
    index = int(class_index)
    if index >= len(names) or names[index] is None:
        raise ValueError(
            f"class {index} has no name: the names are those of classes 0-{len(names) - 1}"
            + (f" without {index}" if index < len(names) else "")
        )
    label = str(names[index])
    coordinates = values[1:]
    if len(coordinates) == 4:
        centre_x, centre_y, box_width, box_height = coordinates
        if box_width <= 0 or box_height <= 0:
            raise ValueError("the box has no width or height")
        corners = [
            (centre_x - box_width / 2, centre_y - box_height / 2),
            (centre_x + box_width / 2, centre_y + box_height / 2),
        ]
        return new_shape(label, _pixels(corners, width, height), "rectangle")
    if len(coordinates) < 6 or len(coordinates) % 2:
        raise ValueError(
            f"{len(coordinates)} numbers after the class; a line holds 4 (a box) or "
            "3 or more x y pairs (a polygon)"
        )
    pairs = list(zip(coordinates[::2], coordinates[1::2], strict=True))
    return new_shape(label, _pixels(pairs, width, height), "polygon")


def _pixels(points: Sequence[tuple[float, float]], width: int, height: int) -> list[list[float]]:
    """Normalized points as pixel coordinates; one pixel outside the image at most."""
    result = []
    for x, y in points:
        pixel = []
        for value, size, axis in ((x, width, "x"), (y, height, "y")):
            coordinate = value * size
            if not -OUTSIDE_TOLERANCE_PX <= coordinate <= size + OUTSIDE_TOLERANCE_PX:
                raise ValueError(
                    f"{axis} = {value:g} is outside 0..1 (pixel {coordinate:.1f} of {size}); "
                    "coordinates must be divided by the image's width and height"
                )
            pixel.append(round(min(max(coordinate, 0.0), float(size)), _DECIMALS))
        result.append(pixel)
    return result


def _is_float(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True
