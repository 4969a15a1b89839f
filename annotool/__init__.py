"""annotool: labelme annotations to training-ready semantic-segmentation datasets.

The public API is pure Python over numpy and Pillow; it imports neither click nor torch.
Training lives in :mod:`annotool.train`, which needs the ``train`` extra.
"""

from __future__ import annotations

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

__version__ = "0.1.0"

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
