from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from train_fixtures import one_torch_thread, save_untrained_checkpoint  # noqa: F401

from annotool.errors import CheckpointError, PredictInputError
from annotool.train.inference import Predictor
from annotool.train.predict import collect_images, predict_images
from annotool.voc import read_label_png

CLASS_NAMES = ("_background_", "cat", "dog")
EXIF_ORIENTATION = 0x0112

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def checkpoint_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained width-4 UNet saved as annotool saves checkpoints."""
    return save_untrained_checkpoint(tmp_path_factory.mktemp("checkpoint") / "best.pt", CLASS_NAMES)


def _photo(path: Path, width: int, height: int, orientation: int | None = None) -> Path:
    pixels = np.random.default_rng(0).integers(0, 255, size=(height, width, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    exif = Image.Exif()
    if orientation is not None:
        exif[EXIF_ORIENTATION] = orientation
    image.save(path, exif=exif)
    return path


def test_predictor_exposes_classes_and_palette(checkpoint_path: Path) -> None:
    predictor = Predictor.from_checkpoint(checkpoint_path, device="cpu", precision="fp32")
    assert predictor.class_names == CLASS_NAMES
    assert predictor.palette.shape == (3, 3) and predictor.palette.dtype == np.uint8


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_predict_returns_class_ids_at_the_input_size(checkpoint_path: Path, precision: str) -> None:
    predictor = Predictor.from_checkpoint(checkpoint_path, device="cpu", precision=precision)
    image = np.random.default_rng(1).integers(0, 255, size=(37, 53, 3), dtype=np.uint8)
    mask = predictor.predict(image)
    assert mask.shape == (37, 53) and mask.dtype == np.uint8
    assert mask.max() < 3


def test_masks_follow_exif_orientation_and_keep_the_photo_size(
    checkpoint_path: Path, tmp_path: Path
) -> None:
    upright = _photo(tmp_path / "upright.png", width=41, height=29)
    rotated = _photo(tmp_path / "rotated.jpg", width=41, height=29, orientation=6)
    predictor = Predictor.from_checkpoint(checkpoint_path, device="cpu", precision="fp32")

    written = predict_images(predictor, [upright, rotated], tmp_path / "out", overlay=True).written

    assert [path.name for path in written] == ["upright.png", "rotated.png"]
    assert read_label_png(written[0]).shape == (29, 41)
    assert read_label_png(written[1]).shape == (41, 29)  # turned upright: 29 wide, 41 high
    with Image.open(written[0]) as mask:
        assert mask.mode == "P"
        assert mask.getpalette()[3:6] == [128, 0, 0]
    with Image.open(tmp_path / "out" / "rotated_overlay.jpg") as overlay:
        assert overlay.size == (29, 41)


def test_folders_expand_to_their_images_sorted(tmp_path: Path) -> None:
    for name in ("b.jpg", "a.png", "notes.txt"):
        (tmp_path / "photos").mkdir(exist_ok=True)
        (tmp_path / "photos" / name).write_bytes(b"")
    single = _photo(tmp_path / "c.jpg", 4, 4)
    found = collect_images([tmp_path / "photos", single])
    assert [path.name for path in found] == ["a.png", "b.jpg", "c.jpg"]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", r"input .*nothing\.jpg does not exist"),
        ("empty-folder", "holds no images"),
        ("same-stem", "have the same name 'x'"),
    ],
    ids=["missing", "empty-folder", "same-stem"],
)
def test_bad_inputs_are_reported(tmp_path: Path, setup: str, message: str) -> None:
    inputs = {
        "missing": [tmp_path / "nothing.jpg"],
        "empty-folder": [tmp_path],
        "same-stem": [tmp_path / "x.jpg", tmp_path / "x.png"],
    }[setup]
    if setup == "same-stem":
        for path in inputs:
            path.write_bytes(b"")
    with pytest.raises(PredictInputError, match=message):
        collect_images(inputs)


def test_an_unreadable_image_is_named(checkpoint_path: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    predictor = Predictor.from_checkpoint(checkpoint_path, device="cpu", precision="fp32")
    report = predict_images(predictor, [broken], tmp_path / "out")
    assert not report.written
    [(path, message)] = report.failed
    assert path == broken and re.search(r"cannot read image .*broken\.jpg", message)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        (b"garbage", "not a readable annotool checkpoint"),
        ({"weights": torch.zeros(1)}, "lacks format, model_state"),
    ],
    ids=["missing", "garbage", "foreign-dict"],
)
def test_bad_checkpoints_are_reported(tmp_path: Path, content: object, message: str) -> None:
    path = tmp_path / "model.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        buffer = io.BytesIO()
        torch.save(content, buffer)
        path.write_bytes(buffer.getvalue())
    with pytest.raises(CheckpointError, match=message):
        Predictor.from_checkpoint(path, device="cpu")


def test_weights_that_do_not_fit_the_config_are_reported(
    checkpoint_path: Path, tmp_path: Path
) -> None:
    checkpoint = torch.load(checkpoint_path, weights_only=True)
    checkpoint["model_config"]["width"] = 8
    edited = tmp_path / "edited.pt"
    torch.save(checkpoint, edited)
    with pytest.raises(CheckpointError, match="weights do not fit its model config"):
        Predictor.from_checkpoint(edited, device="cpu")


def _checkpoint_with(path: Path, **changes: object) -> Path:
    """The fixture's checkpoint with some keys changed (None: removed)."""
    checkpoint = torch.load(path.parent / "best.pt", weights_only=True)
    for key, value in changes.items():
        if value is None:
            checkpoint.pop(key, None)
        else:
            checkpoint[key] = value
    torch.save(checkpoint, path)  # on disk a checkpoint is a plain dict
    return path


