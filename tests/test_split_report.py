"""Tests of annotool.split.report: the per-class table of a split."""

from __future__ import annotations

from pathlib import Path

from split_fixtures import make_dataset

from annotool.split import (
    format_split_table,
    split_dataset,
)


def test_format_split_table_flags_absent_classes(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "ds", {"a": [1], "b": [2], "c": [2], "d": []})
    table = format_split_table(split_dataset(layout.root, val=1, seed=0))
    assert table.splitlines() == [
        "class   all   share  train   share   val   share",
        "------  ---  ------  -----  -------  ---  -------",
        "0         4  100.0%      3  100.0%     1  100.0%",
        "1         1   25.0%      1   33.3%     0    0.0%!",
        "2         2   50.0%      1   33.3%     1  100.0%",
        "------  ---  ------  -----  -------  ---  -------",
        "images    4              3             1",
        "! 1 (1 image) is absent from val",
    ]
