"""annotool.labelmap: reading maps, which entry applies, checks, fingerprint; and through
convert: an identity map changes no byte, a merge paints the union, a drop is as if the
shapes had never been drawn."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from export_factory import random_documents
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotool.convert import ConvertOptions, convert_dataset
from annotool.errors import LabelMapError
from annotool.labelmap import LabelMap, load_label_map, parse_label_map, read_map_file
from annotool.labels import IGNORE_ID, load_labels
from annotool.manifest import MANIFEST_FILE
from annotool.voc import read_label_png


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def pairs(label_map: LabelMap) -> list[tuple[str, str | None]]:
    return [(entry.old, entry.new) for entry in label_map.entries]


# --- reading maps ---


def test_yaml_map_keeps_order_lines_and_drops(tmp_path: Path) -> None:
    path = write(
        tmp_path / "map.yaml",
        "# merge the vehicles\ncar: vehicle\ntruck: vehicle\n"
        "blurry: __ignore__\nsky: _background_\nscribble:\nmistake: ~\nold: null\nempty: ''\n",
    )
    label_map = read_map_file(path)
    assert pairs(label_map) == [
        ("car", "vehicle"),
        ("truck", "vehicle"),
        ("blurry", "__ignore__"),
        ("sky", "_background_"),
        ("scribble", None),
        ("mistake", None),
        ("old", None),
        ("empty", None),
    ]
    assert [entry.line for entry in label_map.entries] == [2, 3, 4, 5, 6, 7, 8, 9]


def test_yaml_scalars_stay_label_names(tmp_path: Path) -> None:
    # YAML 1.1 would read these as numbers and booleans; labels are names.
    path = write(tmp_path / "map.yml", "1: one\nyes: 'no'\noff: 0.50\n'null': kept\n")
    assert pairs(read_map_file(path)) == [
        ("1", "one"),
        ("yes", "no"),
        ("off", "0.50"),
        ("null", "kept"),
    ]


def test_json_map(tmp_path: Path) -> None:
    path = write(tmp_path / "map.json", '{"car": "vehicle", "tree": null, "bush": ""}')
    assert pairs(read_map_file(path)) == [("car", "vehicle"), ("tree", None), ("bush", None)]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("map.json", '{"a": "x", "a": "y"}', r"'a' is mapped twice: .*map.json: 'a' -> 'x' and"),
        (
            "map.yaml",
            "a: x\nb: y\na: z\n",
            r"'a' is mapped twice: .*map.yaml line 1: .* line 3: 'a' -> 'z'; keep one",
        ),
        ("map.json", '{"car": 1}', r"map.json: 'car' maps to 1, but the new label must be"),
        ("map.json", '["car"]', r"must be a JSON object \{old: new\}"),
        ("map.json", "[]", r"must be a JSON object \{old: new\}, not an array"),
        ("map.json", '{"car": {"to": "x"}}', r"'car' maps to \{\"to\": \"x\"\}, but the new"),
        ("map.json", '{"car": "vehicle"', r"map.json: invalid JSON at line 1 column 18"),
        ("map.yaml", "car: [a, b]\n", r"map.yaml line 1: expected a label or null, not a list"),
        ("map.yaml", "car: vehicle\n  bad: indent\n", r"map.yaml: invalid YAML at line 2"),
        ("map.yaml", "- car\n- truck\n", r"map.yaml line 1: a label map must be a mapping"),
        ("map.yaml", "# nothing yet\n", r"map.yaml holds no entries"),
        ("map.yaml", "car: ' vehicle'\n", r"line 1: 'car' maps to ' vehicle', which a labels"),
        ("map.yaml", "'': vehicle\n", r"map.yaml line 1: a key must be a label"),
    ],
)
def test_invalid_map_files_are_refused_naming_file_and_entry(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    with pytest.raises(LabelMapError, match=message):
        read_map_file(write(tmp_path / name, text))


def test_map_file_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "map.yaml"
    path.write_bytes("car: véhicule\n".encode("latin-1"))
    with pytest.raises(LabelMapError, match=r"map.yaml is not UTF-8 text"):
        read_map_file(path)


def test_command_line_pairs_and_files_combine_in_order(tmp_path: Path) -> None:
    path = write(tmp_path / "map.yaml", "car: vehicle\n")
    label_map = load_label_map([str(path), "tree=", "ratio=a=b"])
    assert label_map is not None
    assert pairs(label_map) == [("car", "vehicle"), ("tree", None), ("ratio", "a=b")]
    assert str(label_map.entries[1]) == "--map tree=: 'tree' -> null (drop)"
    assert load_label_map([]) is None


def test_a_label_mapped_by_a_file_and_a_pair_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "map.yaml", "car: vehicle\n")
    with pytest.raises(LabelMapError, match=r"'car' is mapped twice: .*map.yaml line 1.* --map"):
        load_label_map([str(path), "car=auto"])


def test_a_value_that_is_neither_file_nor_pair_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LabelMapError, match=r"'missing.yaml': no such file, and not an OLD=NEW"):
        load_label_map(["missing.yaml"])


# --- which entry applies ---


def test_exact_keys_win_over_globs_and_the_first_glob_wins() -> None:
    label_map = parse_label_map({"car*": "vehicle", "car_toy": None, "c*": "c", "*": "other"})
    assert label_map.apply("car_toy") is None
    assert label_map.apply("car_red") == "vehicle"
    assert label_map.apply("cat") == "c"
    assert label_map.apply("dog") == "other"


def test_globs_are_case_sensitive_and_support_classes() -> None:
    label_map = parse_label_map({"[Cc]ar?": "vehicle"})
    assert label_map.apply("Cars") == label_map.apply("cars") == "vehicle"
    assert label_map.apply("CARS") == "CARS"
    assert label_map.apply("car") == "car"


def test_globs_leave_ignore_and_background_alone_but_exact_keys_map_them() -> None:
    label_map = parse_label_map({"*": "thing", "__ignore__": None})
    assert label_map.apply("_background_") == "_background_"
    assert label_map.apply("__ignore__") is None
    assert label_map.apply("cat") == "thing"


def test_a_map_is_applied_once_not_chained() -> None:
    label_map = parse_label_map({"a": "b", "b": "c"})
    assert (label_map.apply("a"), label_map.apply("b"), label_map.apply("x")) == ("b", "c", "x")


def test_unused_entries_are_those_applying_to_no_label() -> None:
    label_map = parse_label_map({"car": "vehicle", "car*": "vehicle", "bus": "vehicle"})
    unused = label_map.unused_entries(["car", "dog"])
    # car* matches "car", but the exact key takes it.
    assert [entry.old for entry in unused] == ["car*", "bus"]


def test_missing_classes_name_the_entry_and_the_labels_file(tmp_path: Path) -> None:
    labels = load_labels(write(tmp_path / "labels.txt", "__ignore__\n_background_\ncat\n"))
    label_map = load_label_map(
        [
            str(write(tmp_path / "map.yaml", "kitty: cat\ncar: vehicle\n")),
            "fog=__ignore__",
            "sky=_background_",
            "tree=",
            "bus=vehicle",
        ]
    )
    assert label_map is not None
    messages = [str(problem) for problem in label_map.missing_classes(labels)]
    assert messages == [
        f"{tmp_path / 'map.yaml'}: line 2: 'car' -> 'vehicle' maps to a class that is not in "
        f"{tmp_path / 'labels.txt'}; add 'vehicle' there or change the entry",
        f"--map bus=vehicle: 'bus' -> 'vehicle' maps to a class that is not in "
        f"{tmp_path / 'labels.txt'}; add 'vehicle' there or change the entry",
    ]
    with pytest.raises(LabelMapError, match=r"'car' -> 'vehicle'.*\n.*'bus' -> 'vehicle'"):
        label_map.require_classes(labels)


def test_fingerprint_follows_behaviour_not_spelling(tmp_path: Path) -> None:
    base = parse_label_map({"a": "x", "b": None, "c*": "y", "d*": "z"})
    reordered_exact = parse_label_map({"b": None, "c*": "y", "a": "x", "d*": "z"})
    from_file = read_map_file(write(tmp_path / "m.yaml", "b:\na: x\nc*: y\nd*: z\n"))
    assert base.fingerprint() == reordered_exact.fingerprint() == from_file.fingerprint()
    assert base.canonical() == [["a", "x"], ["b", None], ["c*", "y"], ["d*", "z"]]
    reordered_globs = parse_label_map({"a": "x", "b": None, "d*": "z", "c*": "y"})
    other_target = parse_label_map({"a": "x", "b": "", "c*": "y", "d*": "w"})
    assert base.fingerprint() != reordered_globs.fingerprint()
    assert base.fingerprint() != other_target.fingerprint()
    text = json.dumps(base.canonical(), ensure_ascii=False, separators=(",", ":"))
    assert base.fingerprint() == hashlib.sha256(text.encode()).hexdigest()


@given(
    mapping=st.dictionaries(
        st.sampled_from(["cat", "dog", "cow", "_background_", "__ignore__"]),
        st.one_of(st.none(), st.sampled_from(["cat", "pet", "__ignore__", "_background_"])),
    ),
    label=st.sampled_from(["cat", "dog", "cow", "_background_", "__ignore__", "bird"]),
)
def test_exact_maps_act_as_a_dict_lookup(mapping: dict[str, str | None], label: str) -> None:
    assert parse_label_map(mapping).apply(label) == mapping.get(label, label)


# --- through convert ---


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file's bytes but the manifest's, which records the map and the JSON's hashes."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != MANIFEST_FILE
    }


def convert(json_dir: Path, out_dir: Path, label_map: LabelMap | None) -> Path:
    labels = load_labels(json_dir / "labels.txt")
    options = ConvertOptions(visualizations=False, npy=True)
    convert_dataset(json_dir, out_dir, labels, options, label_map=label_map)
    return out_dir


def masks(out_dir: Path, folder: str) -> dict[str, np.ndarray]:
    return {path.stem: read_label_png(path) for path in sorted((out_dir / folder).glob("*.png"))}


CAT, DOG = 1, 2
"""Class ids in labelme_factory's labels.txt."""

