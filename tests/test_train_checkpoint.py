from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from train_fixtures import one_torch_thread  # noqa: F401

import annotool
from annotool.labels import voc_colormap
from annotool.train.checkpoint import (
    CHECKPOINT_FORMAT,
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from annotool.train.inference import Predictor
from annotool.train.model import ModelConfig, Normalization, build_model
from annotool.train.predict import predict_images

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CLASS_NAMES = ("_background_", "cat", "dog")
PALETTE = np.array([[0, 0, 0], [10, 200, 30], [250, 5, 90]], dtype=np.uint8)


def _checkpoint(encoder: str = "unet") -> Checkpoint:
    torch.manual_seed(0)
    config = ModelConfig(num_classes=3, width=4, encoder=encoder)
    model = build_model(config)
    return Checkpoint(
        model_state=model.state_dict(),
        model_config=config,
        class_names=CLASS_NAMES,
        palette=PALETTE,
        normalization=Normalization(mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3)),
        epoch=3,
        best_miou=0.75,
        best_epoch=2,
        history=[{"epoch": 1.0, "val_miou": 0.5}],
        training={"lr": 0.01, "encoder": encoder},
        optimizer_state=torch.optim.AdamW(model.parameters()).state_dict(),
    )


def _assert_same(loaded: Checkpoint, saved: Checkpoint) -> None:
    assert loaded.model_config == saved.model_config
    assert loaded.class_names == saved.class_names
    assert np.array_equal(loaded.palette, saved.palette) and loaded.palette.dtype == np.uint8
    assert loaded.normalization == saved.normalization
    assert (loaded.epoch, loaded.best_miou, loaded.best_epoch) == (3, 0.75, 2)
    assert loaded.history == saved.history and loaded.training == saved.training
    assert loaded.model_state.keys() == saved.model_state.keys()
    for name, tensor in saved.model_state.items():
        assert torch.equal(loaded.model_state[name], tensor), name


@pytest.mark.parametrize("encoder", ["unet", "resnet18"])
def test_a_checkpoint_round_trips_through_a_weights_only_file(tmp_path: Path, encoder: str) -> None:
    saved = _checkpoint(encoder)
    path = tmp_path / "best.pt"
    save_checkpoint(path, saved)

    plain = torch.load(path, weights_only=True)
    assert isinstance(plain, dict) and plain["format"] == CHECKPOINT_FORMAT
    assert plain["model_config"]["encoder"] == encoder
    assert plain["palette"] == PALETTE.tolist()
    assert plain["annotool_version"] == annotool.__version__
    _assert_same(load_checkpoint(path), saved)


def _format_1(current: dict[str, Any]) -> dict[str, Any]:
    """What annotool wrote before checkpoints had a format 2: no encoder in the config."""
    old = dict(current, format=1)
    old["model_config"] = {
        key: value for key, value in current["model_config"].items() if key != "encoder"
    }
    return old


def test_a_format_1_checkpoint_loads_and_predicts(tmp_path: Path) -> None:
    saved = _checkpoint()
    path = tmp_path / "old.pt"
    torch.save(_format_1(saved.to_dict()), path)

    loaded = load_checkpoint(path)
    _assert_same(loaded, saved)
    assert loaded.model_config.encoder == "unet"
    predictor = Predictor.from_checkpoint(path, device="cpu", precision="fp32")
    mask = predictor.predict(np.zeros((20, 30, 3), dtype=np.uint8))
    assert mask.shape == (20, 30)


def test_fields_missing_from_an_older_file_take_defaults(tmp_path: Path) -> None:
    plain = _format_1(_checkpoint().to_dict())
    for key in ("palette", "epoch", "best_miou", "history", "training", "optimizer_state"):
        del plain[key]
    loaded = Checkpoint.from_dict(plain)
    assert np.array_equal(loaded.palette, voc_colormap()[:3])
    assert (loaded.epoch, loaded.history, loaded.training) == (0, [], {})
    assert loaded.optimizer_state is None


def test_keys_this_version_does_not_know_are_ignored() -> None:
    plain = _checkpoint().to_dict()
    plain["some_future_statistic"] = [1, 2, 3]
    assert Checkpoint.from_dict(plain).class_names == CLASS_NAMES


def test_a_newer_format_asks_for_an_upgrade() -> None:
    plain = dict(_checkpoint().to_dict(), format=CHECKPOINT_FORMAT + 1, annotool_version="9.0")
    with pytest.raises(CheckpointError, match=r"written by annotool 9\.0 in a newer checkpoint"):
        Checkpoint.from_dict(plain, source="run/best.pt")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda plain: plain.pop("normalization"), "run/best.pt .* lacks normalization"),
        (lambda plain: plain["model_config"].update(color="red"), "damaged field"),
        (lambda plain: plain.update(palette=[[0, 0, 0]]), "1 palette colours for 3 classes"),
    ],
    ids=["missing-key", "unknown-config-key", "short-palette"],
)
def test_damaged_checkpoints_are_reported(edit: Any, message: str) -> None:
    plain = _checkpoint().to_dict()
    edit(plain)
    with pytest.raises(CheckpointError, match=message):
        Checkpoint.from_dict(plain, source="run/best.pt")


def test_predict_colours_masks_with_the_checkpoints_palette(tmp_path: Path) -> None:
    path = tmp_path / "best.pt"
    save_checkpoint(path, _checkpoint("resnet18"))
    predictor = Predictor.from_checkpoint(path, device="cpu", precision="fp32")
    assert np.array_equal(predictor.palette, PALETTE)
    assert predictor.model.config.encoder == "resnet18"

    photo = tmp_path / "photo.png"
    Image.fromarray(np.full((20, 30, 3), 90, np.uint8)).save(photo)
    [mask_path] = predict_images(predictor, [photo], tmp_path / "masks").written
    with Image.open(mask_path) as mask:
        colours = np.array(mask.getpalette(), np.uint8).reshape(-1, 3)
    assert np.array_equal(colours[:3], PALETTE)
    assert np.array_equal(colours[3:], voc_colormap()[3:])  # other ids keep VOC colours
