"""Prediction throughput on the CPU at 512x512: images/s in fp32 and in bf16.

Saves an untrained UNet checkpoint (speed does not depend on the weights), loads it with
:meth:`annotool.train.predict.Predictor.from_checkpoint` in each precision and times
``Predictor.predict`` on random 512x512 RGB images, alternating precisions so that a
busy machine slows both alike.

    python benchmarks/bench_predict.py [--width 32] [--size 512] [--images 8]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from annotool.labels import voc_colormap
from annotool.train.checkpoint import Checkpoint, save_checkpoint
from annotool.train.inference import Predictor
from annotool.train.model import ModelConfig, Normalization, UNet

NUM_CLASSES = 4
PRECISIONS = ("fp32", "bf16")


def write_checkpoint(path: Path, width: int) -> None:
    config = ModelConfig(num_classes=NUM_CLASSES, width=width)
    save_checkpoint(
        path,
        Checkpoint(
            model_state=UNet(config).state_dict(),
            model_config=config,
            class_names=tuple(f"class{index}" for index in range(NUM_CLASSES)),
            palette=voc_colormap()[:NUM_CLASSES],
            normalization=Normalization(mean=(0.5,) * 3, std=(0.25,) * 3),
        ),
    )


def forward_flops(width: int, size: int) -> float:
    model = UNet(ModelConfig(num_classes=NUM_CLASSES, width=width)).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.randn(1, 3, size, size))
    return float(counter.get_total_flops())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--images", type=int, default=8, help="Timed images per precision.")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(args.size, args.size, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as temporary:
        checkpoint = Path(temporary) / "model.pt"
        write_checkpoint(checkpoint, args.width)
        predictors = {
            precision: Predictor.from_checkpoint(checkpoint, device="cpu", precision=precision)
            for precision in PRECISIONS
        }
    for predictor in predictors.values():  # warm-up: oneDNN picks and caches kernels
        predictor.predict(image)
    times: dict[str, list[float]] = {precision: [] for precision in PRECISIONS}
    for _ in range(args.images):
        for precision, predictor in predictors.items():
            started = time.perf_counter()
            predictor.predict(image)
            times[precision].append(time.perf_counter() - started)
    flops = forward_flops(args.width, args.size)
    print(
        f"UNet width {args.width}, {args.size}x{args.size}, {torch.get_num_threads()} threads, "
        f"{flops / 1e9:.1f} GFLOP per image (forward)"
    )
    for precision, samples in times.items():
        seconds = statistics.median(samples)
        print(
            f"{precision:5s} {1 / seconds:6.2f} images/s  {flops / seconds / 1e9:6.1f} GFLOP/s  "
            f"(median of {len(samples)}, best {1 / min(samples):.2f} images/s)"
        )


if __name__ == "__main__":
    main()
