"""annotool: labelme annotations to training-ready semantic-segmentation datasets.

The public API is pure Python over numpy and Pillow; it imports neither click nor torch.
Training lives in :mod:`annotool.train`, which needs the ``train`` extra.

The names below are imported when first used, so ``import annotool`` (and reading
``annotool.__version__``) costs nothing: a command pays only for the modules it uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_PUBLIC = {
    "check_annotations": "annotool.check",
    "ConvertOptions": "annotool.convert",
    "convert_dataset": "annotool.convert",
    "AnnotationError": "annotool.errors",
    "AnnotoolError": "annotool.errors",
    "DatasetError": "annotool.errors",
    "LabelsError": "annotool.errors",
    "MissingDependencyError": "annotool.errors",
    "OutputExistsError": "annotool.errors",
    "SplitError": "annotool.errors",
    "LabelSet": "annotool.labels",
    "load_labels": "annotool.labels",
    "parse_labels": "annotool.labels",
    "voc_colormap": "annotool.labels",
    "read_label_png": "annotool.masks",
    "confusion_matrix": "annotool.metrics",
    "scores_from_confusion": "annotool.metrics",
    "split_dataset": "annotool.split",
    "compute_stats": "annotool.stats",
    "VocLayout": "annotool.voc",
    "write_label_png": "annotool.voc",
}
"""Each public name and the module that defines it."""

__all__ = [
    "AnnotationError",
    "AnnotoolError",
    "ConvertOptions",
    "DatasetError",
    "LabelSet",
    "LabelsError",
    "MissingDependencyError",
    "OutputExistsError",
    "SplitError",
    "VocLayout",
    "__version__",
    "check_annotations",
    "compute_stats",
    "confusion_matrix",
    "convert_dataset",
    "load_labels",
    "parse_labels",
    "read_label_png",
    "scores_from_confusion",
    "split_dataset",
    "voc_colormap",
    "write_label_png",
]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'annotool' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})


if TYPE_CHECKING:
    from annotool.check import check_annotations
    from annotool.convert import ConvertOptions, convert_dataset
    from annotool.errors import (
        AnnotationError,
        AnnotoolError,
        DatasetError,
        LabelsError,
        MissingDependencyError,
        OutputExistsError,
        SplitError,
    )
    from annotool.labels import LabelSet, load_labels, parse_labels, voc_colormap
    from annotool.masks import read_label_png
    from annotool.metrics import confusion_matrix, scores_from_confusion
    from annotool.split import split_dataset
    from annotool.stats import compute_stats
    from annotool.voc import VocLayout, write_label_png