maps_property = settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@maps_property
@given(seed=st.integers(0, 2**16))
def test_an_identity_map_writes_the_same_bytes(tmp_path_factory, seed: int) -> None:
    root = tmp_path_factory.mktemp("identity")
    json_dir = random_documents(root / "in", count=3, seed=seed)
    identity = parse_label_map(
        {"cat": "cat", "dog": "dog", "_background_": "_background_", "zebra*": None}
    )
    plain = tree_bytes(convert(json_dir, root / "plain", None))
    assert tree_bytes(convert(json_dir, root / "mapped", identity)) == plain


@maps_property
@given(seed=st.integers(0, 2**16))
def test_a_merge_paints_the_union_and_keeps_the_objects(tmp_path_factory, seed: int) -> None:
    root = tmp_path_factory.mktemp("merge")
    json_dir = random_documents(root / "in", count=3, seed=seed)
    plain = convert(json_dir, root / "plain", None)
    merged = convert(json_dir, root / "merged", parse_label_map({"cat": "dog"}))
    before, after = masks(plain, "SegmentationClass"), masks(merged, "SegmentationClass")
    for stem, mask in before.items():
        np.testing.assert_array_equal(after[stem], np.where(mask == CAT, DOG, mask))
    # Objects are keyed on the label as written: a cat and a dog stay two objects.
    assert masks(merged, "SegmentationObject").keys() == masks(plain, "SegmentationObject").keys()
    for stem, objects in masks(plain, "SegmentationObject").items():
        np.testing.assert_array_equal(masks(merged, "SegmentationObject")[stem], objects)


