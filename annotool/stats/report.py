"""Reports of statistics: text tables and the bar-chart PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from annotool.fileio import atomic_write_bytes
from annotool.labels import BACKGROUND_LABEL, IGNORE_ID, IGNORE_LABEL, voc_colormap
from annotool.plots import BarPanel, bar_panels_png
from annotool.stats.dataset import stem_list
from annotool.stats.labelme import LabelmeStats
from annotool.stats.results import DatasetStats, SizeSummary
from annotool.tables import text_table


def _percent(share: float) -> str:
    return f"{share * 100:.2f}%"


def _optional(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_table(stats: DatasetStats) -> str:
    """A plain-text report: images, the per-class table, splits and warnings."""
    images = stats.images
    scope = f"split {stats.split}" if stats.split else "all images"
    lines = [
        f"Dataset {stats.dataset} ({scope})",
        f"Images: {images.count}   height {_size(images.height)}   width {_size(images.width)}"
        f"   (min/median/max)",
        "Modes: " + ", ".join(f"{mode} {count}" for mode, count in images.modes.items()),
    ]
    if images.rgb_mean is not None and images.rgb_std is not None:
        lines.append(
            "RGB mean "
            + " ".join(f"{value:.4f}" for value in images.rgb_mean)
            + "   std "
            + " ".join(f"{value:.4f}" for value in images.rgb_std)
        )
    lines += ["", _class_table(stats)]
    lines.append(
        f"ignore: {_percent(stats.ignore_pixel_share)} of pixels   "
        f"background: {_percent(stats.background_pixel_share)}"
    )
    if stats.splits:
        lines += ["", "Images per split (* = class absent from the split)", _split_table(stats)]
    if stats.warnings:
        lines += ["", "Warnings:"] + [f"  - {warning}" for warning in stats.warnings]
    return "\n".join(lines)


def _size(summary: SizeSummary) -> str:
    return f"{summary.min}/{summary.median}/{summary.max}"


def _class_table(stats: DatasetStats) -> str:
    weights = stats.class_weights
    headers = ["id", "class", "pixels", "share", "images", "instances", "mean area",
               "min area", "w inv", "w median"]  # fmt: skip
    rows = [
        [
            str(item.id),
            item.name,
            str(item.pixels),
            _percent(item.pixel_share),
            str(item.images),
            "-" if item.instances is None else str(item.instances),
            _optional(item.mean_instance_area),
            "-" if item.min_instance_area is None else str(item.min_instance_area),
            f"{weights.inverse_frequency[item.id]:.3f}",
            f"{weights.median_frequency[item.id]:.3f}",
        ]
        for item in stats.classes
    ]
    return text_table(headers, rows, left=(1,))


def _split_table(stats: DatasetStats) -> str:
    names = list(stats.splits)
    rows = []
    for item in stats.classes:
        cells = [item.name]
        for name in names:
            count = stats.splits[name][item.name]
            cells.append(f"{count} *" if item.images and not count else f"{count}  ")
        rows.append(cells)
    return text_table(["class", *(f"{name}  " for name in names)], rows)


def plot_stats(stats: DatasetStats | LabelmeStats, path: Path) -> None:
    """Write a PNG with two bar panels, atomically.

    For a dataset: per-class pixel share and images per class, in VOC class colours.
    For a labelme folder: shapes and images per label (``_background_`` and
    ``__ignore__`` in their VOC colours, the other labels in alphabetical order).
    """
    if isinstance(stats, DatasetStats):
        names = [item.name for item in stats.classes]
        colour_ids = [item.id for item in stats.classes]
        shares = [item.pixel_share * 100 for item in stats.classes]
        left = BarPanel("Pixel share (%)", shares, [_share_label(share) for share in shares], False)
        right = _count_panel("Images containing the class", [c.images for c in stats.classes])
        title = stats.dataset + (f" (split {stats.split})" if stats.split else "")
    else:
        names = [item.label for item in stats.labels]
        colour_ids = _label_colour_ids(names)
        left = _count_panel("Shapes", [item.shapes for item in stats.labels])
        right = _count_panel("Images with the label", [item.images for item in stats.labels])
        title = f"{stats.folder} (labelme annotations)"
    palette = voc_colormap()
    colours = [_rgb(palette[index]) for index in colour_ids]
    atomic_write_bytes(Path(path), bar_panels_png(title, names, colours, (left, right)))


def _rgb(colour: Sequence[int]) -> tuple[float, float, float]:
    """A 0-255 RGB colour on matplotlib's 0-1 scale."""
    red, green, blue = (float(channel) / 255 for channel in colour)
    return red, green, blue


def _share_label(percent: float) -> str:
    if percent == 0:
        return "0"
    return "<0.01" if percent < 0.01 else f"{percent:.2f}"


def _count_panel(axis_label: str, counts: Sequence[int]) -> BarPanel:
    return BarPanel(axis_label, [float(count) for count in counts], [str(c) for c in counts], True)


def _label_colour_ids(labels: Sequence[str]) -> list[int]:
    special = {BACKGROUND_LABEL: 0, IGNORE_LABEL: IGNORE_ID}
    others = iter(range(1, IGNORE_ID))
    return [special[label] if label in special else next(others) for label in labels]


def format_labelme_table(stats: LabelmeStats) -> str:
    """A plain-text report of :func:`labelme_stats`."""
    types = list(stats.shape_types)
    headers = ["label", "shapes", "images", "instances", *types]
    rows = [
        [
            item.label,
            str(item.shapes),
            str(item.images),
            str(item.instances),
            *(str(item.shape_types.get(name, 0)) for name in types),
        ]
        for item in stats.labels
    ]
    total = sum(stats.shape_types.values())
    lines = [
        f"labelme folder {stats.folder}: {stats.files} files, {total} shapes "
        "(annotations only; convert the folder for pixel statistics)",
        "",
        text_table(headers, rows) if rows else "No shapes.",
    ]
    if stats.files_without_shapes:
        lines += ["", f"Files without shapes: {stem_list(stats.files_without_shapes)}"]
    if stats.problems:
        lines += ["", "Problems (invalid shapes and files are not counted):"]
        lines += [f"  - {message}" for message in stats.problems]
    return "\n".join(lines)
