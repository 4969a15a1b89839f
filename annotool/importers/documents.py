"""What every import shares: the images it found, the problems, and writing the documents.

Each format's reader turns its dataset into :class:`ImportedImage` values (an image file,
its size as labelme shows it, labelme shapes) and :class:`~annotool.errors.Problem` s
naming the file and the entry at fault. :func:`finish_import` then refuses the whole
import when anything is invalid (or leaves the invalid images out with ``skip_invalid``)
and writes ``OUT_DIR/<image stem>.json`` for each image, plus ``OUT_DIR/labels.txt``.

Nothing is half-written: every document is written into a staging folder beside
``OUT_DIR`` first and renamed into place only when all of them are written; a JSON file
that exists in ``OUT_DIR`` is left alone unless ``overwrite`` (what a person corrected in
labelme is never lost by importing again).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotool.errors import (
    ForeignFormatError,
    InvalidInputError,
    LabelsError,
    OutputExistsError,
    Problem,
)
from annotool.fileio import (
    naming_path,
    new_staging_dir,
    read_utf8,
    write_staged,
)
from annotool.labelmap import LabelMap
from annotool.labelme_write import document_text, new_document
from annotool.labels import BACKGROUND_LABEL, IGNORE_LABEL, parse_labels

LABELS_FILE = "labels.txt"
"""The labels file an import writes into OUT_DIR: ``__ignore__``, ``_background_``, then the
classes in the source's order, ready for ``labelme --labels`` and ``annotool convert``."""


@dataclass(frozen=True)
class ImportedImage:
    """One image of the imported dataset and the labelme shapes that describe it.

    ``entry`` names the image as the source does, for messages; ``height`` and ``width``
    are its size as labelme shows it (EXIF orientation applied); ``shapes`` are labelme
    shape objects in paint order.
    """

    entry: str
    image: Path
    height: int
    width: int
    shapes: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class WriteOptions:
    """``skip_invalid``: import the valid images and list the others (by default one
    invalid entry means nothing is written); ``overwrite``: replace existing JSON files;
    ``label_map``: renames, merges or drops the imported labels (the classes of
    ``labels.txt`` too), as ``--map`` does where labelme JSON is read."""

    skip_invalid: bool = False
    overwrite: bool = False
    label_map: LabelMap | None = None


@dataclass
class ImportResult:
    """What an import did: JSON files ``written``, ``existing`` ones left alone, the
    invalid entries ``skipped`` (with ``skip_invalid``), the class list and its file
    (None when an existing, different labels file was kept), and warnings."""

    out_dir: Path
    class_names: tuple[str, ...]
    written: list[Path] = field(default_factory=list)
    existing: list[Path] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)
    labels_file: Path | None = None
    shapes: int = 0
    warnings: list[str] = field(default_factory=list)


def class_list(names: Sequence[str], source: str) -> tuple[str, ...]:
    """The class names of a labels file for the source's class ``names`` in order:
    ``_background_`` first, repeated names once, ``__ignore__`` left out (it is no class).

    Raises ForeignFormatError when a name cannot be a labelme label (blank, or spanning
    lines)."""
    classes = [
        name for name in dict.fromkeys(names) if name not in (BACKGROUND_LABEL, IGNORE_LABEL)
    ]
    for name in classes:
        if not name.strip() or "\n" in name or "\r" in name:
            raise ForeignFormatError(
                f"{source}: the class name {name!r} cannot be a labelme label (blank, or "
                "several lines); rename the class"
            )
    return (BACKGROUND_LABEL, *classes)


def _labels_text(class_names: tuple[str, ...], source: str) -> tuple[str | None, str | None]:
    """The labels file of ``class_names``, or None and why there can be none."""
    try:
        text = "".join(f"{name}\n" for name in (IGNORE_LABEL, *class_names))
        return parse_labels(text, f"the class names of {source}").to_text(), None
    except LabelsError as error:
        return None, f"no {LABELS_FILE} was written: {error}"


