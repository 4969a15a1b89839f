"""Class and instance masks as arrays: the one mask reader, the counts taken from masks,
and the checks every command applies to them.

A mask is an ``(H, W)`` uint8 array of class ids (or instance ids), 255 = ignore. Masks
are long runs of one value, so the counts here work on runs rather than on every pixel.

The checks, shared by ``stats``, ``split``, ``train`` and ``evaluate``: :func:`read_label_png`
refuses RGB colour masks (masks hold class ids), :func:`unknown_class_ids` finds values
beyond ``class_names.txt`` (an error through :func:`check_class_ids` where they cannot be
used, a warning through :func:`unknown_ids_warning` where the data is only described),
and :func:`check_mask_size` names a mask whose size differs from its image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from annotool.errors import DatasetError
from annotool.labels import IGNORE_ID
from annotool.tables import name_some

VALUES = 256
"""Distinct values of a uint8 mask."""
RUN_LENGTH_LIMIT = 8
"""Counting runs pays off while runs are at least this long on average."""
LISTED_MASKS = 10
"""Most masks named in one warning; the rest are counted."""


def read_label_png(path: Path) -> NDArray[np.uint8]:
    """The pixel values of a label PNG as ``(H, W)`` uint8, palette indices as stored.

    Palettized (``P``) and greyscale (``L``) masks are read as their raw values; an RGB
    mask would give colours, not class ids, so it is refused with an explanation.
    """
    try:
        with Image.open(path) as image:
            if image.mode not in ("P", "L", "I", "I;16"):
                raise DatasetError(
                    f"{path} is a {image.mode} image; label masks must be palettized (mode P) "
                    "or greyscale PNGs whose pixel values are class ids"
                )
            values = np.asarray(image)
    except FileNotFoundError:
        raise DatasetError(f"mask {path} does not exist") from None
    except OSError as error:
        raise DatasetError(f"cannot read mask {path}: {error}") from None
    if values.dtype != np.uint8:
        if values.max(initial=0) > IGNORE_ID or values.min(initial=0) < 0:
            raise DatasetError(f"{path} has pixel values outside 0-255")
        values = values.astype(np.uint8)
    return values


def _run_starts(flat: NDArray[np.unsignedinteger]) -> NDArray[np.intp]:
    """``(R,)`` the index where each run of equal values in the 1-D array ``flat`` starts."""
    return np.concatenate(([0], np.flatnonzero(flat[1:] != flat[:-1]) + 1))


def runs(
    flat: NDArray[np.unsignedinteger],
) -> tuple[NDArray[np.unsignedinteger], NDArray[np.intp]]:
    """The value and length of each run of equal values in the 1-D array ``flat``."""
    starts = _run_starts(flat)
    return flat[starts], np.diff(starts, append=flat.size)


def value_counts(flat: NDArray[np.unsignedinteger], bins: int = VALUES) -> NDArray[np.int64]:
    """``(bins,)`` how often each value ``0..bins-1`` occurs in the 1-D array ``flat``.

    Masks are long runs of one value, and a plain ``np.bincount`` then stalls on
    incrementing the same counter again and again (about 7 ns a pixel); counting runs
    instead is some 30 times faster. Noisy inputs with many short runs use bincount.
    """
    values, lengths = runs(flat)
    if values.size > flat.size // RUN_LENGTH_LIMIT:
        return np.bincount(flat, minlength=bins).astype(np.int64, copy=False)
    # float64 weights are exact for counts below 2**53, far above any image size.
    return np.bincount(values, weights=lengths, minlength=bins).astype(np.int64)


def distinct_counts(
    flat: NDArray[np.unsignedinteger],
) -> tuple[NDArray[np.unsignedinteger], NDArray[np.int64]]:
    """The distinct values of the 1-D array ``flat``, sorted, and how often each occurs."""
    values, lengths = runs(flat)
    distinct, which = np.unique(values, return_inverse=True)
    return distinct, np.bincount(which, weights=lengths).astype(np.int64)


def class_presence(mask: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """``(IGNORE_ID,)``: which class ids 0-254 occur in an ``(H, W)`` uint8 mask."""
    pixels = mask.ravel()
    # Looking only at the first pixel of each run is several times faster than counting
    # every pixel (np.bincount, np.unique).
    present = np.zeros(VALUES, dtype=bool)
    present[pixels[_run_starts(pixels)] if pixels.size else pixels] = True
    return present[:IGNORE_ID]


def unknown_class_ids(present: NDArray[np.bool_], num_classes: int) -> list[int]:
    """The class ids ``num_classes..254`` marked in ``present`` (indexed by id; 255, ignore,
    is never unknown), sorted: the ids of a mask that ``class_names.txt`` does not name."""
    beyond = np.flatnonzero(present[num_classes:IGNORE_ID]) + num_classes
    return [int(class_id) for class_id in beyond]


def _ids(class_ids: list[int]) -> str:
    return f"class id{'s' * (len(class_ids) > 1)} {', '.join(map(str, class_ids))}"


def check_class_ids(
    mask: NDArray[np.uint8], path: Path, num_classes: int, source: str = "class_names.txt"
) -> None:
    """Raise DatasetError naming ``path`` and the values when the ``(H, W)`` mask holds
    class ids beyond the ``num_classes`` classes that ``source`` lists."""
    unknown = unknown_class_ids(class_presence(mask), num_classes)
    if unknown:
        raise DatasetError(
            f"{path} has {_ids(unknown)}, but {source} lists {num_classes} classes "
            f"(ids 0-{num_classes - 1}, {IGNORE_ID} = ignore); fix the mask, or convert "
            "again with a labels file that lists every class"
        )


def unknown_ids_warning(
    found: list[tuple[Path, list[int]]], num_classes: int, class_names_path: Path
) -> str:
    """One warning naming each mask and its ids beyond ``class_names_path``'s classes, for
    commands that describe the data rather than refuse it."""
    listed = [f"{path} ({_ids(class_ids)})" for path, class_ids in found]
    return (
        f"{len(found)} mask(s) hold class ids beyond the {num_classes} classes of "
        f"{class_names_path} (ids 0-{num_classes - 1}, {IGNORE_ID} = ignore): "
        f"{name_some(listed, LISTED_MASKS)}"
    )


def check_mask_size(
    mask_shape: tuple[int, ...], mask_path: Path, image_shape: tuple[int, ...], image_path: Path
) -> None:
    """Raise DatasetError naming both files when an ``(H, W)`` mask and its ``(H, W, ...)``
    image differ in size."""
    if tuple(mask_shape[:2]) != tuple(image_shape[:2]):
        raise DatasetError(
            f"{image_path} is {_size(image_shape)} but its mask {mask_path} is "
            f"{_size(mask_shape)} (width x height); image and mask must match in size"
        )


def _size(shape: tuple[int, ...]) -> str:
    return f"{shape[1]}x{shape[0]}"
