from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from train_fixtures import make_dataset, one_torch_thread  # noqa: F401

from annotool.evaluate import evaluate_model
from annotool.train.device import (
    DistributedContext,
    context_from_environment,
    process_group_backend,
)
from annotool.train.inference import Predictor

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.slow
def test_two_gloo_processes_train_and_rank_0_saves(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "data", num_images=10)
    run = tmp_path / "run"
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    # --standalone lets torchrun pick a free rendezvous port itself.
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    train_tiny = ["--epochs", "1", "--batch-size", "2", "--size", "32", "--width", "4"]
    cpu_fp32 = ["--device", "cpu", "--precision", "fp32", "--workers", "0", "-q"]
    completed = subprocess.run(
        [
            *torchrun,
            "--nproc-per-node",
            "2",
            "-m",
            "annotool",
            "train",
            str(layout.root),
            "--out",
            str(run),
            *train_tiny,
            *cpu_fp32,
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    assert completed.stdout.count("Best val mIoU") == 1  # only rank 0 reports

    checkpoint = torch.load(run / "last.pt", weights_only=True)
    assert checkpoint["training"]["resolved"]["world_size"] == 2
    # Validation was split across the ranks; the summed confusion matrix must equal
    # scoring the whole val split in one process.
    predictor = Predictor.from_checkpoint(run / "last.pt", device="cpu", precision="fp32")
    scores = evaluate_model(
        layout, layout.read_split("val"), predictor.predict, predictor.class_names
    )
    assert checkpoint["history"][0]["val_pixel_accuracy"] == pytest.approx(
        scores.pixel_accuracy, abs=1e-6
    )


def test_environment_without_torchrun_means_a_single_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert context_from_environment() == DistributedContext()
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    context = context_from_environment()
    assert (context.rank, context.world_size, context.local_rank, context.is_main) == (
        3,
        4,
        1,
        False,
    )


def test_gpu_ranks_sum_cpu_tensors_over_gloo_beside_nccl() -> None:
    assert process_group_backend(torch.device("cuda", 0)) == "cpu:gloo,cuda:nccl"
    assert process_group_backend(torch.device("cpu")) == "gloo"
