"""Near-duplicate photos by perceptual hash, and leaks across a split."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image, ImageEnhance
from skimage import data

from annotool.review.duplicates import MAX_DISTANCE, near_duplicates, perceptual_hash

Photo = NDArray[np.uint8]


PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "moon", "brick", "grass")
"""scikit-image's sample photographs (shipped with it, no download)."""


def scene(seed: int) -> Photo:
    """A real photograph, a different one for each seed, as ``(H, W, 3)`` uint8."""
    pixels = getattr(data, PHOTOS[seed])()
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    return np.ascontiguousarray(pixels[..., :3])


def resized(pixels: NDArray[np.uint8], factor: float) -> NDArray[np.uint8]:
    image = Image.fromarray(pixels)
    size = (int(image.width * factor), int(image.height * factor))
    return np.asarray(image.resize(size, Image.Resampling.BILINEAR))


def recompressed(pixels: NDArray[np.uint8], quality: int) -> NDArray[np.uint8]:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def brighter(pixels: NDArray[np.uint8], factor: float) -> NDArray[np.uint8]:
    return np.asarray(ImageEnhance.Brightness(Image.fromarray(pixels)).enhance(factor))


def distance(first: NDArray[np.uint8], second: NDArray[np.uint8]) -> int:
    return int(np.count_nonzero(perceptual_hash(first) != perceptual_hash(second)))


@pytest.mark.parametrize(
    "change",
    [
        lambda pixels: resized(pixels, 0.5),
        lambda pixels: resized(pixels, 1.7),
        lambda pixels: recompressed(pixels, 30),
        lambda pixels: brighter(pixels, 1.25),
        lambda pixels: brighter(recompressed(resized(pixels, 0.6), 50), 0.8),
    ],
    ids=["smaller", "larger", "jpeg-30", "brighter", "all-three"],
)
def test_copies_hash_alike(change: Callable[[Photo], Photo]) -> None:
    for seed in range(len(PHOTOS)):
        assert distance(scene(seed), change(scene(seed))) <= MAX_DISTANCE


def test_distinct_photos_hash_apart() -> None:
    photos = [scene(seed) for seed in range(len(PHOTOS))]
    distances = [
        distance(photos[i], photos[j])
        for i in range(len(photos))
        for j in range(i + 1, len(photos))
    ]
    assert min(distances) > MAX_DISTANCE


def test_hash_is_64_bits_of_a_grey_image_too() -> None:
    bits = perceptual_hash(scene(0)[..., 0])
    assert bits.shape == (64,) and bits.dtype == bool


def test_pairs_and_leaks() -> None:
    hashes = {
        "a": perceptual_hash(scene(1)),
        "a_copy": perceptual_hash(brighter(scene(1), 1.2)),
        "b": perceptual_hash(scene(2)),
        "b_copy": perceptual_hash(resized(scene(2), 0.5)),
        "c": perceptual_hash(scene(3)),
    }
    split_of = {"a": "train", "a_copy": "val", "b": "train", "b_copy": "train"}
    pairs = near_duplicates(hashes, split_of)
    assert sorted(pair.stems for pair in pairs) == [("a", "a_copy"), ("b", "b_copy")]
    leaks = {pair.stems: pair.leak for pair in pairs}
    assert leaks == {("a", "a_copy"): True, ("b", "b_copy"): False}
    assert all(0.8 < pair.similarity <= 1.0 for pair in pairs)
    unknown = near_duplicates(hashes, {"a": "train"})
    assert {pair.leak for pair in unknown} == {None}
    assert near_duplicates({"a": hashes["a"]}) == []
