"""How many folds a review makes, and what it says when the photos are too few."""

from __future__ import annotations

import pytest

from annotool.errors import ReviewError
from annotool.review.folds import choose_folds


@pytest.mark.parametrize(("photos", "folds"), [(4, 2), (5, 2), (6, 3), (150, 3)])
def test_default_folds(photos: int, folds: int) -> None:
    assert choose_folds(photos) == folds


def test_requested_folds_are_kept() -> None:
    assert choose_folds(50, 5) == 5


def test_too_few_photos_for_the_requested_folds_suggest_fewer() -> None:
    with pytest.raises(ReviewError, match=r"9 valid photos are too few for 5 folds.*--folds 4"):
        choose_folds(9, 5)


def test_too_few_photos_for_any_review_ask_for_more() -> None:
    with pytest.raises(ReviewError, match=r"3 valid photos are too few for 2 folds.*annotate more"):
        choose_folds(3)
