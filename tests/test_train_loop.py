from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from train_fixtures import CLASS_NAMES, make_dataset, one_torch_thread, tiny_options  # noqa: F401

import annotool
from annotool.errors import DatasetError, EncoderWeightsError, OutputExistsError, TrainingError
from annotool.metrics import scores_from_confusion
from annotool.train import loop
from annotool.train.checkpoint import load_checkpoint
from annotool.train.encoders import ResNetEncoder
from annotool.train.loop import EpochResult, TrainingObserver, train
from annotool.train.model import IMAGENET_NORMALIZATION

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class _StopAfterEpoch(TrainingObserver):
    """Interrupts training like Ctrl+C once ``epoch`` is written."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, result: EpochResult) -> None:
        if result.epoch == self.epoch:
            raise KeyboardInterrupt


def test_two_epochs_lower_the_loss_and_write_a_safe_checkpoint(tmp_path: Path) -> None:
    make_dataset(tmp_path / "data")
    result = train(tiny_options(tmp_path))

    assert [row["epoch"] for row in result.history] == [1, 2]
    assert result.history[1]["train_loss"] < result.history[0]["train_loss"]
    checkpoint = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    assert checkpoint["class_names"] == list(CLASS_NAMES)
    assert checkpoint["model_config"]["width"] == 4
    assert checkpoint["annotool_version"] == annotool.__version__
    assert len(checkpoint["palette"]) == 3 and checkpoint["palette"][1] == [128, 0, 0]
    assert set(checkpoint["normalization"]) == {"mean", "std"}
    assert {"optimizer_state", "scheduler_state", "epoch", "best_miou"} <= set(checkpoint)
    assert checkpoint["image_size"] == 32  # auto: the images' long side
    last = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert last["epoch"] == 2
    with (tmp_path / "run" / "metrics.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    assert [row["epoch"] for row in rows] == ["1", "2"]
    assert {"val_miou", "val_pixel_accuracy", "iou_box", "iou_bar"} <= set(rows[0])
    assert (tmp_path / "run" / "curves.png").read_bytes().startswith(b"\x89PNG")


def test_resume_continues_from_the_saved_epoch_as_if_never_stopped(tmp_path: Path) -> None:
    make_dataset(tmp_path / "data")
    uninterrupted = train(tiny_options(tmp_path, out_dir=tmp_path / "straight"))
    with pytest.raises(KeyboardInterrupt):
        train(tiny_options(tmp_path), _StopAfterEpoch(1))
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["epoch"] == 1

    resumed = train(tiny_options(tmp_path, resume=True))

    assert [row["epoch"] for row in resumed.history] == [1, 2]
    assert resumed.history[1]["train_loss"] == pytest.approx(
        uninterrupted.history[1]["train_loss"], rel=1e-5
    )
    straight = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)["model_state"]
    continued = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["model_state"]
    for name, tensor in straight.items():
        assert torch.allclose(tensor.float(), continued[name].float(), atol=1e-5), name


def test_a_used_run_directory_needs_resume_or_overwrite(tmp_path: Path) -> None:
    make_dataset(tmp_path / "data")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("earlier run")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        train(tiny_options(tmp_path))


def test_resume_without_a_checkpoint_says_so(tmp_path: Path) -> None:
    make_dataset(tmp_path / "data")
    with pytest.raises(TrainingError, match=r"last\.pt.*does not exist"):
        train(tiny_options(tmp_path, resume=True))


def test_missing_split_files_point_to_annotool_split(tmp_path: Path) -> None:
    make_dataset(tmp_path / "data", split=False)
    with pytest.raises(DatasetError, match="run 'annotool split"):
        train(tiny_options(tmp_path))


def test_missing_class_names_are_explained(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "data")
    layout.class_names_path.unlink()
    with pytest.raises(DatasetError, match=r"class_names\.txt does not exist"):
        train(tiny_options(tmp_path))


def test_class_weights_file_must_match_the_classes(tmp_path: Path) -> None:
    make_dataset(tmp_path / "data")
    weights = tmp_path / "stats.json"
    weights.write_text(json.dumps({"class_weights": {"median_frequency": [1.0, 2.0]}}))
    with pytest.raises(TrainingError, match="give 2 values but the dataset has 3 classes"):
        train(tiny_options(tmp_path, class_weights=str(weights)))


def test_auto_class_weights_come_from_the_training_split(tmp_path: Path) -> None:
    make_dataset(tmp_path / "data")
    train(tiny_options(tmp_path, epochs=1, class_weights="auto"))
    training = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["training"]
    weights = training["resolved"]["class_weights"]
    assert len(weights) == 3
    assert weights[0] < weights[2]  # background is the most frequent class


def test_split_entries_without_files_are_reported_before_training(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "data")
    layout.image_path(layout.read_split("train")[0]).unlink()
    with pytest.raises(DatasetError, match=r"lists images whose files are missing: .*scene_00"):
        train(tiny_options(tmp_path))


def test_training_stops_after_patience_epochs_without_improvement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_dataset(tmp_path / "data")
    unchanging = scores_from_confusion(np.eye(3, dtype=np.int64), CLASS_NAMES)
    monkeypatch.setattr(loop, "scores_from_confusion", lambda confusion, names: unchanging)

    result = train(tiny_options(tmp_path, epochs=5, patience=2))  # 1 warm-up step

    assert result.stopped_early
    assert (result.best_epoch, result.last_epoch) == (1, 3)


class _Messages(TrainingObserver):
    def __init__(self) -> None:
        self.messages: list[str] = []

    def on_message(self, message: str) -> None:
        self.messages.append(message)


def _resnet18_weights_file(path: Path) -> Path:
    """A local 'pretrained' file: a ResNet-18 state dict with torchvision's names."""
    torch.manual_seed(5)
    state = ResNetEncoder("resnet18").state_dict()
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 512), torch.zeros(1000)
    torch.save(state, path)
    return path


