"""The review page's pictures and its template."""

from __future__ import annotations

import numpy as np

from annotool.review.page import (
    ANNOTATION_COLOUR,
    CROP_SIDE,
    MODEL_COLOUR,
    finding_picture,
    render_page,
)


def test_picture_outlines_the_shape_and_tints_the_model() -> None:
    photo = np.full((100, 200, 3), 128, dtype=np.uint8)
    annotated = np.zeros((100, 200), dtype=bool)
    annotated[40:60, 90:110] = True
    model = np.zeros((100, 200), dtype=bool)
    model[40:60, 100:120] = True
    picture = finding_picture(photo, (90, 40, 110, 60), annotated, model)
    assert max(picture.shape[:2]) == CROP_SIDE
    colours = {tuple(int(v) for v in pixel) for pixel in picture.reshape(-1, 3)}
    assert tuple(ANNOTATION_COLOUR.astype(int)) in colours
    assert tuple(MODEL_COLOUR.astype(int)) in colours
    assert (128, 128, 128) in colours  # the photo around them, untouched
    # The crop is centred on the finding: its middle is inside the shape, which is
    # not filled (only outlined) where the model sees nothing.
    height, width = picture.shape[:2]
    assert tuple(picture[height // 2, width // 2 - width // 20]) == (128, 128, 128)


def test_picture_of_a_finding_at_the_corner_stays_inside_the_photo() -> None:
    photo = np.zeros((50, 60, 3), dtype=np.uint8)
    none = np.zeros((50, 60), dtype=bool)
    picture = finding_picture(photo, (0, 0, 4, 3), None, none)
    assert picture.ndim == 3 and max(picture.shape[:2]) == CROP_SIDE


def test_page_escapes_names_and_needs_no_network() -> None:
    card = {
        "rank": 1,
        "picture": "crops/0001.jpg",
        "kind": "wrong_label",
        "kind_title": "wrong label",
        "label": "<script>alert(1)</script>",
        "suggested_label": 'say "dog"',
        "score": 0.9,
        "file": "a&b.json",
        "shape": 0,
        "bbox": [1, 2, 3, 4],
        "iou": None,
        "classes": ["<script>alert(1)</script>", 'say "dog"'],
    }
    html = render_page(
        {
            "cards": [card],
            "pairs": [],
            "kinds": [{"name": "wrong_label", "title": "wrong label", "count": 1}],
            "classes": ["<script>alert(1)</script>"],
            "photos": 1,
            "fold_mious": ["0.50", "0.60"],
            "leaks": 0,
        }
    )
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "a&amp;b.json" in html
    assert 'data-classes="[&#34;' in html
    assert 'src="http' not in html and 'href="http' not in html
    assert "No two photos look alike." in html