def test_the_model_runs_at_the_working_size_and_masks_come_out_at_the_photo_size(
    checkpoint_path: Path, tmp_path: Path
) -> None:
    path = _checkpoint_with(checkpoint_path.parent / "working.pt", image_size=32)
    predictor = Predictor.from_checkpoint(path, device="cpu", precision="fp32")
    assert predictor.image_size == 32
    seen: list[tuple[int, ...]] = []
    predictor.model.register_forward_hook(
        lambda module, inputs, output: seen.append(tuple(inputs[0].shape))
    )
    image = np.random.default_rng(1).integers(0, 255, size=(150, 200, 3), dtype=np.uint8)
    mask = predictor.predict(image)
    assert seen == [(1, 3, 24, 32)]  # long side 32, aspect ratio kept
    assert mask.shape == (150, 200) and mask.dtype == np.uint8


def test_upsampled_scores_give_smooth_masks_at_the_original_size(checkpoint_path: Path) -> None:
    """A half-and-half model output, upsampled before the argmax, splits the photo in half."""
    predictor = Predictor.from_checkpoint(checkpoint_path, device="cpu", precision="fp32")
    predictor.image_size = 8

    class _LeftRight(torch.nn.Module):
        def forward(self, images: torch.Tensor) -> torch.Tensor:
            scores = torch.zeros(images.shape[0], 3, *images.shape[-2:])
            scores[:, 1, :, : images.shape[-1] // 2] = 1.0
            scores[:, 2, :, images.shape[-1] // 2 :] = 1.0
            return scores

    predictor.model = _LeftRight()  # type: ignore[assignment]
    mask = predictor.predict(np.zeros((60, 80, 3), dtype=np.uint8))
    assert mask.shape == (60, 80)
    assert (mask[:, :39] == 1).all() and (mask[:, 41:] == 2).all()


def test_checkpoints_from_before_working_sizes_run_at_full_resolution(
    checkpoint_path: Path,
) -> None:
    path = _checkpoint_with(
        checkpoint_path.parent / "old.pt", image_size=None, training_weights=None
    )
    assert "image_size" not in torch.load(path, weights_only=True)
    predictor = Predictor.from_checkpoint(path, device="cpu", precision="fp32")
    assert predictor.image_size is None
    assert predictor.predict(np.zeros((37, 53, 3), dtype=np.uint8)).shape == (37, 53)
