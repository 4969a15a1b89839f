"""Labels files and comma lists: what is accepted, what is refused and how it is worded."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from annotool.errors import LabelsError
from annotool.labels import (
    BACKGROUND_LABEL,
    IGNORE_ID,
    IGNORE_ID_NPY,
    IGNORE_LABEL,
    MAX_CLASSES,
    labels_from_names,
    load_labels,
    parse_labels,
    voc_colormap,
    voc_palette,
)


def numbered_names(count: int) -> list[str]:
    return [f"class{number}" for number in range(1, count + 1)]


@pytest.mark.parametrize(
    "text",
    [
        "__ignore__\n_background_\ncat\ndog\n",
        "_background_\ncat\ndog",
        "\ufeff__ignore__\n_background_\ncat\ndog\n",
        "__ignore__\r\n_background_\r\ncat\r\ndog\r\n",
        "__ignore__\n_background_\ncat\ndog\n\n  \n\n",
        "\ufeff_background_\r\n  cat  \r\ndog\t\r\n\r\n",
    ],
    ids=["plain", "no-ignore-line", "bom", "crlf", "trailing-blank-lines", "bom-crlf-spaces"],
)
def test_parse_labels_accepts_common_file_variants(text: str) -> None:
    labels = parse_labels(text)
    assert labels.class_names == (BACKGROUND_LABEL, "cat", "dog")
    assert labels.num_classes == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"^labels\.txt is empty"),
        ("\n\n  \n", r"^labels\.txt is empty"),
        (
            "cat\n_background_\n",
            r"^labels\.txt line 1 must be '__ignore__' or '_background_', but got 'cat'$",
        ),
        (
            "__ignore__\ncat\n_background_\n",
            r"^labels\.txt line 2 must be '_background_' \(class id 0\) after '__ignore__', "
            r"but got 'cat'$",
        ),
        ("__ignore__\n", r"^labels\.txt line 2 must be '_background_'.*but got nothing$"),
        (
            "__ignore__\n_background_\ncat\n__ignore__\n",
            r"^labels\.txt line 4: '__ignore__' may only be the first line$",
        ),
        (
            "_background_\ncat\ndog\ncat\n",
            r"^labels\.txt line 4 repeats 'cat' from line 2: each class must be listed once$",
        ),
        (
            "__ignore__\n_background_\ncat\n_background_\n",
            r"^labels\.txt line 4 repeats '_background_' from line 2",
        ),
        (
            "__ignore__\n_background_\ncat\n\ndog\n",
            r"^labels\.txt line 4 is blank: remove it, class ids must be consecutive$",
        ),
    ],
    ids=[
        "empty",
        "only-blank-lines",
        "first-line-not-ignore-or-background",
        "ignore-not-followed-by-background",
        "ignore-alone",
        "ignore-later",
        "duplicate",
        "duplicate-background",
        "blank-between-classes",
    ],
)
def test_parse_labels_refuses_with_line_number(text: str, message: str) -> None:
    with pytest.raises(LabelsError, match=message):
        parse_labels(text)


def test_parse_labels_names_the_source() -> None:
    with pytest.raises(LabelsError, match=r"^data/my labels\.txt line 1 "):
        parse_labels("cat\n", source="data/my labels.txt")


@pytest.mark.parametrize("ignore_line", [True, False], ids=["with-ignore", "without-ignore"])
def test_parse_labels_accepts_exactly_255_names(ignore_line: bool) -> None:
    names = [BACKGROUND_LABEL, *numbered_names(MAX_CLASSES - 1)]
    text = "\n".join([IGNORE_LABEL, *names] if ignore_line else names)
    labels = parse_labels(text)
    assert labels.num_classes == 255
    assert labels.class_id("class254") == 254


@pytest.mark.parametrize(
    ("ignore_line", "line"), [(True, 257), (False, 256)], ids=["with-ignore", "without-ignore"]
)
def test_parse_labels_refuses_256_names_naming_the_line(ignore_line: bool, line: int) -> None:
    names = [BACKGROUND_LABEL, *numbered_names(MAX_CLASSES)]
    text = "\n".join([IGNORE_LABEL, *names] if ignore_line else names)
    with pytest.raises(
        LabelsError,
        match=rf"^labels\.txt line {line}: 'class255' would get class id 255, but ids stop at 254",
    ):
        parse_labels(text)


def test_class_ids_follow_the_lines_after_background() -> None:
    labels = parse_labels("__ignore__\n_background_\ncat\ndog\n")
    assert labels.class_id(BACKGROUND_LABEL) == 0
    assert labels.class_id("cat") == 1
    assert labels.class_id("dog") == 2
    assert labels.class_id(IGNORE_LABEL) == IGNORE_ID_NPY
    assert labels.class_id("horse") is None


def test_contains_knows_classes_and_ignore_only() -> None:
    labels = parse_labels("_background_\ncat\n")
    assert "cat" in labels
    assert BACKGROUND_LABEL in labels
    assert IGNORE_LABEL in labels
    assert "dog" not in labels
    assert "Cat" not in labels
    assert ["cat"] not in labels
    assert 1 not in labels


@pytest.mark.parametrize(
    "text",
    ["_background_\n", "__ignore__\n_background_\ncat\ndog\n", "\ufeff_background_\r\nb\r\na\r\n"],
    ids=["background-only", "two-classes", "bom-crlf-unsorted"],
)
def test_to_text_round_trips(text: str) -> None:
    labels = parse_labels(text)
    written = labels.to_text()
    assert written.startswith(f"{IGNORE_LABEL}\n{BACKGROUND_LABEL}\n")
    assert written.endswith("\n")
    assert parse_labels(written).class_names == labels.class_names


def test_load_labels_reads_a_file_and_names_it(tmp_path: Path) -> None:
    path = tmp_path / "labels.txt"
    path.write_bytes(b"\xef\xbb\xbf__ignore__\r\n_background_\r\nchat\xc3\xa9\r\n\r\n")
    labels = load_labels(path)
    assert labels.class_names == (BACKGROUND_LABEL, "chaté")
    assert labels.source == str(path)
    assert load_labels(str(path)) == labels


def test_load_labels_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "labels.txt"
    path.write_text("_background_\ncat\ncat\n", encoding="utf-8")
    with pytest.raises(LabelsError, match=rf"^{path} line 3 repeats 'cat' from line 2"):
        load_labels(path)


def test_load_labels_prefers_an_existing_file_with_a_comma(tmp_path: Path) -> None:
    path = tmp_path / "cats,dogs.txt"
    path.write_text("_background_\ncat\n", encoding="utf-8")
    assert load_labels(path).class_names == (BACKGROUND_LABEL, "cat")


@pytest.mark.parametrize(
    ("spec", "names"),
    [
        ("_background_,cat,dog", (BACKGROUND_LABEL, "cat", "dog")),
        ("__ignore__,_background_,cat", (BACKGROUND_LABEL, "cat")),
        (" _background_ , cat ,dog,", (BACKGROUND_LABEL, "cat", "dog")),
    ],
    ids=["plain", "with-ignore", "spaces-and-trailing-comma"],
)
def test_load_labels_parses_a_comma_list(spec: str, names: tuple[str, ...]) -> None:
    labels = load_labels(spec)
    assert labels.class_names == names
    assert labels.source == "--labels"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("cat,dog", r"^--labels entry 1 must be '__ignore__' or '_background_', but got 'cat'$"),
        ("__ignore__,cat", r"^--labels entry 2 must be '_background_'"),
        ("_background_,cat,dog,cat", r"^--labels entry 4 repeats 'cat' from entry 2"),
        ("_background_,,cat", r"^--labels entry 2 is blank"),
        ("_background_,cat,__ignore__", r"^--labels entry 3: '__ignore__' may only be the first"),
        (",", r"^--labels is empty"),
    ],
    ids=["first-entry", "ignore-then-class", "duplicate", "blank", "ignore-later", "empty"],
)
def test_load_labels_comma_list_errors_name_the_entry(spec: str, message: str) -> None:
    with pytest.raises(LabelsError, match=message):
        load_labels(spec)


def test_load_labels_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "labels.txt"
    with pytest.raises(
        LabelsError,
        match=rf"^labels file {missing} does not exist; pass a labels file or a comma-separated "
        r"list such as '_background_,cat,dog'$",
    ):
        load_labels(missing)


def test_load_labels_refuses_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "labels.txt"
    path.write_bytes("_background_\nchaté\n".encode("latin-1"))
    with pytest.raises(LabelsError, match=rf"^{path} is not UTF-8 text .*at byte 17.*save it as"):
        load_labels(path)


def test_load_labels_refuses_a_directory(tmp_path: Path) -> None:
    with pytest.raises(LabelsError, match=rf"^labels file {tmp_path} is not a regular file$"):
        load_labels(tmp_path)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_load_labels_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "labels.txt"
    path.write_text("_background_\n", encoding="utf-8")
    path.chmod(0)
    with pytest.raises(LabelsError, match=rf"^cannot read labels file {path}: Permission denied"):
        load_labels(path)


def test_labels_from_names_puts_background_first_then_sorted() -> None:
    labels = labels_from_names(["dog", "cat", IGNORE_LABEL, "dog", BACKGROUND_LABEL, "Zebra"])
    assert labels.class_names == (BACKGROUND_LABEL, "Zebra", "cat", "dog")
    assert labels.to_text() == "__ignore__\n_background_\nZebra\ncat\ndog\n"


def test_labels_from_names_without_labels_is_background_only() -> None:
    assert labels_from_names([]).class_names == (BACKGROUND_LABEL,)


@pytest.mark.parametrize(
    "label",
    ["", "cat ", " cat", "two\nlines"],
    ids=["empty", "trailing-space", "leading", "newline"],
)
def test_labels_from_names_refuses_labels_a_file_cannot_hold(label: str) -> None:
    with pytest.raises(LabelsError, match=r"which a labels file cannot hold.*rename it in labelme"):
        labels_from_names(["cat", label])


def test_labels_from_names_limits_the_number_of_classes() -> None:
    assert labels_from_names(numbered_names(254)).num_classes == 255
    with pytest.raises(
        LabelsError,
        match=r"^the annotations use 255 labels besides '_background_', but at most 254",
    ):
        labels_from_names(numbered_names(255))


def test_voc_colormap_rows() -> None:
    colormap = voc_colormap()
    assert colormap.shape == (256, 3)
    assert colormap.dtype == np.uint8
    assert colormap[0].tolist() == [0, 0, 0]
    assert colormap[1].tolist() == [128, 0, 0]
    assert colormap[2].tolist() == [0, 128, 0]
    assert colormap[IGNORE_ID].tolist() == [224, 224, 192]


def test_voc_colormap_is_labelmes() -> None:
    imgviz = pytest.importorskip("imgviz")
    np.testing.assert_array_equal(voc_colormap(), np.asarray(imgviz.label_colormap(), np.uint8))


def test_voc_colormap_is_read_only() -> None:
    with pytest.raises(ValueError, match="read-only"):
        voc_colormap()[0, 0] = 1
    assert voc_colormap()[0, 0] == 0


def test_voc_palette_is_the_flattened_colormap() -> None:
    palette = voc_palette()
    assert len(palette) == 768
    assert palette[:6] == [0, 0, 0, 128, 0, 0]
    assert palette[-3:] == [224, 224, 192]
    assert palette == voc_colormap().reshape(-1).tolist()
