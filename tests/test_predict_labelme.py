"""predict's output loop: labelme JSON (skip, merge, overwrite), and images that fail."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from labelme_schema import check_labelme_document
from numpy.typing import NDArray
from PIL import Image
from train_fixtures import one_torch_thread, save_untrained_checkpoint  # noqa: F401

from annotool.cli import main
from annotool.labelme_write import LabelmeOutput, ShapeOptions
from annotool.objects import ObjectThresholds
from annotool.polygons import TraceOptions
from annotool.train.inference import Predictor
from annotool.train.predict import labelme_json_path, predict_images

CLASS_NAMES = ("_background_", "cat", "dog")
HUMAN_SHAPE = {
    "label": "cat",
    "points": [[2.0, 2.0], [12.0, 2.0], [12.0, 12.0], [2.0, 12.0]],
    "group_id": None,
    "description": "drawn by a person",
    "shape_type": "polygon",
    "flags": {},
}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@dataclass
class FixedPredictor:
    """Predicts the same two objects for every image: a cat (confidence 0.95) at the top
    left, a dog (confidence 0.65, cat the runner-up) at the bottom right."""

    class_names: tuple[str, ...] = CLASS_NAMES
    object_thresholds: ObjectThresholds = field(default_factory=ObjectThresholds)
    checkpoint: None = None

    def probabilities(self, image: NDArray[np.uint8]) -> NDArray[np.float32]:
        height, width = image.shape[:2]
        probabilities = np.zeros((3, height, width), dtype=np.float32)
        probabilities[:] = np.array([0.98, 0.01, 0.01])[:, None, None]
        probabilities[:, 2:13, 2:13] = np.array([0.05, 0.9, 0.05])[:, None, None]
        probabilities[:, 20:30, 25:38] = np.array([0.35, 0.2, 0.45])[:, None, None]
        return probabilities


def photo(path: Path, height: int = 32, width: int = 40) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def truncated_jpeg(path: Path) -> Path:
    photo(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def human_document(image: Path) -> dict:
    return {
        "version": "5.7.0",
        "flags": {},
        "shapes": [HUMAN_SHAPE],
        "imagePath": image.name,
        "imageData": None,
        "imageHeight": 32,
        "imageWidth": 40,
    }


def labelme(existing: str = "skip", min_confidence: float | None = None) -> LabelmeOutput:
    trace = TraceOptions(tolerance=0)
    return LabelmeOutput(ShapeOptions(trace), existing, min_confidence=min_confidence)  # type: ignore[arg-type]


def test_labelme_json_goes_beside_the_image_with_predicted_shapes(tmp_path: Path) -> None:
    image = photo(tmp_path / "new" / "a.jpg")
    report = predict_images(FixedPredictor(), [image], None, labelme=labelme())  # type: ignore[arg-type]
    assert report.written == [tmp_path / "new" / "a.json"] and not report.failed
    document = json.loads(report.written[0].read_text())
    check_labelme_document(document, 32, 40)
    assert document["imagePath"] == "a.jpg"
    assert [(shape["label"], shape["description"]) for shape in document["shapes"]] == [
        (
            "dog",
            "annotool: predicted; mean probability dog 0.45, runner-up cat 0.20; confidence 0.65",
        ),
        (
            "cat",
            "annotool: predicted; mean probability cat 0.90, runner-up dog 0.05; confidence 0.95",
        ),
    ]
    assert (report.too_small, report.unsure) == (0, 0)


def test_mask_shapes_carry_the_prediction_losslessly(tmp_path: Path) -> None:
    image = photo(tmp_path / "a.jpg")
    output = LabelmeOutput(ShapeOptions(shape_type="mask"))
    report = predict_images(FixedPredictor(), [image], None, labelme=output)  # type: ignore[arg-type]
    document = json.loads(report.written[0].read_text())
    check_labelme_document(document, 32, 40)
    assert [(shape["shape_type"], shape["points"]) for shape in document["shapes"]] == [
        ("mask", [[25.0, 20.0], [37.0, 29.0]]),
        ("mask", [[2.0, 2.0], [12.0, 12.0]]),
    ]


def test_min_confidence_drops_unsure_regions(tmp_path: Path) -> None:
    image = photo(tmp_path / "a.jpg")
    output = labelme(min_confidence=0.7)
    report = predict_images(FixedPredictor(), [image], tmp_path / "out", labelme=output)  # type: ignore[arg-type]
    shapes = json.loads(report.written[0].read_text())["shapes"]
    assert [shape["label"] for shape in shapes] == ["cat"]
    assert json.loads(report.written[0].read_text())["imagePath"] == "../a.jpg"
    assert (report.too_small, report.unsure) == (0, 1)


def test_min_area_drops_small_objects(tmp_path: Path) -> None:
    image = photo(tmp_path / "a.jpg")
    output = LabelmeOutput(ShapeOptions(TraceOptions(tolerance=0)), min_area=122)
    report = predict_images(FixedPredictor(), [image], tmp_path / "out", labelme=output)  # type: ignore[arg-type]
    shapes = json.loads(report.written[0].read_text())["shapes"]
    assert [shape["label"] for shape in shapes] == ["dog"]  # 130 pixels; the cat has 121
    assert (report.too_small, report.unsure) == (1, 0)


@pytest.mark.parametrize("existing", ["skip", "merge", "overwrite"])
def test_an_existing_json_is_skipped_merged_or_replaced(tmp_path: Path, existing: str) -> None:
    image = photo(tmp_path / "a.jpg")
    json_path = labelme_json_path(image, None)
    json_path.write_text(json.dumps(human_document(image)))
    before = json_path.read_text()
    report = predict_images(FixedPredictor(), [image], None, labelme=labelme(existing))  # type: ignore[arg-type]
    shapes = json.loads(json_path.read_text())["shapes"]
    if existing == "skip":
        assert report.skipped == [image] and not report.written
        assert json_path.read_text() == before
    elif existing == "merge":
        # The predicted cat repeats the person's cat and is left out; the dog is new.
        assert [shape["label"] for shape in shapes] == ["dog", "cat"]
        assert shapes[-1] == HUMAN_SHAPE
    else:
        assert [shape["label"] for shape in shapes] == ["dog", "cat"]
        assert HUMAN_SHAPE not in shapes


def test_a_bad_image_is_reported_and_the_others_are_done(tmp_path: Path) -> None:
    images = [
        photo(tmp_path / "a.jpg"),
        truncated_jpeg(tmp_path / "b.jpg"),
        photo(tmp_path / "c.jpg"),
    ]
    unreadable_json = photo(tmp_path / "d.jpg")
    (tmp_path / "d.json").write_text("{broken")
    images.append(unreadable_json)
    report = predict_images(FixedPredictor(), images, None, labelme=labelme("merge"))  # type: ignore[arg-type]
    assert report.written == [tmp_path / "a.json", tmp_path / "c.json"]
    assert [path.name for path, _ in report.failed] == ["b.jpg", "d.jpg"]
    assert "cannot read image" in report.failed[0][1] and "b.jpg" in report.failed[0][1]
    assert "cannot merge into" in report.failed[1][1] and "--overwrite" in report.failed[1][1]
    assert (tmp_path / "d.json").read_text() == "{broken"


@pytest.fixture(scope="module")
def checkpoint_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained width-4 UNet saved as annotool saves checkpoints."""
    return save_untrained_checkpoint(tmp_path_factory.mktemp("checkpoint") / "best.pt", CLASS_NAMES)