@maps_property
@given(seed=st.integers(0, 2**16))
def test_ignore_turns_the_class_pixels_into_ignore(tmp_path_factory, seed: int) -> None:
    root = tmp_path_factory.mktemp("ignore")
    json_dir = random_documents(root / "in", count=3, seed=seed)
    plain = convert(json_dir, root / "plain", None)
    ignored = convert(json_dir, root / "ignored", parse_label_map({"cat": "__ignore__"}))
    before = masks(plain, "SegmentationClass")
    for stem, mask in masks(ignored, "SegmentationClass").items():
        np.testing.assert_array_equal(mask, np.where(before[stem] == CAT, IGNORE_ID, before[stem]))
        objects = masks(plain, "SegmentationObject")[stem]
        np.testing.assert_array_equal(
            masks(ignored, "SegmentationObject")[stem], np.where(before[stem] == CAT, 0, objects)
        )


@maps_property
@given(seed=st.integers(0, 2**16))
def test_a_drop_is_as_if_the_shapes_had_never_been_drawn(tmp_path_factory, seed: int) -> None:
    root = tmp_path_factory.mktemp("drop")
    json_dir = random_documents(root / "in", count=3, seed=seed)
    dropped = convert(json_dir, root / "dropped", parse_label_map({"cat": None}))
    for path in json_dir.glob("*.json"):
        document = json.loads(path.read_text())
        document["shapes"] = [shape for shape in document["shapes"] if shape["label"] != "cat"]
        path.write_text(json.dumps(document))
    assert tree_bytes(dropped) == tree_bytes(convert(json_dir, root / "erased", None))
