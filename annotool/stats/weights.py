"""Class weights for the training loss, from pixel counts."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ClassWeights:
    """Loss weights per class id, two ways (see :func:`class_weights`)."""

    inverse_frequency: tuple[float, ...]
    median_frequency: tuple[float, ...]

    def to_dict(self) -> dict[str, list[float]]:
        return {
            "inverse_frequency": list(self.inverse_frequency),
            "median_frequency": list(self.median_frequency),
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> ClassWeights:
        """Read :meth:`to_dict`'s form back; raises ValueError for anything else."""
        return cls(
            inverse_frequency=weight_list(document, "inverse_frequency"),
            median_frequency=weight_list(document, "median_frequency"),
        )


def weight_list(document: Mapping[str, Any], key: str) -> tuple[float, ...]:
    values = document.get(key) if isinstance(document, Mapping) else None
    if not isinstance(values, list) or not all(
        isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
        for value in values
    ):
        raise ValueError(f"class_weights.{key} must be a list of numbers of 0 or more")
    return tuple(float(value) for value in values)


def class_weights(pixels: Sequence[int], labelled_pixels_with_class: Sequence[int]) -> ClassWeights:
    """Loss weights per class id from pixel counts; classes without pixels get 0.

    ``inverse_frequency``: ``n / (k * pixels[c])``, ``n`` the labelled (non-ignore)
    pixels and ``k`` the classes with pixels, so a perfectly balanced dataset gets 1
    everywhere (scikit-learn's "balanced" weighting).

    ``median_frequency`` (Eigen & Fergus, 2015): ``median(freq) / freq[c]`` with
    ``freq[c] = pixels[c] / labelled_pixels_with_class[c]``, the labelled pixels of the
    images that contain class ``c``; the median is over classes with pixels.
    """
    present = [count > 0 for count in pixels]
    labelled = sum(pixels)
    k = sum(present)
    inverse = [labelled / (k * count) if count else 0.0 for count in pixels]
    frequencies = [
        count / denominator if count else 0.0
        for count, denominator in zip(pixels, labelled_pixels_with_class, strict=True)
    ]
    positive = [frequency for frequency in frequencies if frequency > 0]
    median = statistics.median(positive) if positive else 0.0
    median_weights = [median / frequency if frequency else 0.0 for frequency in frequencies]
    return ClassWeights(tuple(inverse), tuple(median_weights))
