"""Class and instance masks as arrays: the one mask reader and the counts taken from masks.

A mask is an ``(H, W)`` uint8 array of class ids (or instance ids), 255 = ignore. Masks
are long runs of one value, so the counts here work on runs rather than on every pixel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from annotool.errors import DatasetError
from annotool.labels import IGNORE_ID

VALUES = 256
"""Distinct values of a uint8 mask."""
RUN_LENGTH_LIMIT = 8
"""Counting runs pays off while runs are at least this long on average."""


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