def predict_cli(checkpoint: Path, *arguments: str) -> object:
    options = ["--device", "cpu", "--precision", "fp32", "-q"]
    return CliRunner().invoke(main, ["predict", str(checkpoint), *arguments, *options])


def test_cli_labelme_skip_merge_overwrite(checkpoint_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "new"
    for name in ("a.jpg", "b.png"):
        photo(folder / name)
    first = predict_cli(checkpoint_path, str(folder), "--labelme", "--min-area", "0")
    assert first.exit_code == 0, first.output
    assert "Wrote 2 labelme files beside the images" in first.output
    for name in ("a.json", "b.json"):
        document = json.loads((folder / name).read_text())
        check_labelme_document(document, 32, 40)
        assert all(
            shape["description"].startswith("annotool: predicted; mean probability ")
            for shape in document["shapes"]
        )
    (folder / "a.json").write_text(json.dumps(human_document(folder / "a.jpg")))
    again = predict_cli(checkpoint_path, str(folder), "--labelme")
    assert again.exit_code == 0, again.output
    assert "Skipped 2 images that already have a labelme JSON" in again.output
    merged = predict_cli(checkpoint_path, str(folder / "a.jpg"), "--labelme", "--merge")
    assert merged.exit_code == 0, merged.output
    assert json.loads((folder / "a.json").read_text())["shapes"][-1] == HUMAN_SHAPE
    replaced = predict_cli(checkpoint_path, str(folder / "a.jpg"), "--labelme", "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert HUMAN_SHAPE not in json.loads((folder / "a.json").read_text())["shapes"]


def test_cli_says_how_many_objects_it_left_out_and_why(
    checkpoint_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        Predictor, "probabilities", lambda _, image: FixedPredictor().probabilities(image)
    )
    image = photo(tmp_path / "a.jpg")
    default = predict_cli(checkpoint_path, str(image), "--labelme")
    assert default.exit_code == 0, default.output
    assert (
        "Left out 0 predicted objects: 0 too small, 0 too large, 0 with low confidence"
        in default.output
    )
    assert "minimum area 20 px, minimum confidence 0.00; default thresholds" in default.output
    assert len(json.loads((tmp_path / "a.json").read_text())["shapes"]) == 2
    stricter = predict_cli(
        checkpoint_path,
        str(image),
        "--labelme",
        "--overwrite",
        "--min-area",
        "122",
        "--min-confidence",
        "0.99",
    )
    assert stricter.exit_code == 0, stricter.output
    assert (
        "Left out 2 predicted objects: 1 too small, 0 too large, 1 with low confidence"
        in stricter.output
    )
    assert "minimum area 122 px, minimum confidence 0.99" in stricter.output
    assert json.loads((tmp_path / "a.json").read_text())["shapes"] == []
    smaller = predict_cli(
        checkpoint_path, str(image), "--labelme", "--overwrite", "--max-area", "125"
    )
    assert smaller.exit_code == 0, smaller.output
    assert "Left out 1 predicted objects: 0 too small, 1 too large" in smaller.output
    assert "maximum area 125 px" in smaller.output
    shapes = json.loads((tmp_path / "a.json").read_text())["shapes"]
    assert [shape["label"] for shape in shapes] == ["cat"]


@pytest.mark.parametrize("labelme_flag", [[], ["--labelme"]], ids=["masks", "labelme"])
def test_cli_names_a_truncated_image_and_does_the_rest(
    checkpoint_path: Path, tmp_path: Path, labelme_flag: list[str]
) -> None:
    photo(tmp_path / "in" / "a.jpg")
    truncated_jpeg(tmp_path / "in" / "b.jpg")
    photo(tmp_path / "in" / "c.jpg")
    result = predict_cli(
        checkpoint_path, str(tmp_path / "in"), "--out", str(tmp_path / "out"), *labelme_flag
    )
    assert result.exit_code == 1
    assert "b.jpg" in result.output and "1 of 3 images failed" in result.output
    assert "Traceback" not in result.output
    suffix = ".json" if labelme_flag else ".png"
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        f"a{suffix}",
        f"c{suffix}",
    ]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--merge"], "--merge needs --labelme"),
        (["--out", "o", "--min-area", "3"], "--min-area needs --labelme"),
        (["--out", "o", "--min-confidence", "0.5"], "--min-confidence needs --labelme"),
        (["--out", "o", "--max-area", "0"], "--max-area needs --labelme"),
        (["--labelme", "--merge", "--overwrite"], "--merge and --overwrite exclude each other"),
        (["--labelme", "--overlay"], "--overlay goes with masks"),
        ([], "give --out for the masks"),
    ],
)
def test_cli_refuses_options_that_do_not_go_together(
    checkpoint_path: Path, tmp_path: Path, arguments: list[str], message: str
) -> None:
    image = photo(tmp_path / "a.jpg")
    result = predict_cli(checkpoint_path, str(image), *arguments)
    assert result.exit_code == 2
    assert message in result.output