def finish_import(
    images: Sequence[ImportedImage],
    problems: Sequence[Problem],
    class_names: tuple[str, ...],
    source: Path,
    out_dir: Path,
    options: WriteOptions,
) -> ImportResult:
    """Write the documents of ``images`` into ``out_dir`` unless ``problems`` (every
    invalid entry, already left out of ``images``) forbid it.

    Raises InvalidInputError listing every problem when there are any and not
    ``options.skip_invalid``; ForeignFormatError when two images would get the same
    JSON file; OutputExistsError when ``out_dir`` is a file.
    """
    if problems and not options.skip_invalid:
        raise InvalidInputError(
            list(problems),
            f"{source}: {_problems(len(problems))}; nothing was written. Fix them, or "
            "pass --skip-invalid to import the valid images and list the others:",
        )
    warnings: list[str] = []
    if options.label_map is not None:
        images, class_names, warnings = _mapped(images, class_names, options.label_map)
    result = ImportResult(Path(out_dir), class_names, skipped=list(problems), warnings=warnings)
    targets = _json_paths(images, result.out_dir)
    todo = []
    for image, json_path in zip(images, targets, strict=True):
        if json_path.exists() and not options.overwrite:
            result.existing.append(json_path)
        else:
            todo.append((image, json_path))
    labels_path = result.out_dir / LABELS_FILE
    labels_text, why_not = _labels_text(class_names, str(source))
    write_labels = False
    if labels_text is None:
        result.warnings.append(str(why_not))
    elif labels_path.exists() and not options.overwrite:
        if _read_or_none(labels_path) == labels_text:
            result.labels_file = labels_path
        else:
            result.warnings.append(
                f"{labels_path} exists and lists other classes; it was left alone "
                "(--overwrite replaces it)"
            )
    else:
        write_labels = True
        result.labels_file = labels_path
    files = [(json_path, _document_bytes(image, json_path)) for image, json_path in todo]
    if labels_text is not None and write_labels:
        files.append((labels_path, labels_text.encode("utf-8")))
    _write_all(result.out_dir, files)
    result.written = [json_path for _, json_path in todo]
    result.shapes = sum(len(image.shapes) for image, _ in todo)
    return result


def _mapped(
    images: Sequence[ImportedImage], class_names: tuple[str, ...], label_map: LabelMap
) -> tuple[list[ImportedImage], tuple[str, ...], list[str]]:
    """The images with every shape's label mapped (shapes mapped to nothing left out),
    the mapped class list, and a warning for each map entry that matches no class."""
    mapped_images = []
    for image in images:
        shapes = []
        for shape in image.shapes:
            label = label_map.apply(shape["label"])
            if label is not None:
                shapes.append({**shape, "label": label})
        mapped_images.append(dataclasses.replace(image, shapes=tuple(shapes)))
    used = {shape["label"] for image in images for shape in image.shapes}
    mapped_names = [label_map.apply(name) for name in class_names]
    names = class_list([name for name in mapped_names if name is not None], "the label map")
    warnings = [
        f"{entry} matches no label of the imported dataset"
        for entry in label_map.unused_entries({*class_names, *used})
    ]
    return mapped_images, names, warnings


def _problems(count: int) -> str:
    return f"{count} problem{'s' if count != 1 else ''}"


def _json_paths(images: Sequence[ImportedImage], out_dir: Path) -> list[Path]:
    """``out_dir/<image stem>.json`` of each image; two images of one stem are refused."""
    seen: dict[str, ImportedImage] = {}
    paths = []
    for image in images:
        name = f"{image.image.stem}.json"
        if name in seen:
            raise ForeignFormatError(
                f"{seen[name].entry} and {image.entry} would both be written to "
                f"{out_dir / name} (one labelme JSON per image stem); import them into "
                "different folders, one split at a time, or rename one image"
            )
        seen[name] = image
        paths.append(out_dir / name)
    return paths


def _document_bytes(image: ImportedImage, json_path: Path) -> bytes:
    document = new_document(list(image.shapes), json_path, image.image, image.height, image.width)
    return document_text(document).encode("utf-8")


def _read_or_none(path: Path) -> str | None:
    try:
        return read_utf8(path, ForeignFormatError)
    except ForeignFormatError:
        return None


def _write_all(out_dir: Path, files: list[tuple[Path, bytes]]) -> None:
    """Write every ``(path in out_dir, bytes)`` into a staging folder beside ``out_dir``,
    then rename each into place: an interruption before the renames leaves nothing, one
    during them whole files only."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExistsError(f"{out_dir} exists and is not a directory; choose another OUT_DIR")
    staging = new_staging_dir(out_dir)
    try:
        with naming_path(out_dir, staging):
            for path, data in files:
                write_staged(staging / path.name, data)
            out_dir.mkdir(exist_ok=True)
            for path, _ in files:
                os.replace(staging / path.name, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
