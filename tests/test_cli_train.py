from __future__ import annotations

import sys
import urllib.error
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from train_fixtures import make_dataset, one_torch_thread  # noqa: F401

from annotool.cli import main

TINY_TRAINING = ["--epochs", "2", "--batch-size", "2", "--size", "32", "--width", "4"]
CPU_FP32 = ["--device", "cpu", "--precision", "fp32", "--workers", "0"]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("command", ["train", "predict"])
def test_help_works(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and "--out" in result.output


@pytest.mark.parametrize(
    "arguments",
    [["train", "data", "--out", "run"], ["predict", "best.pt", "photo.jpg", "--out", "masks"]],
    ids=["train", "predict"],
)
def test_missing_torch_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, arguments: list[str]
) -> None:
    for name in [name for name in sys.modules if name.startswith("annotool.train")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torch", None)  # makes 'import torch' raise ImportError
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 1
    assert "pip install 'annotool[train]'" in result.output


def test_train_without_split_files_says_to_run_split(tmp_path: Path) -> None:
    make_dataset(tmp_path / "data", split=False)
    result = CliRunner().invoke(
        main, ["train", str(tmp_path / "data"), "--out", str(tmp_path / "run"), *CPU_FP32]
    )
    assert result.exit_code == 1
    assert "run 'annotool split" in result.output


def test_train_refuses_a_used_run_directory(tmp_path: Path) -> None:
    make_dataset(tmp_path / "data")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "last.pt").write_bytes(b"earlier")
    result = CliRunner().invoke(
        main, ["train", str(tmp_path / "data"), "--out", str(tmp_path / "run"), *CPU_FP32]
    )
    assert result.exit_code == 1
    assert "--overwrite" in result.output


def test_train_then_predict_with_overlays(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "data")
    run = tmp_path / "run"
    trained = CliRunner().invoke(
        main, ["train", str(layout.root), "--out", str(run), *TINY_TRAINING, *CPU_FP32]
    )
    assert trained.exit_code == 0, trained.output
    assert "epoch 2/2" in trained.output and "Best val mIoU" in trained.output

    predicted = CliRunner().invoke(
        main,
        [
            "predict",
            str(run / "best.pt"),
            str(layout.images_dir),
            "--out",
            str(tmp_path / "m"),
            "--overlay",
            "--device",
            "cpu",
            "-q",
        ],
    )
    assert predicted.exit_code == 0, predicted.output
    assert "Wrote 8 masks" in predicted.output
    assert len(list((tmp_path / "m").glob("*_overlay.jpg"))) == 8


def test_predict_reports_a_missing_input(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["predict", str(tmp_path / "best.pt"), str(tmp_path / "no.jpg"), "--out", "x"]
    )
    assert result.exit_code == 1
    assert "no.jpg does not exist" in result.output


def test_pretrained_without_a_network_names_the_local_weights_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(url: str, **kwargs: object) -> None:
        raise urllib.error.URLError("[Errno 101] Network is unreachable")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    layout = make_dataset(tmp_path / "data")
    result = CliRunner().invoke(
        main,
        [
            *("train", str(layout.root), "--out", str(tmp_path / "run")),
            *("--encoder", "resnet18", "--pretrained", *TINY_TRAINING, *CPU_FP32),
        ],
    )
    assert result.exit_code == 1
    error = result.output.strip().splitlines()[-1]
    assert error.startswith("Error: cannot download the ImageNet weights of resnet18")
    assert "Network is unreachable" in error and "--encoder-weights FILE" in error
    assert not (tmp_path / "run" / "last.pt").exists()


def test_pretrained_needs_a_resnet_encoder(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["train", str(tmp_path), "--out", str(tmp_path / "run"), "--pretrained"]
    )
    assert result.exit_code == 1
    assert (
        "--pretrained needs an encoder with ImageNet weights: --encoder resnet18" in result.output
    )
