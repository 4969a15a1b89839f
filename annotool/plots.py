"""Figures written as PNG: the one figure-to-PNG writer and the charts the reports draw.

matplotlib is imported only inside these functions: it is slow to import and only plots
need it. Figures use the object API with an explicit Agg canvas (no pyplot, no global
state, no display), and PNGs carry no metadata, so the same data gives the same bytes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from annotool.fileio import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_ANNOTATED_CELLS = 12
"""Up to this many classes, the confusion heatmap writes counts and percentages in its cells."""


def new_figure(width: float, height: float) -> Figure:
    """An empty ``width`` x ``height`` inch figure at 100 dpi on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def figure_png(figure: Figure) -> bytes:
    """The figure as PNG bytes, without the metadata (matplotlib version) that would make
    equal figures differ between installations."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def write_figure_png(figure: Figure, path: Path) -> None:
    """Write :func:`figure_png` to ``path`` atomically."""
    atomic_write_bytes(Path(path), figure_png(figure))


@dataclass(frozen=True)
class BarPanel:
    """One bar panel: axis label, one value per bar, and the text printed at each bar."""

    axis_label: str
    values: list[float]
    bar_labels: list[str]
    integer_axis: bool


def bar_panels_png(
    title: str,
    names: Sequence[str],
    colours: Sequence[tuple[float, float, float]],
    panels: Sequence[BarPanel],
) -> bytes:
    """Horizontal bar panels side by side sharing the ``names`` axis, as PNG bytes.

    ``colours`` gives each bar's RGB colour on a 0-1 scale, one per name.
    """
    from matplotlib.ticker import MaxNLocator

    figure = new_figure(11, 1.5 + 0.32 * max(len(names), 1))
    figure.suptitle(title)
    axes = figure.subplots(1, len(panels), sharey=True)
    positions = list(range(len(names)))
    for ax, panel in zip(axes, panels, strict=True):
        bars = ax.barh(positions, panel.values, color=colours, edgecolor="0.25", linewidth=0.6)
        ax.bar_label(bars, labels=panel.bar_labels, padding=3, fontsize=8)
        ax.set_xlabel(panel.axis_label)
        if panel.integer_axis:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.margins(x=0.15)
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)
    axes[0].set_yticks(positions, labels=list(names))
    axes[0].invert_yaxis()
    return figure_png(figure)


def confusion_heatmap_png(
    confusion: NDArray[np.int64], class_names: Sequence[str], title: str
) -> bytes:
    """A heatmap of the row-normalized ``(C, C)`` confusion matrix (rows = ground truth).

    Each cell shows the share of the row's ground-truth pixels; with few classes the cells
    also give that percentage and the pixel count. Rows without ground truth are grey, n/a.
    """
    from matplotlib import colormaps

    num_classes = len(class_names)
    row_totals = confusion.sum(axis=1, keepdims=True)
    shares = np.full(confusion.shape, np.nan)
    np.divide(confusion, row_totals, out=shares, where=row_totals > 0)

    side = min(4.0 + 0.6 * num_classes, 24.0)
    figure = new_figure(side + 1.5, side)
    axes = figure.add_subplot()
    colormap = colormaps["Blues"].with_extremes(bad="0.85")
    heatmap = axes.imshow(shares, cmap=colormap, vmin=0.0, vmax=1.0, interpolation="nearest")
    figure.colorbar(heatmap, ax=axes, label="share of ground-truth pixels (row)")
    ticks = np.arange(num_classes)
    axes.set_xticks(ticks, labels=class_names, rotation=45, ha="right")
    axes.set_yticks(ticks, labels=class_names)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("ground-truth class")
    axes.set_title(title)
    if num_classes <= MAX_ANNOTATED_CELLS:
        for row in range(num_classes):
            for column in range(num_classes):
                share = shares[row, column]
                text = "n/a" if math.isnan(share) else f"{share:.1%}\n{int(confusion[row, column])}"
                axes.text(
                    column,
                    row,
                    text,
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if share > 0.5 else "black",
                )
    return figure_png(figure)
