"""The exceptions annotool raises for problems in the user's input or environment.

Every message says what is wrong, where (file, line, shape index), and what to do.
The CLI turns these into one-line messages; nothing else should escape to the user.
Every exception class annotool defines lives here, the torch-side ones included (only
their raising code imports torch), so ``except AnnotoolError`` covers the whole package.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal


class AnnotoolError(Exception):
    """Base class of every error annotool reports to the user."""


class LabelsError(AnnotoolError):
    """The labels file (or comma-separated label list) is invalid."""


class LabelMapError(AnnotoolError):
    """A label map (``--map``) is invalid or does not fit the labels file."""


class AnnotationError(AnnotoolError):
    """A labelme annotation file, one of its shapes, or its image is invalid."""


class DatasetError(AnnotoolError):
    """A dataset directory on disk is missing something or is inconsistent."""


class ForeignFormatError(AnnotoolError):
    """A COCO or YOLO dataset to import into labelme is malformed or inconsistent."""


class OutputExistsError(AnnotoolError):
    """An output would overwrite existing files and overwriting was not asked for."""


class ManifestError(AnnotoolError):
    """``convert --update`` cannot reuse a dataset: no manifest, or one it cannot read."""


class SplitError(AnnotoolError):
    """A train/val/test split request cannot be satisfied."""


class MissingDependencyError(AnnotoolError):
    """An optional dependency (such as torch) is not installed."""

    @classmethod
    def torch(cls) -> MissingDependencyError:
        return cls(
            "training and prediction need PyTorch, which is not installed; "
            "install it with: pip install 'annotool[train]'"
        )


class ImageError(AnnotoolError):
    """An image file, or an image embedded in an annotation, cannot be read or decoded."""


class CheckpointError(AnnotoolError):
    """A checkpoint file is missing, unreadable or not an annotool checkpoint."""


class TrainingError(AnnotoolError):
    """Training cannot start or cannot go on (diverged, nothing to resume, bad options)."""


class DeviceError(AnnotoolError):
    """The requested device or precision is not available on this machine."""


class PredictInputError(AnnotoolError):
    """An input image for prediction is missing or unreadable."""


class ReviewError(AnnotoolError):
    """A review cannot run as asked (too few photos for its folds, clashing outputs)."""


class EncoderWeightsError(AnnotoolError):
    """Pretrained encoder weights cannot be downloaded, read, or do not fit the encoder."""


@dataclass(frozen=True)
class Problem:
    """One problem found in one input file, located as precisely as possible."""

    path: Path
    message: str
    shape_index: int | None = None
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = str(self.path)
        if self.shape_index is not None:
            where += f" shape {self.shape_index}"
        return f"{where}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        return {
            "file": str(self.path),
            "shape": self.shape_index,
            "severity": self.severity,
            "message": self.message,
        }


class InvalidInputError(AnnotoolError):
    """Checking the input found errors; ``problems`` lists every one of them."""

    def __init__(self, problems: list[Problem], summary: str) -> None:
        self.problems = problems
        errors = [problem for problem in problems if problem.severity == "error"]
        listing = "\n".join(f"  {problem}" for problem in errors)
        super().__init__(f"{summary}\n{listing}" if listing else summary)
