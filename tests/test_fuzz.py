"""Fuzzing the labelme reader, check and convert with broken copies of real labelme files.

Each input is a real annotation (``../shared/fixtures/labelme`` and the bundled example)
truncated or with random bytes replaced, inserted or deleted, next to its real image.
Whatever the bytes, annotool may only answer with an AnnotoolError (or succeed), and a
failed convert leaves nothing behind. The default run is short; for a long one:

    ANNOTOOL_FUZZ_EXAMPLES=20000 python -m pytest -q tests/test_fuzz.py
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import LABELME_FIXTURES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotool.check import check_annotations, labels_in_use
from annotool.convert import ConvertOptions, convert_dataset
from annotool.errors import AnnotoolError
from annotool.labelme import read_annotation
from annotool.labels import LabelSet, load_labels

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "shapes"
FUZZ_EXAMPLES = int(os.environ.get("ANNOTOOL_FUZZ_EXAMPLES", "150"))


@dataclass(frozen=True)
class Source:
    """A real labelme file, its folder (holding its image) and its labels."""

    json_path: Path
    labels: LabelSet


def real_sources() -> list[Source]:
    folders = [EXAMPLE, *sorted(LABELME_FIXTURES.glob("*/annotations"))]
    sources = []
    for folder in folders:
        labels_file = folder / "labels.txt" if folder == EXAMPLE else folder.parent / "labels.txt"
        labels = load_labels(labels_file)
        sources += [Source(path, labels) for path in sorted(folder.glob("*.json"))[:3]]
    return sources


SOURCES = real_sources()


@st.composite
def broken_copies(draw: st.DrawFn) -> tuple[Source, bytes]:
    """A real file truncated, or with 1 to 8 bytes replaced, inserted or deleted."""
    source = draw(st.sampled_from(SOURCES))
    data = bytearray(source.json_path.read_bytes())
    if draw(st.booleans()):
        return source, bytes(data[: draw(st.integers(0, len(data) - 1))])
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        action = draw(st.sampled_from(["replace", "insert", "delete"]))
        value = draw(st.integers(0, 255))
        if action == "replace" and data:
            data[position] = value
        elif action == "insert":
            data.insert(position, value)
        elif data:
            del data[position]
    return source, bytes(data)


def place_beside_its_image(source: Source, data: bytes, folder: Path) -> Path:
    """Write ``data`` as the annotation in ``folder``, with links to the source's images."""
    for image in source.json_path.parent.iterdir():
        if image.suffix.lower() != ".json":
            (folder / image.name).symlink_to(image)
    path = folder / source.json_path.name
    path.write_bytes(data)
    return path


@pytest.mark.skipif(not SOURCES, reason="no labelme files to fuzz")
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(broken=broken_copies())
def test_broken_labelme_files_give_only_annotool_errors(broken: tuple[Source, bytes]) -> None:
    source, data = broken
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        folder = root / "in"
        folder.mkdir()
        path = place_beside_its_image(source, data, folder)
        try:
            read_annotation(path, source.labels)
            check_annotations(folder, source.labels)
            labels_in_use(folder)
        except AnnotoolError as error:
            assert str(error)
        out = root / "out"
        try:
            convert_dataset(folder, out, source.labels, ConvertOptions(visualizations=False))
        except AnnotoolError as error:
            assert str(error)
            assert not out.exists()
        assert sorted(entry.name for entry in root.iterdir()) in (["in"], ["in", "out"])
