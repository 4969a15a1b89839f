from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
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


def test_full_resolution_needs_the_unet(tmp_path: Path) -> None:
    arguments = ["train", str(tmp_path), "--out", str(tmp_path / "run"), "--full-resolution"]
    result = CliRunner().invoke(main, [*arguments, "--encoder", "resnet34"])
    assert result.exit_code == 1
    assert "--full-resolution applies to --encoder unet" in result.output


@pytest.mark.slow
def test_ctrl_c_during_train_says_where_the_checkpoint_is_and_how_to_resume(
    tmp_path: Path,
) -> None:
    layout = make_dataset(tmp_path / "data")
    run = tmp_path / "run"
    environment = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        "OMP_NUM_THREADS": "1",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "annotool",
            "train",
            str(layout.root),
            "--out",
            str(run),
            "--epochs",
            "100000",
            *TINY_TRAINING[2:],
            *CPU_FP32,
            "-q",
        ],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    # Once curves.png exists the first epoch is saved (and matplotlib imported: Ctrl-C in
    # the middle of an import can surface as another exception).
    while not (run / "curves.png").is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 130, stdout + stderr
    assert f"the last checkpoint is {run / 'last.pt'}" in stderr
    assert f"annotool train {layout.root} --out {run} --resume" in stderr
    assert "Traceback" not in stderr
    assert sorted(path.name for path in run.iterdir() if path.name.endswith(".pt")) == [
        "best.pt",
        "last.pt",
    ]  # no temporary checkpoint left behind


def test_ctrl_c_before_the_first_checkpoint_says_nothing_can_be_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from annotool.train import loop

    def interrupted(options: object, observer: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "train", interrupted)
    result = CliRunner().invoke(
        main, ["train", str(tmp_path / "data"), "--out", str(tmp_path / "run"), *CPU_FP32]
    )
    assert result.exit_code == 130
    assert "Interrupted before the first epoch ended" in result.output


def test_time_and_epochs_together_are_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["train", str(tmp_path), "--out", str(tmp_path / "run"), "--time", "1m", "--epochs", "3"],
    )
    assert result.exit_code == 2
    assert "--epochs or --time, not both" in result.output


@pytest.mark.parametrize("value", ["10 weeks", "soon", "-1m"])
def test_a_bad_time_budget_is_explained(tmp_path: Path, value: str) -> None:
    make_dataset(tmp_path / "data")
    result = CliRunner().invoke(
        main, ["train", str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--time", value]
    )
    assert result.exit_code == 1
    assert "write it like 90s, 10m or 1h" in result.output


def test_resume_refuses_changed_options_and_keeps_the_runs_own(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "data")
    run = tmp_path / "run"
    first = ["train", str(layout.root), "--out", str(run), *CPU_FP32]
    assert CliRunner().invoke(main, [*first, *TINY_TRAINING, "--lr", "0.01"]).exit_code == 0

    changed = CliRunner().invoke(main, [*first, "--resume", "--width", "8", "--epochs", "3"])
    assert changed.exit_code == 1
    assert "--width 8 (the run used 4)" in changed.output
    assert "Traceback" not in changed.output

    # Without the changed option, the run goes on with its own width, lr and crop size.
    resumed = CliRunner().invoke(main, [*first, "--resume", "--epochs", "3", "-q"])
    assert resumed.exit_code == 0, resumed.output
    assert "--epochs 3 (the run used 2) is used" in resumed.output
    checkpoint = torch.load(run / "last.pt", weights_only=True)
    assert checkpoint["epoch"] == 3
    assert checkpoint["training"]["width"] == 4 and checkpoint["training"]["lr"] == 0.01
