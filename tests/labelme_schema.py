"""What labelme's loader requires of a document, checked the way labelme 5.3+ loads one."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from PIL import Image

DOCUMENT_KEYS = {
    "version",
    "flags",
    "shapes",
    "imagePath",
    "imageData",
    "imageHeight",
    "imageWidth",
}
SHAPE_KEYS = {"label", "points", "group_id", "description", "shape_type", "flags", "mask"}
SHAPE_TYPES = {"polygon", "rectangle", "circle", "line", "point", "linestrip", "mask"}


def check_labelme_document(document: dict[str, Any], height: int, width: int) -> None:
    """Assert that ``document`` is a labelme document for a ``height`` x ``width`` image
    with finite, in-image coordinates and polygons of at least 3 distinct points."""
    assert set(document) == DOCUMENT_KEYS
    assert isinstance(document["version"], str) and document["version"].count(".") == 2
    assert document["flags"] == {}
    assert isinstance(document["imagePath"], str) and "\\" not in document["imagePath"]
    assert document["imageData"] is None
    assert (document["imageHeight"], document["imageWidth"]) == (height, width)
    assert isinstance(document["shapes"], list)
    for shape in document["shapes"]:
        check_shape(shape, height, width)


def check_shape(shape: dict[str, Any], height: int, width: int) -> None:
    assert set(shape) == SHAPE_KEYS
    assert isinstance(shape["label"], str) and shape["label"]
    assert shape["shape_type"] in SHAPE_TYPES
    assert shape["group_id"] is None or isinstance(shape["group_id"], int)
    assert isinstance(shape["description"], str)
    assert isinstance(shape["flags"], dict)
    points = shape["points"]
    assert isinstance(points, list) and points
    for point in points:
        assert isinstance(point, list) and len(point) == 2
        assert all(isinstance(value, float) for value in point)
    array = np.array(points)
    assert np.all(np.isfinite(array))
    assert np.all((array >= 0) & (array < (width, height)))
    if shape["shape_type"] == "polygon":
        assert shape["mask"] is None
        assert len(np.unique(array, axis=0)) >= 3
    if shape["shape_type"] == "mask":
        assert len(points) == 2
        with Image.open(io.BytesIO(base64.b64decode(shape["mask"]))) as patch:
            assert patch.format == "PNG" and patch.mode == "L"
            values = np.asarray(patch)
        assert set(np.unique(values).tolist()) <= {0, 1}
        (left, top), (right, bottom) = array
        assert values.shape == (bottom - top + 1, right - left + 1)
