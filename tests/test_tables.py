"""Tests of annotool.tables: text tables and shortened lists."""

from __future__ import annotations

import pytest

from annotool.tables import name_some, text_table


def test_text_table_pads_columns_and_aligns_numbers_right() -> None:
    table = text_table(["name", "n"], [["cat", "7"], ["bird", "12"]])
    assert table.splitlines() == ["name   n", "----  --", "cat    7", "bird  12"]


def test_text_table_footer_follows_a_second_rule_and_counts_for_widths() -> None:
    table = text_table(["name", "n"], [["cat", "7"]], footer=[["total", "1234"]])
    assert table.splitlines() == [
        "name      n",
        "-----  ----",
        "cat       7",
        "-----  ----",
        "total  1234",
    ]


@pytest.mark.parametrize(
    ("names", "limit", "separator", "expected"),
    [
        (["a", "b"], 3, ", ", "a, b"),
        (["a", "b", "c"], 3, ", ", "a, b, c"),
        (["a", "b", "c", "d", "e"], 3, ", ", "a, b, c and 2 more"),
        (["a", "b", "c"], 1, "\n  ", "a\n  and 2 more"),
        ([], 2, ", ", ""),
    ],
    ids=["fewer", "exactly", "more", "lines", "none"],
)
def test_name_some(names: list[str], limit: int, separator: str, expected: str) -> None:
    assert name_some(names, limit, separator) == expected
