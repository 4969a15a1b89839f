"""review(): a whole review of a tiny set, its files, and what it refuses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from review_fixtures import COPY_STEM, INVALID_STEM, PHOTOS, make_review_inputs, tiny_options

from annotool.errors import ReviewError
from annotool.fileio import TEMP_MARKER
from annotool.labels import load_labels
from annotool.review import run as review_run
from annotool.review.findings import KINDS
from annotool.review.labelme_copies import FLAG_PREFIX, SUGGESTION_PREFIX
from annotool.review.run import ReviewResult, relative_name, review


@dataclass
class Reviewed:
    inputs: Path
    out: Path
    copies: Path
    result: ReviewResult
    originals: dict[str, bytes]


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reviewed]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("review")
    inputs = make_review_inputs(root / "photos")
    originals = {path.name: path.read_bytes() for path in sorted(inputs.iterdir())}
    labels = load_labels(inputs / "labels.txt")
    options = tiny_options(labelme_dir=root / "copies", group_pattern=r"^(shapes)_(?:0000|copy)$")
    result = review(inputs, labels, root / "review", options)
    torch.set_num_threads(threads)
    yield Reviewed(inputs, root / "review", root / "copies", result, originals)


def test_review_json_follows_the_schema(reviewed: Reviewed) -> None:
    document = json.loads((reviewed.out / "review.json").read_text(encoding="utf-8"))
    assert document["schema_version"] == 1
    assert document["classes"] == ["_background_", "disc", "square", "triangle"]
    assert len(document["files"]) == PHOTOS + 1
    assert f"{INVALID_STEM}.json" not in document["files"]
    (skipped,) = document["skipped"]
    assert skipped["file"].endswith(f"{INVALID_STEM}.json")
    assert "unicorn" in skipped["problems"][0]
    scores = [issue["score"] for issue in document["issues"]]
    assert scores == sorted(scores, reverse=True)
    assert document["issues"], "an untrained model disagrees with something"
    for issue in document["issues"]:
        assert issue["kind"] in KINDS
        assert 0.0 <= issue["score"] <= 1.0
        assert issue["file"] in document["files"]
        x0, y0, x1, y1 = issue["bbox"]
        assert 0 <= x0 < x1 <= 96 and 0 <= y0 < y1 <= 80
        assert (issue["shape"] is None) == (issue["kind"] == "missing")
    assert len(document["folds"]) == 3
    assert sum(fold["val_images"] for fold in document["folds"]) == PHOTOS + 1


def test_the_near_copy_is_paired_and_its_fold_decides_the_leak(reviewed: Reviewed) -> None:
    (pair,) = reviewed.result.duplicates
    assert pair.stems == ("shapes_0000", COPY_STEM)
    assert pair.similarity > 0.9
    # --group keeps the two in one fold: no leak (without --group, leak would be None).
    assert pair.leak is False


def test_the_page_shows_every_finding_with_its_picture(reviewed: Reviewed) -> None:
    html = (reviewed.out / "index.html").read_text(encoding="utf-8")
    assert html.count('<article class="card') == len(reviewed.result.findings)
    for rank in range(1, len(reviewed.result.findings) + 1):
        assert (reviewed.out / "crops" / f"{rank:04d}.jpg").is_file()
    assert (reviewed.out / "photos" / f"{COPY_STEM}.jpg").is_file()
    assert "http://" not in html and "https://" not in html
    assert not (reviewed.out / ".work").exists()


def test_labelme_copies_flag_findings_and_leave_originals_alone(reviewed: Reviewed) -> None:
    assert {path.name: path.read_bytes() for path in reviewed.inputs.iterdir()} == (
        reviewed.originals
    )
    flagged_files = {finding.stem for finding in reviewed.result.findings}
    assert sorted(path.stem for path in reviewed.copies.glob("*.json")) == sorted(flagged_files)
    for finding in reviewed.result.findings:
        document = json.loads((reviewed.copies / f"{finding.stem}.json").read_text())
        assert (reviewed.copies / document["imagePath"]).resolve() == (
            reviewed.inputs / f"{finding.stem}.jpg"
        ).resolve()
        if finding.shape is not None:
            shape = document["shapes"][finding.shape]
            assert shape["flags"][FLAG_PREFIX + finding.kind] is True
            assert finding.kind in shape["description"]
        else:
            suggested = [s for s in document["shapes"] if s["label"].startswith(SUGGESTION_PREFIX)]
            assert suggested
            assert all(s["flags"] == {FLAG_PREFIX + "missing": True} for s in suggested)


def test_too_few_photos_for_the_folds_says_what_to_do(tmp_path: Path) -> None:
    inputs = make_review_inputs(tmp_path / "photos")
    labels = load_labels(inputs / "labels.txt")
    with pytest.raises(ReviewError, match=r"11 valid photos are too few for 6 folds.*--folds 5"):
        review(inputs, labels, tmp_path / "out", tiny_options(folds=6))
    assert list(tmp_path.iterdir()) == [inputs]


def test_labelme_copies_may_not_go_over_the_inputs(tmp_path: Path) -> None:
    inputs = make_review_inputs(tmp_path / "photos")
    labels = load_labels(inputs / "labels.txt")
    with pytest.raises(ReviewError, match="originals are never modified"):
        review(inputs, labels, tmp_path / "out", tiny_options(labelme_dir=inputs, overwrite=True))


def test_interrupted_review_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = make_review_inputs(tmp_path / "photos")
    labels = load_labels(inputs / "labels.txt")

    def interrupt(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(review_run, "fold_probabilities", interrupt)
    with pytest.raises(KeyboardInterrupt):
        review(inputs, labels, tmp_path / "out", tiny_options(labelme_dir=tmp_path / "copies"))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["photos"]
    assert not any(TEMP_MARKER in path.name for path in tmp_path.rglob("*"))


def test_files_are_named_relative_to_their_input_folder(tmp_path: Path) -> None:
    roots = [tmp_path / "photos", tmp_path / "photos" / "more"]
    assert relative_name(tmp_path / "photos" / "a" / "x.json", roots) == "a/x.json"
    assert relative_name(tmp_path / "photos" / "more" / "y.json", roots) == "y.json"
    assert relative_name(tmp_path / "elsewhere" / "z.json", roots) == "z.json"
