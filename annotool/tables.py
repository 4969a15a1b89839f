"""Plain-text tables and lists for terminal reports and messages."""

from __future__ import annotations

from collections.abc import Sequence


def text_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    left: Sequence[int] = (0,),
    footer: Sequence[Sequence[str]] = (),
) -> str:
    """Columns padded to their widest cell under a dashed rule; columns in ``left`` align
    left, the others (numbers) right. ``footer`` rows (totals) follow a second rule."""
    widths = [
        max(len(cell) for cell in column) for column in zip(headers, *rows, *footer, strict=True)
    ]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.ljust(width) if index in left else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    rule = line(["-" * width for width in widths])
    lines = [line(headers), rule] + [line(row) for row in rows]
    if footer:
        lines += [rule] + [line(row) for row in footer]
    return "\n".join(lines)


def name_some(names: Sequence[str], limit: int, separator: str = ", ") -> str:
    """The first ``limit`` of ``names`` joined by ``separator``, then how many were left out:
    ``"a, b and 3 more"``; with a line break in ``separator`` the count gets its own line."""
    shown = separator.join(names[:limit])
    hidden = len(names) - limit
    if hidden <= 0:
        return shown
    joiner = separator if "\n" in separator else " "
    return f"{shown}{joiner}and {hidden} more"
