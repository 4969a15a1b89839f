"""Statistics of a segmentation dataset: image sizes and colours, class frequencies,
instances, splits, and class weights for the training loss.

:func:`compute_stats` (or :func:`dataset_stats`, given an opened layout and its stems)
reads every class mask (and instance mask and image) once, streaming: it keeps
fixed-size per-class counters and the list of image sizes, never the masks, so memory
does not grow with the number of images beyond a few integers each. The result is a
:class:`DatasetStats`; its JSON schema is documented in :mod:`annotool.stats.results`,
and :func:`read_stats_json` reads such a file back. Given a folder of labelme JSON files
instead, :func:`labelme_stats` reports annotation-level counts without converting.

Modules: ``tally`` (the streaming counters), ``dataset`` (choosing the images and
summarizing), ``results`` (the typed results and their JSON), ``weights`` (class
weights), ``labelme`` (labelme folders), ``report`` (text tables and the plot).
"""

from __future__ import annotations

from annotool.stats.dataset import (
    compute_stats,
    dataset_stats,
    is_labelme_dir,
    open_dataset,
    selected_stems,
)
from annotool.stats.labelme import LabelCount, LabelmeStats, labelme_stats
from annotool.stats.report import format_labelme_table, format_table, plot_stats
from annotool.stats.results import (
    SCHEMA_VERSION,
    ClassStats,
    DatasetStats,
    ImageStats,
    PixelCounts,
    SizeSummary,
    read_class_weights,
    read_stats_json,
    stats_to_json,
    write_stats_json,
)
from annotool.stats.weights import ClassWeights, class_weights

__all__ = [
    "SCHEMA_VERSION",
    "ClassStats",
    "ClassWeights",
    "DatasetStats",
    "ImageStats",
    "LabelCount",
    "LabelmeStats",
    "PixelCounts",
    "SizeSummary",
    "class_weights",
    "compute_stats",
    "dataset_stats",
    "format_labelme_table",
    "format_table",
    "is_labelme_dir",
    "labelme_stats",
    "open_dataset",
    "plot_stats",
    "read_class_weights",
    "read_stats_json",
    "selected_stems",
    "stats_to_json",
    "write_stats_json",
]
