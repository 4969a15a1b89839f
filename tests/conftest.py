"""Shared fixtures: tiny labelme files written under ``tmp_path``, and the real fixtures."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from labelme_factory import write_annotation
from PIL import Image

LABELME_FIXTURES = Path(
    os.environ.get(
        "ANNOTOOL_LABELME_FIXTURES",
        Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "labelme",
    )
)
"""Real labelme datasets with the reference converter's output (``../shared`` of the repo,
or the folder ``ANNOTOOL_LABELME_FIXTURES`` names)."""

REQUIRE_FIXTURES = os.environ.get("ANNOTOOL_REQUIRE_FIXTURES") == "1"
"""Set by ``.ci/run``: CI must check parity, so missing fixtures fail instead of skipping."""

WriteLabelme = Callable[..., Path]


@pytest.fixture
def labelme_fixtures() -> Path:
    """The real labelme fixtures folder; when it is not there the test is skipped, or
    fails under ``ANNOTOOL_REQUIRE_FIXTURES=1``."""
    if not LABELME_FIXTURES.is_dir():
        message = f"labelme fixtures not found at {LABELME_FIXTURES}"
        if REQUIRE_FIXTURES:
            pytest.fail(f"{message} (ANNOTOOL_REQUIRE_FIXTURES=1)", pytrace=False)
        pytest.skip(message)
    return LABELME_FIXTURES


@pytest.fixture
def write_labelme(tmp_path: Path) -> WriteLabelme:
    """Write a labelme JSON file beside a generated image; returns the JSON's path.

    ``write_labelme(shapes, name="a", size=(H, W), image_suffix=".png", **fields)``: the
    image is a grey gradient of ``size``; ``fields`` override or add top-level JSON keys.
    """

    def write(
        shapes: list[dict[str, object]],
        name: str = "a",
        size: tuple[int, int] = (6, 8),
        image_suffix: str = ".png",
        **fields: object,
    ) -> Path:
        height, width = size
        gradient = np.arange(height * width, dtype=np.uint8).reshape(height, width)
        image = Image.fromarray(np.stack([gradient] * 3, axis=2))
        return write_annotation(
            tmp_path, name, shapes, height, width, image=image, image_suffix=image_suffix, **fields
        )

    return write
