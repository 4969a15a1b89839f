"""The class list: parsing and validating labels files, class ids and the colour map.

A labels file lists one name per line, as labelme expects::

    __ignore__      (optional) pixels excluded from training, written as 255
    _background_    class id 0
    cat             class id 1
    ...

Class ids are the position after ``_background_``; 255 is reserved for ``__ignore__``,
so at most 255 names (ids 0-254) fit into a PNG mask.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from annotool.errors import LabelsError
from annotool.fileio import read_utf8

IGNORE_LABEL = "__ignore__"
BACKGROUND_LABEL = "_background_"
IGNORE_ID = 255
"""Pixel value of ignored pixels in PNG masks (the PASCAL VOC convention)."""
IGNORE_ID_NPY = -1
"""Value of ignored pixels in int32 label arrays and ``.npy`` files (labelme's convention)."""
MAX_CLASSES = 255
"""Most class names, background included, that fit into uint8 masks next to 255 = ignore."""


@dataclass(frozen=True)
class LabelSet:
    """The validated class list.

    ``class_names[i]`` is the name of class id ``i``; ``class_names[0]`` is ``_background_``.
    """

    class_names: tuple[str, ...]
    source: str = "labels"

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def class_id(self, label: str) -> int | None:
        """The class id of ``label``: ``IGNORE_ID_NPY`` for ``__ignore__``, None if unknown."""
        if label == IGNORE_LABEL:
            return IGNORE_ID_NPY
        return self._ids().get(label)

    def _ids(self) -> dict[str, int]:
        return _name_to_id(self.class_names)

    def __contains__(self, label: object) -> bool:
        return isinstance(label, str) and (label == IGNORE_LABEL or label in self._ids())

    def to_text(self) -> str:
        """The labels file contents for this class list, ``__ignore__`` first."""
        return "\n".join((IGNORE_LABEL, *self.class_names)) + "\n"


@cache
def _name_to_id(class_names: tuple[str, ...]) -> dict[str, int]:
    return {name: class_id for class_id, name in enumerate(class_names)}


def parse_labels(text: str, source: str = "labels.txt") -> LabelSet:
    """Validate the lines of a labels file and return the class list.

    ``source`` names the file in error messages. A UTF-8 BOM, CRLF line ends and
    trailing blank lines are accepted; anything else that labelme would misread is an
    error naming the line.
    """
    return _validate_names(text.removeprefix("\ufeff").splitlines(), source, entry="line")


def _validate_names(names: list[str], source: str, entry: str) -> LabelSet:
    """The class list of ``names`` (labels file lines or ``--labels`` list entries).

    Errors are located as ``f"{source} {entry} {number}"``, numbers counting from 1.
    """
    names = [name.strip() for name in names]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise LabelsError(
            f"{source} is empty: it must list '{BACKGROUND_LABEL}' first and then the class names"
        )
    if names[0] not in (IGNORE_LABEL, BACKGROUND_LABEL):
        raise LabelsError(
            f"{source} {entry} 1 must be '{IGNORE_LABEL}' or '{BACKGROUND_LABEL}', "
            f"but got {names[0]!r}"
        )
    first_class_number = 2 if names[0] == IGNORE_LABEL else 1
    if first_class_number == 2 and (len(names) < 2 or names[1] != BACKGROUND_LABEL):
        got = repr(names[1]) if len(names) > 1 else "nothing"
        raise LabelsError(
            f"{source} {entry} 2 must be '{BACKGROUND_LABEL}' (class id 0) after "
            f"'{IGNORE_LABEL}', but got {got}"
        )
    class_names = names[first_class_number - 1 :]
    seen: dict[str, int] = {}
    for class_id, name in enumerate(class_names):
        number = first_class_number + class_id
        where = f"{source} {entry} {number}"
        if not name:
            raise LabelsError(f"{where} is blank: remove it, class ids must be consecutive")
        if name == IGNORE_LABEL:
            raise LabelsError(f"{where}: '{IGNORE_LABEL}' may only be the first {entry}")
        if name in seen:
            raise LabelsError(
                f"{where} repeats {name!r} from {entry} {seen[name]}: "
                "each class must be listed once"
            )
        if class_id >= MAX_CLASSES:
            raise LabelsError(
                f"{where}: {name!r} would get class id {class_id}, but ids "
                f"stop at {MAX_CLASSES - 1} because {IGNORE_ID} marks ignored pixels; "
                f"at most {MAX_CLASSES} names including '{BACKGROUND_LABEL}' fit"
            )
        seen[name] = number
    return LabelSet(class_names=tuple(class_names), source=source)


def load_labels(spec: str | Path) -> LabelSet:
    """Read a labels file, or parse a comma-separated list such as ``_background_,cat,dog``.

    ``spec`` is taken as a file when such a file exists or when it has no comma. Errors
    in a list name the entry (``--labels entry 2 ...``), counting from 1.
    """
    path = Path(spec)
    if path.is_file():
        text = read_utf8(path, LabelsError)
        return parse_labels(text, source=str(path))
    spec_text = str(spec)
    if "," not in spec_text:
        if path.exists():
            raise LabelsError(f"labels file {path} is not a regular file")
        raise LabelsError(
            f"labels file {path} does not exist; pass a labels file or a comma-separated "
            f"list such as '{BACKGROUND_LABEL},cat,dog'"
        )
    return _validate_names(spec_text.split(","), source="--labels", entry="entry")


def labels_from_names(used_labels: Iterable[str]) -> LabelSet:
    """A class list for labels found in annotations: ``_background_`` first, the rest sorted.

    Raises LabelsError for a label a labels file cannot hold (empty, surrounded by spaces,
    or spanning lines) and when there are more labels than class ids.
    """
    others = sorted(set(used_labels) - {IGNORE_LABEL, BACKGROUND_LABEL})
    for label in others:
        if not label or label != label.strip() or len(label.splitlines()) != 1:
            raise LabelsError(
                f"the annotations use the label {label!r}, which a labels file cannot hold "
                "(labels files strip spaces and hold one name per line); rename it in labelme"
            )
    if len(others) >= MAX_CLASSES:
        raise LabelsError(
            f"the annotations use {len(others)} labels besides '{BACKGROUND_LABEL}', but at "
            f"most {MAX_CLASSES - 1} classes fit into masks where {IGNORE_ID} marks ignored pixels"
        )
    return _validate_names([BACKGROUND_LABEL, *others], source="labels", entry="line")


@cache
def _voc_colormap() -> NDArray[np.uint8]:
    # PASCAL VOC's bit-interleaved colours, as imgviz.label_colormap computes them (a test
    # compares the two); computed here, because importing imgviz costs more than
    # converting dozens of images, in every worker process.
    ids = np.arange(256)
    colormap = np.zeros((256, 3), dtype=np.uint8)
    for bit in range(8):
        for channel in range(3):
            colormap[:, channel] |= (((ids >> (3 * bit + channel)) & 1) << (7 - bit)).astype(
                np.uint8
            )
    colormap.setflags(write=False)
    return colormap


def voc_colormap() -> NDArray[np.uint8]:
    """The PASCAL VOC colour map, ``(256, 3)`` uint8: row ``i`` is the colour of class ``i``.

    Row 255, the ignore colour, is (224, 224, 192) as in VOC.
    """
    return _voc_colormap()


def voc_palette() -> list[int]:
    """The VOC colour map flattened to the 768 values ``PIL.Image.putpalette`` expects."""
    return voc_colormap().flatten().tolist()


def colormap_with(palette: NDArray[np.uint8] | None) -> NDArray[np.uint8]:
    """``(256, 3)`` uint8: ``palette`` (``(K, 3)``, e.g. a checkpoint's class colours) for
    ids 0 to K-1 and the VOC colours for the other ids (ignore included); VOC when None."""
    if palette is None:
        return voc_colormap()
    colormap = voc_colormap().copy()
    colormap[: len(palette)] = palette
    return colormap
