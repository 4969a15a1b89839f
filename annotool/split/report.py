"""The per-class table of a split."""

from __future__ import annotations

from annotool.split.dataset import BACKGROUND_ID, SplitResult
from annotool.tables import text_table


def format_split_table(result: SplitResult) -> str:
    """The per-class table of image counts per split, with each split's share of images.

    A ``!`` marks a class missing from a split; the lines below the table name them.
    """
    sizes = result.split_sizes
    total = len(result.stems)
    headers = ["class", "all", "share"]
    for name in result.split_names:
        headers += [name, "share "]
    rows = []
    for row in result.classes:
        cells = [row.name, str(row.images), _share(row.images, total)]
        for count, size in zip(row.per_split, sizes, strict=True):
            flag = "!" if count == 0 and row.images > 0 and row.class_id != BACKGROUND_ID else " "
            cells += [str(count), _share(count, size) + flag]
        rows.append(cells)
    footer = ["images", str(total), ""]
    for size in sizes:
        footer += [str(size), ""]
    lines = [text_table(headers, rows, footer=[footer])]
    absent: dict[str, list[str]] = {}
    for row, split in result.absent():
        absent.setdefault(f"{row.name} ({row.images} image{'s' * (row.images != 1)})", []).append(
            split
        )
    for label, splits in absent.items():
        lines.append(f"! {label} is absent from {', '.join(splits)}")
    return "\n".join(lines)


def _share(count: int, total: int) -> str:
    return f"{100 * count / total:.1f}%" if total else "-"
