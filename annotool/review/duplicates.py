"""Near-duplicate photos and the split leaks they make, by perceptual hash.

A photo's hash is the classic pHash: the photo in grey, shrunk to 32x32 (antialiased),
its 2-D DCT, and of the 8x8 lowest frequencies (the constant term left out of the median)
one bit per coefficient: above their median or not. Why this and not an embedding: it
needs no model and no download, takes a millisecond a photo, and is blind by construction
to what near-copies change: resizing and re-compression touch the high frequencies it
drops, and a brighter or darker copy shifts the constant term (not used) and scales the
others (the median scales with them). Measured on ``benchmarks/bench_review.py``'s 155
desk photos: its near-copies (60-85% of the size, JPEG quality 55-75, 10-25% brighter)
differ in 0-4 of the 64 bits from their originals; distinct photos in 10 or more (10: two
desks in front of the same backdrop photograph, 12 and more otherwise). Pairs at most
:data:`MAX_DISTANCE` bits apart are near-duplicates.

A pair is a leak when the photos sit in different parts of a split (train and val, or two
folds): a model validated on one has seen the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

HASH_SIDE = 32
"""The photo is shrunk to this many pixels square before the DCT."""
LOW_FREQUENCIES = 8
"""The hash keeps the 8x8 lowest frequencies: 64 bits."""
HASH_BITS = LOW_FREQUENCIES * LOW_FREQUENCIES
MAX_DISTANCE = 7
"""Most differing bits of a near-duplicate pair (copies: 0-4; distinct photos: 10 and more)."""


@dataclass(frozen=True)
class DuplicatePair:
    """Two photos showing the same scene; ``similarity`` is 1 - differing bits / 64.

    ``leak`` is True when a split puts them in different parts, False when in the same,
    None when no split is known for both."""

    stems: tuple[str, str]
    similarity: float
    leak: bool | None


def _dct_matrix(size: int) -> NDArray[np.float64]:
    """``(size, size)`` orthonormal DCT-II: ``matrix @ signal`` transforms a column."""
    rows = np.arange(size)[:, None]
    cols = np.arange(size)[None, :]
    matrix = np.cos(np.pi * (2 * cols + 1) * rows / (2 * size)) * np.sqrt(2.0 / size)
    matrix[0] /= np.sqrt(2.0)
    return matrix


_DCT = _dct_matrix(HASH_SIDE)


def perceptual_hash(pixels: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """The 64-bit pHash of an ``(H, W, 3)`` or ``(H, W)`` uint8 photo, as ``(64,)`` bools."""
    image = Image.fromarray(pixels).convert("L")
    small = image.resize((HASH_SIDE, HASH_SIDE), Image.Resampling.LANCZOS)
    grey = np.asarray(small, dtype=np.float64)
    spectrum = _DCT @ grey @ _DCT.T
    low = spectrum[:LOW_FREQUENCIES, :LOW_FREQUENCIES].ravel()
    return low > np.median(low[1:])


def near_duplicates(
    hashes: Mapping[str, NDArray[np.bool_]],
    split_of: Mapping[str, str] | None = None,
    max_distance: int = MAX_DISTANCE,
) -> list[DuplicatePair]:
    """Every pair of photos whose hashes differ in at most ``max_distance`` bits, most
    similar first (ties in stem order). ``split_of`` maps stems to the part of a split
    they are in (stems not in it: unknown), for the ``leak`` of each pair."""
    stems = sorted(hashes)
    if len(stems) < 2:
        return []
    bits = np.stack([hashes[stem] for stem in stems]).astype(np.uint8)
    pairs = []
    for first in range(len(stems) - 1):
        distances = np.count_nonzero(bits[first + 1 :] != bits[first], axis=1)
        for offset in np.flatnonzero(distances <= max_distance):
            second = first + 1 + int(offset)
            pair = (stems[first], stems[second])
            pairs.append(
                DuplicatePair(
                    stems=pair,
                    similarity=round(1.0 - int(distances[offset]) / HASH_BITS, 4),
                    leak=_leak(pair, split_of),
                )
            )
    return sorted(pairs, key=lambda pair: (-pair.similarity, pair.stems))


def _leak(pair: Sequence[str], split_of: Mapping[str, str] | None) -> bool | None:
    if split_of is None or any(stem not in split_of for stem in pair):
        return None
    return split_of[pair[0]] != split_of[pair[1]]
