"""Validation mIoU on a synthetic labelme dataset within a time budget on 2 CPU cores.

Generates labelme JSON with :mod:`annotool.synthetic` (three object classes differing in
shape, colour and texture on cluttered backgrounds), converts and splits it with the
``annotool`` CLI, then trains with ``annotool train`` options and stops at the latest when
the budget (default 10 minutes of training, setup excluded) runs out. Reports the best
validation mIoU, the epoch it was reached at and the wall time.

    python benchmarks/synthetic_miou.py [--images 200] [--minutes 10] [--epochs 20]
        [--width 16] [--size 192] [--keep DIR] [-- extra 'annotool train' options]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from annotool.cli import main as cli
from annotool.synthetic import make_labelme_dataset
from annotool.train.loop import EpochResult, TrainingObserver, TrainOptions, train

CORES = 2


class _Deadline(Exception):
    """The time budget ran out mid-run."""


class _Budget(TrainingObserver):
    """Prints each epoch and ends training when the time budget is spent."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.perf_counter() + seconds
        self.started = time.perf_counter()

    def _check(self) -> None:
        if time.perf_counter() > self.deadline:
            raise _Deadline

    def on_message(self, message: str) -> None:
        print(message, flush=True)

    def on_train_step(self, images: int, loss: float, images_per_s: float) -> None:
        self._check()

    def on_validation_step(self, images: int) -> None:
        self._check()

    def on_epoch_end(self, result: EpochResult) -> None:
        print(
            f"{time.perf_counter() - self.started:6.0f} s  epoch {result.epoch:3d}  "
            f"loss {result.train_loss:.4f}  val mIoU {result.scores.miou:.4f}  "
            f"(without background {result.scores.miou_without_background:.4f})  "
            f"{result.images_per_s:.1f} img/s",
            flush=True,
        )
        self._check()


def prepare_dataset(root: Path, images: int, seed: int) -> Path:
    """Generate, convert and split the synthetic dataset; returns the dataset folder."""
    json_dir, dataset = root / "labelme", root / "dataset"
    make_labelme_dataset(json_dir, images, seed=seed)
    labels = str(json_dir / "labels.txt")
    for arguments in (
        ["convert", str(json_dir), str(dataset), "--labels", labels, "--no-viz", "-q"],
        ["split", str(dataset), "--val", "0.2", "--seed", str(seed)],
    ):
        cli.main(arguments, standalone_mode=False)
    return dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="Keep dataset and run here.")
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > CORES:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:CORES])
    torch.set_num_threads(CORES)
    root = args.keep or Path(tempfile.mkdtemp(prefix="annotool-synthetic-"))
    try:
        dataset = prepare_dataset(root, args.images, args.seed)
        options = TrainOptions(
            dataset_dir=dataset,
            out_dir=root / "run",
            epochs=args.epochs,
            batch_size=args.batch_size,
            size=args.size,
            lr=args.lr,
            width=args.width,
            precision=args.precision,
            seed=args.seed,
            device="cpu",
            patience=0,
            overwrite=True,
        )
        budget = _Budget(args.minutes * 60)
        try:
            train(options, budget)
            ended = "finished all epochs"
        except _Deadline:
            ended = "stopped by the time budget"
        seconds = time.perf_counter() - budget.started
        best = torch.load(root / "run" / "best.pt", weights_only=True)
        print(
            f"\n{args.images} images, width {args.width}, crops {args.size}, "
            f"{args.epochs} epochs planned, {ended} after {seconds:.0f} s "
            f"(load average at the end {os.getloadavg()[0]:.1f})"
        )
        best_row = next(row for row in best["history"] if row["epoch"] == best["best_epoch"])
        per_class = ", ".join(
            f"{name} {best_row[f'iou_{name}']:.3f}" for name in best["class_names"]
        )
        print(
            f"best val mIoU {best['best_miou']:.4f} at epoch {best['best_epoch']}; "
            f"IoU per class: {per_class}"
        )
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