def test_a_resnet_encoder_starts_from_local_weights_with_imagenet_normalization(
    tmp_path: Path,
) -> None:
    make_dataset(tmp_path / "data")
    weights = _resnet18_weights_file(tmp_path / "resnet18.pth")
    observer = _Messages()
    options = tiny_options(tmp_path, encoder="resnet18", encoder_weights=weights, epochs=1)
    train(options, observer)

    checkpoint = load_checkpoint(tmp_path / "run" / "best.pt")
    assert checkpoint.model_config.encoder == "resnet18"
    assert checkpoint.normalization == IMAGENET_NORMALIZATION
    assert checkpoint.training["encoder_weights"] == str(weights)
    assert any(
        f"resnet18 encoder, UNet decoder width 4 ({weights})" in m for m in observer.messages
    )
    start = torch.load(weights, weights_only=True)["layer3.1.conv2.weight"]
    trained = checkpoint.model_state["encoder.layer3.1.conv2.weight"]
    assert 0 < (trained - start).abs().max() < 0.1  # one epoch moved it a little from the start


def test_without_pretrained_weights_the_dataset_normalizes(tmp_path: Path) -> None:
    make_dataset(tmp_path / "data")
    train(tiny_options(tmp_path, encoder="resnet18", epochs=1))
    checkpoint = load_checkpoint(tmp_path / "run" / "best.pt")
    assert checkpoint.model_config.encoder == "resnet18"
    assert checkpoint.normalization != IMAGENET_NORMALIZATION


