"""The conversion core: robustness on arbitrary input, and atomicity when killed."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from labelme_factory import make_dataset, photo
from PIL import Image
from test_cli_convert import tree_digest

from annotool.convert import ConvertOptions, convert_dataset
from annotool.errors import AnnotoolError
from annotool.labels import parse_labels

LABELS = parse_labels("__ignore__\n_background_\ncat\ndog\n")
HEIGHT, WIDTH = 12, 16


def _image_data() -> str:
    buffer = io.BytesIO()
    Image.fromarray(photo(HEIGHT, WIDTH)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


IMAGE_DATA = _image_data()

coordinates = st.one_of(
    st.floats(min_value=-30, max_value=50, allow_nan=False),
    st.integers(min_value=-30, max_value=50),
    st.sampled_from([float("nan"), float("inf"), "7", None, True, [1]]),
)
points = st.one_of(
    st.lists(st.lists(coordinates, min_size=2, max_size=2), max_size=6),
    st.lists(st.lists(coordinates, min_size=0, max_size=3), max_size=3),
    st.sampled_from([None, "points", 3, {}]),
)
shape_types = st.sampled_from(
    [
        "polygon",
        "rectangle",
        "circle",
        "line",
        "linestrip",
        "point",
        "oriented_rectangle",
        "mask",
        None,
        "blob",
        7,
    ]
)
labels = st.sampled_from(["cat", "dog", "_background_", "__ignore__", "cow", "", 3, None])
group_ids = st.one_of(st.none(), st.integers(-2, 3), st.sampled_from(["a", 1.5, [1]]))


def _mask_patch(size: int) -> str:
    buffer = io.BytesIO()
    Image.fromarray(np.ones((size, size), dtype=bool)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


masks = st.one_of(st.none(), st.sampled_from([_mask_patch(3), "not base64!", "aGVsbG8=", 5]))


@st.composite
def shape_dicts(draw: st.DrawFn) -> Any:
    shape: dict[str, Any] = {
        "label": draw(labels),
        "points": draw(points),
        "group_id": draw(group_ids),
        "shape_type": draw(shape_types),
        "flags": {},
    }
    if draw(st.booleans()):
        shape["mask"] = draw(masks)
    for key in draw(st.lists(st.sampled_from(["label", "points", "shape_type"]), max_size=1)):
        del shape[key]
    return draw(st.one_of(st.just(shape), st.sampled_from([None, [], "shape", 1])))


@st.composite
def documents(draw: st.DrawFn) -> Any:
    document: dict[str, Any] = {
        "version": "5.7.0",
        "flags": {},
        "shapes": draw(st.lists(shape_dicts(), max_size=5)),
        "imagePath": draw(st.sampled_from(["doc.png", "missing.png", "", None, 3])),
        "imageData": draw(st.sampled_from([IMAGE_DATA, None, "@@@", IMAGE_DATA[:40]])),
        "imageHeight": draw(st.sampled_from([HEIGHT, HEIGHT + 1, None, "12", -1])),
        "imageWidth": draw(st.sampled_from([WIDTH, None, 0])),
    }
    for key in draw(st.lists(st.sampled_from(sorted(document)), max_size=2)):
        document.pop(key, None)
    return draw(st.one_of(st.just(document), st.sampled_from([[], "text", None])))


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=documents(), truncate=st.booleans())
def test_convert_succeeds_or_reports_an_annotool_error(document: Any, truncate: bool) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary) / "in"
        folder.mkdir()
        Image.fromarray(photo(HEIGHT, WIDTH)).save(folder / "doc.png")
        text = json.dumps(document)
        (folder / "doc.json").write_text(text[: len(text) // 2] if truncate else text)
        out = Path(temporary) / "out"
        try:
            result = convert_dataset(folder, out, LABELS, ConvertOptions(npy=True))
        except AnnotoolError as error:
            assert str(error)
            assert not out.exists()
        else:
            assert result.converted == ["doc"]
            with Image.open(out / "SegmentationClass" / "doc.png") as mask:
                assert mask.size == (WIDTH, HEIGHT)


KILL_SCRIPT = """
import sys
from pathlib import Path
from annotool.convert import ConvertOptions, convert_dataset
from annotool.labels import load_labels
json_dir, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
labels = load_labels(json_dir / "labels.txt")
options = ConvertOptions(visualizations=False)
convert_dataset(json_dir, out_dir, labels, options, overwrite=True, workers=2)
"""


def test_killed_conversion_leaves_no_corrupt_output(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=3)
    for copy in range(80):
        for source in sorted(annotations.glob("image*.json")):
            stem = f"copy{copy:03d}_{source.stem}"
            document = json.loads(source.read_text())
            document["imagePath"] = f"{stem}.jpg"
            (annotations / f"{stem}.json").write_text(json.dumps(document))
            shutil.copy(annotations / f"{source.stem}.jpg", annotations / f"{stem}.jpg")
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(annotations), str(out)], start_new_session=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        staged = [path for path in tmp_path.iterdir() if "annotool-tmp" in path.name]
        if staged and len(list(staged[0].glob("SegmentationClass/*.png"))) >= 20:
            break
        time.sleep(0.02)
    assert process.poll() is None, "the conversion finished before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()

    assert not out.exists(), "a killed run must not leave a dataset at OUT_DIR"

    rerun = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(annotations), str(out)])
    assert rerun.returncode == 0
    fresh = tmp_path / "fresh"
    convert_dataset(annotations, fresh, LABELS, ConvertOptions(visualizations=False), workers=1)
    assert tree_digest(out) == tree_digest(fresh)
    assert not [path for path in tmp_path.iterdir() if "annotool-tmp" in path.name]
