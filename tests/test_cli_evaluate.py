"""``annotool evaluate``: scoring predicted masks or a model against a dataset split."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from numpy.typing import NDArray
from PIL import Image

from annotool.cli import main
from annotool.voc import VocLayout, write_label_png

CLASS_NAMES = ["_background_", "cat", "dog", "bird"]
# Ground truth and predictions per stem; "bird" is in neither, so its IoU is n/a.
GROUND_TRUTH = {
    "img1": np.array([[0, 0, 1, 1], [0, 255, 1, 1], [2, 2, 0, 0]], dtype=np.uint8),
    "img2": np.array([[1, 1, 0], [0, 0, 0]], dtype=np.uint8),
    "img3": np.array([[2, 2], [0, 0]], dtype=np.uint8),
}
PREDICTIONS = {
    "img1": np.array([[0, 1, 1, 1], [0, 2, 1, 0], [2, 0, 0, 0]], dtype=np.uint8),
    "img2": np.array([[1, 0, 0], [0, 0, 0]], dtype=np.uint8),
    "img3": np.array([[0, 0], [0, 0]], dtype=np.uint8),
}
# img1 + img2, ignore excluded: rows = ground truth.
VAL_CONFUSION = [[8, 1, 0, 0], [2, 4, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """A converted dataset: JPEGs, masks, class_names.txt, train (img3) and val (img1, img2)."""
    layout = VocLayout(tmp_path / "dataset")
    for stem, mask in GROUND_TRUTH.items():
        write_label_png(layout.class_mask_path(stem), mask)
        layout.images_dir.mkdir(parents=True, exist_ok=True)
        image = np.full((*mask.shape, 3), 90, dtype=np.uint8)
        Image.fromarray(image).save(layout.image_path(stem), quality=95)
    layout.write_class_names(CLASS_NAMES)
    layout.write_split("train", ["img3"])
    layout.write_split("val", ["img1", "img2"])
    return layout.root


@pytest.fixture
def predictions(tmp_path: Path) -> Path:
    folder = tmp_path / "pred"
    for stem, mask in PREDICTIONS.items():
        write_label_png(folder / f"{stem}.png", mask)
    return folder


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, ["evaluate", *map(str, args)])


def test_help_describes_both_modes() -> None:
    result = run("--help")
    assert result.exit_code == 0
    assert "[CHECKPOINT] DATASET_DIR" in result.output
    assert "--pred" in result.output
    assert "'all'" in result.output


def test_pred_prints_scores_and_confusion(dataset: Path, predictions: Path) -> None:
    result = run("--pred", predictions, dataset, "-q")
    assert result.exit_code == 0, result.output
    assert "Evaluated 2 images of split 'val'" in result.output
    # IoU: bg 8/(9+11-8), cat 4/(6+5-4), dog 1/(2+1-1); bird absent from both.
    miou = (8 / 12 + 4 / 7 + 1 / 2) / 3
    assert f"mIoU (with background)     {miou:.4f}" in result.output
    assert f"mIoU (without background)  {(4 / 7 + 1 / 2) / 2:.4f}" in result.output
    assert f"pixel accuracy             {13 / 17:.4f}" in result.output
    bird_row = next(line for line in result.output.splitlines() if " bird " in line)
    assert bird_row.split()[2:5] == ["n/a", "n/a", "n/a"]
    matrix_lines = result.output.split("rows = ground truth")[1].splitlines()[2:6]
    assert [[int(count) for count in line.split()[2:]] for line in matrix_lines] == VAL_CONFUSION


def test_pred_split_all_needs_no_split_files(dataset: Path, predictions: Path) -> None:
    for split_file in VocLayout(dataset).image_sets_dir.glob("*.txt"):
        split_file.unlink()
    result = run("--pred", predictions, dataset, "--split", "all", "-q")
    assert result.exit_code == 0, result.output
    assert "Evaluated 3 images of split 'all'" in result.output


def test_json_report_schema(dataset: Path, predictions: Path, tmp_path: Path) -> None:
    report_path = tmp_path / "out" / "scores.json"
    result = run("--pred", predictions, dataset, "--json", report_path, "-q")
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert set(report) == {
        "dataset",
        "split",
        "images",
        "source",
        "miou",
        "miou_without_background",
        "pixel_accuracy",
        "mean_accuracy",
        "mean_dice",
        "labelled_pixels",
        "classes",
        "confusion_matrix",
    }
    assert report["dataset"] == str(dataset)
    assert (report["split"], report["images"]) == ("val", 2)
    assert report["source"] == {"predictions": str(predictions)}
    assert report["miou"] == pytest.approx((8 / 12 + 4 / 7 + 1 / 2) / 3)
    assert report["labelled_pixels"] == 17
    assert report["confusion_matrix"] == VAL_CONFUSION
    assert [entry["name"] for entry in report["classes"]] == CLASS_NAMES
    assert report["classes"][3] == {
        "id": 3,
        "name": "bird",
        "iou": None,
        "accuracy": None,
        "dice": None,
        "ground_truth_pixels": 0,
        "predicted_pixels": 0,
    }
    assert report["classes"][2]["dice"] == pytest.approx(2 / 3)


def test_plot_writes_png(dataset: Path, predictions: Path, tmp_path: Path) -> None:
    plot_path = tmp_path / "confusion.png"
    result = run("--pred", predictions, dataset, "--plot", plot_path, "-q")
    assert result.exit_code == 0, result.output
    with Image.open(plot_path) as image:
        assert image.format == "PNG"
        assert min(image.size) >= 300


def test_missing_prediction_names_the_file(dataset: Path, predictions: Path) -> None:
    (predictions / "img2.png").unlink()
    result = run("--pred", predictions, dataset)
    assert result.exit_code == 1
    assert "1 of 2 predicted masks are missing" in result.output
    assert str(predictions / "img2.png") in result.output


def test_prediction_of_other_size_names_stem(dataset: Path, predictions: Path) -> None:
    write_label_png(predictions / "img2.png", np.zeros((5, 5), dtype=np.uint8))
    result = run("--pred", predictions, dataset)
    assert result.exit_code == 1
    assert "img2.png is 5x5 (width x height) but the ground truth" in result.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param(["model.pt", "DATASET", "--pred", "PRED"], "not both", id="both"),
        pytest.param(["DATASET"], "nothing to evaluate", id="neither"),
        pytest.param([], "expected [CHECKPOINT] DATASET_DIR, got 0 paths", id="no-paths"),
        pytest.param(["a", "b", "c"], "got 3 paths", id="three-paths"),
    ],
)
def test_usage_errors(dataset: Path, predictions: Path, arguments: list[str], message: str) -> None:
    substitutions = {"DATASET": str(dataset), "PRED": str(predictions)}
    result = run(*(substitutions.get(argument, argument) for argument in arguments))
    assert result.exit_code == 2
    assert message in result.output


def test_unknown_split_says_to_run_split(dataset: Path, predictions: Path) -> None:
    result = run("--pred", predictions, dataset, "--split", "test")
    assert result.exit_code == 1
    assert "test.txt does not exist; run 'annotool split" in result.output


def test_not_a_dataset(tmp_path: Path, predictions: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run("--pred", predictions, tmp_path / "empty")
    assert result.exit_code == 1
    assert "is not a segmentation dataset" in result.output


class FakePredictor:
    """Stands in for annotool.train.predict.Predictor: predicts background everywhere."""

    loaded_with: tuple[Path, str, str] | None = None
    class_names: tuple[str, ...] = tuple(CLASS_NAMES)

    @classmethod
    def from_checkpoint(
        cls, path: Path, device: str = "auto", precision: str = "auto"
    ) -> FakePredictor:
        cls.loaded_with = (path, device, precision)
        return cls()

    def predict(self, image: NDArray[np.uint8]) -> NDArray[np.uint8]:
        return np.zeros(image.shape[:2], dtype=np.uint8)


@pytest.fixture
def fake_predictor(monkeypatch: pytest.MonkeyPatch) -> type[FakePredictor]:
    module = types.ModuleType("annotool.train.inference")
    module.Predictor = FakePredictor  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "annotool.train.inference", module)
    monkeypatch.setattr(FakePredictor, "class_names", tuple(CLASS_NAMES))
    return FakePredictor


def test_checkpoint_runs_the_model_on_the_split(
    dataset: Path, fake_predictor: type[FakePredictor], tmp_path: Path
) -> None:
    report_path = tmp_path / "scores.json"
    result = run(
        tmp_path / "best.pt", dataset, "--device", "cpu", "--json", report_path, "--split", "train"
    )
    assert result.exit_code == 0, result.output
    assert fake_predictor.loaded_with == (tmp_path / "best.pt", "cpu", "auto")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["source"] == {"checkpoint": str(tmp_path / "best.pt")}
    # img3 is half dog, half background; everything predicted background.
    assert report["confusion_matrix"] == [[2, 0, 0, 0], [0] * 4, [2, 0, 0, 0], [0] * 4]


def test_checkpoint_with_other_classes_is_refused(
    dataset: Path, fake_predictor: type[FakePredictor], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fake_predictor, "class_names", ("_background_", "car"))
    result = run("best.pt", dataset)
    assert result.exit_code == 1
    assert "the model was trained on classes _background_, car" in result.output


BLOCK_TORCH = """
import sys
sys.modules["torch"] = None  # any 'import torch' now raises ImportError
from annotool.cli import main
main(sys.argv[1:], prog_name="annotool")
"""


def run_without_torch(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK_TORCH, "evaluate", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_pred_works_without_torch(dataset: Path, predictions: Path, tmp_path: Path) -> None:
    completed = run_without_torch(
        "--pred", predictions, dataset, "-q", "--plot", tmp_path / "cm.png"
    )
    assert completed.returncode == 0, completed.stderr
    assert "mIoU (without background)" in completed.stdout
    assert (tmp_path / "cm.png").is_file()


def test_checkpoint_without_torch_says_what_to_install(dataset: Path) -> None:
    completed = run_without_torch("best.pt", dataset)
    assert completed.returncode == 1
    assert "pip install 'annotool[train]'" in completed.stderr
    assert "Traceback" not in completed.stderr