def test_weights_that_do_not_fit_fail_before_training(tmp_path: Path) -> None:
    make_dataset(tmp_path / "data")
    weights = _resnet18_weights_file(tmp_path / "resnet18.pth")
    options = tiny_options(tmp_path, encoder="resnet34", encoder_weights=weights)
    with pytest.raises(EncoderWeightsError, match=r"resnet18.pth does not fit.*missing: layer1\.2"):
        train(options)
    assert not (tmp_path / "run" / "last.pt").exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pretrained": True}, "--pretrained needs an encoder with ImageNet weights"),
        ({"encoder_weights": Path("w.pth")}, "--encoder-weights needs an encoder"),
        ({"encoder": "vgg"}, "unknown --encoder 'vgg'"),
        (
            {"encoder": "resnet18", "full_resolution": True},
            "--full-resolution applies to --encoder unet",
        ),
    ],
)
def test_encoder_options_that_cannot_work_are_refused(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(TrainingError, match=message):
        train(tiny_options(tmp_path, **changes))


@pytest.mark.parametrize(("full_resolution", "stem_stride"), [(False, 2), (True, 1)])
def test_the_unet_works_at_half_resolution_unless_asked_for_full(
    tmp_path: Path, full_resolution: bool, stem_stride: int
) -> None:
    make_dataset(tmp_path / "data")
    train(tiny_options(tmp_path, epochs=1, full_resolution=full_resolution))
    checkpoint = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    assert checkpoint["model_config"]["stem_stride"] == stem_stride
    assert any(name.startswith("stem.") for name in checkpoint["model_state"]) == (
        not full_resolution
    )


def test_checkpoints_hold_the_averaged_weights_for_predict_and_the_raw_ones_for_resume(
    tmp_path: Path,
) -> None:
    make_dataset(tmp_path / "data")
    train(tiny_options(tmp_path, epochs=2, ema_decay=0.9))
    checkpoint = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    averaged, raw = checkpoint["model_state"], checkpoint["training_weights"]
    assert averaged.keys() == raw.keys()
    differing = [name for name in raw if not torch.equal(averaged[name], raw[name])]
    assert any("weight" in name for name in differing)
    # BatchNorm statistics are copied, not averaged.
    assert all("running" not in name for name in differing)


def test_without_averaging_the_saved_weights_are_the_trained_ones(tmp_path: Path) -> None:
    make_dataset(tmp_path / "data")
    train(tiny_options(tmp_path, epochs=1, ema_decay=0.0))
    checkpoint = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    for name, tensor in checkpoint["training_weights"].items():
        assert torch.equal(checkpoint["model_state"][name], tensor), name


OVERRUN = 2.0
"""Seconds a time budget's run may last beyond it: its last step, validation and save."""


def test_a_time_budget_ends_on_time_with_the_best_checkpoint_saved(tmp_path: Path) -> None:
    import matplotlib.figure  # noqa: F401  (its first import alone could spend the budget)

    make_dataset(tmp_path / "data")
    result = train(tiny_options(tmp_path, time_budget=6.0, epochs=1))

    # The last step and save may overrun; a loaded machine (a few helpers on 2 cores) has
    # been seen to take 1.1 s for them.
    assert result.seconds <= 6.0 + OVERRUN
    assert result.last_epoch >= 2  # not bound by epochs=1
    assert (tmp_path / "run" / "best.pt").is_file()
    assert not result.stopped_early
    checkpoint = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert checkpoint["scheduler_state"]["step"] == result.history[-1]["step"]
    # The cosine was stretched over the budget: the last steps ran at a lower rate.
    assert result.history[-1]["lr"] < 0.5 * 1e-2


def test_a_resumed_time_budget_spends_only_the_time_left(tmp_path: Path) -> None:
    import matplotlib.figure  # noqa: F401  (its first import alone could spend the budget)

    make_dataset(tmp_path / "data")
    with pytest.raises(KeyboardInterrupt):
        train(tiny_options(tmp_path, time_budget=8.0), _StopAfterEpoch(1))
    interrupted = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["scheduler_state"]
    assert 0 < interrupted["elapsed"] < 8.0

    result = train(tiny_options(tmp_path, time_budget=8.0, resume=True))

    assert result.seconds <= 8.0 - interrupted["elapsed"] + OVERRUN
    assert [row["epoch"] for row in result.history][:2] == [1, 2]
    assert result.history[1]["step"] > interrupted["step"]  # steps go on from the saved count
    resumed = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["scheduler_state"]
    assert resumed["elapsed"] <= 8.0 + OVERRUN
    assert resumed["warmup_measured"]


def test_early_stopping_never_fires_during_warm_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_dataset(tmp_path / "data")
    unchanging = scores_from_confusion(np.eye(3, dtype=np.int64), CLASS_NAMES)
    monkeypatch.setattr(loop, "scores_from_confusion", lambda confusion, names: unchanging)
    # 100 epochs of 3 steps: warm-up is 15 steps, the first 5 epochs. The validations
    # within it do not count; those after epochs 5 and 6 do.
    result = train(tiny_options(tmp_path, epochs=100, patience=2))
    assert result.stopped_early
    assert result.best_epoch == 1 and result.last_epoch == 6


def test_an_epoch_of_a_small_dataset_makes_at_least_the_minimum_of_steps(tmp_path: Path) -> None:
    make_dataset(tmp_path / "data")  # 6 training images, batches of 2: 3 steps per pass
    result = train(tiny_options(tmp_path, epochs=1, min_epoch_steps=5))
    assert result.history[-1]["step"] == 5
