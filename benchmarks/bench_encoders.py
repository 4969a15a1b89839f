"""Size and CPU training speed of each ``--encoder``: parameters, FLOPs, seconds per step.

Each model (the plain UNet at ``--width``, and the ResNet-18/34 encoders under a UNet
decoder of the same ``--width``) runs annotool's training step: fp32, channels-last,
forward + loss + backward + foreach AdamW, on random ``--batch`` x 3 x ``--size`` x
``--size`` batches. The models take turns step by step, so a busy machine slows them
alike; the median step is reported, with the ratio to the UNet. FLOPs are counted with
``torch.utils.flop_counter.FlopCounterMode`` (forward + backward, multiply-add = 2).

    python benchmarks/bench_encoders.py [--steps 5] [--batch 8] [--size 256] [--width 16]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from bench_train import NUM_CLASSES, count_flops

from annotool.choices import ENCODER_CHOICES
from annotool.train.engine import SegmentationLoss
from annotool.train.model import ModelConfig, build_model


def make_step(encoder: str, width: int):
    """A closure running one fp32 channels-last AdamW training step of ``encoder``."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(num_classes=NUM_CLASSES, width=width, encoder=encoder))
    model = model.to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, foreach=True)
    criterion = SegmentationLoss()

    def step(images: torch.Tensor, targets: torch.Tensor) -> None:
        loss = criterion(model(images.contiguous(memory_format=torch.channels_last)), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    return model, step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="timed steps per model")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--width", type=int, default=16)
    args = parser.parse_args()

    generator = torch.Generator().manual_seed(0)
    images = torch.randn(args.batch, 3, args.size, args.size, generator=generator)
    targets = torch.randint(0, NUM_CLASSES, (args.batch, args.size, args.size), generator=generator)
    steps = {}
    parameters = {}
    for encoder in ENCODER_CHOICES:
        model, step = make_step(encoder, args.width)
        parameters[encoder] = sum(parameter.numel() for parameter in model.parameters())
        step(images, targets)  # warm-up: oneDNN picks its kernels on the first call
        steps[encoder] = step
    seconds: dict[str, list[float]] = {encoder: [] for encoder in steps}
    for _ in range(args.steps):
        for encoder, step in steps.items():
            started = time.perf_counter()
            step(images, targets)
            seconds[encoder].append(time.perf_counter() - started)

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; fp32 channels-last, "
        f"batch {args.batch} at {args.size}x{args.size}, width {args.width}, "
        f"median of {args.steps} steps"
    )
    baseline = statistics.median(seconds["unet"])
    header = ("parameters", "GFLOP/step", "s/step", "img/s", "x unet")
    print(f"{'encoder':<10} " + " ".join(f"{name:>12}" for name in header))
    for encoder in steps:
        median = statistics.median(seconds[encoder])
        flops = count_flops(args.width, args.size, args.batch, encoder)
        print(
            f"{encoder:<10} {parameters[encoder]:>12,} {flops / 1e9:>12.1f} {median:>12.2f} "
            f"{args.batch / median:>12.1f} {median / baseline:>12.2f}"
        )


if __name__ == "__main__":
    main()
