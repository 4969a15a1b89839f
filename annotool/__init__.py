"""annotool: labelme annotations to training-ready semantic-segmentation datasets.

The public API is pure Python over numpy and Pillow; it imports neither click nor torch.
Training lives in :mod:`annotool.train`, which needs the ``train`` extra.
"""

from __future__ import annotations

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
from annotool.voc import VocLayout, read_label_png, write_label_png

__version__ = "0.1.0"

__all__ = [
    "AnnotationError",
    "AnnotoolError",
    "DatasetError",
    "LabelSet",
    "LabelsError",
    "MissingDependencyError",
    "OutputExistsError",
    "SplitError",
    "VocLayout",
    "__version__",
    "load_labels",
    "parse_labels",
    "read_label_png",
    "voc_colormap",
    "write_label_png",
]
