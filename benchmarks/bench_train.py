"""Training throughput on the CPU or a GPU: annotool's training step vs a plain fp32 UNet.

annotool trains channels-last in the precision ``--precision auto`` picks (it times a
training step in fp32 and bf16 and keeps bf16 when it is 1.1x faster, see
annotool.train.precision); the baseline is the same UNet in fp32, NCHW, no
autocast; bf16 autocast + channels_last is measured too. All run the same UNet (width 32
by default) on random 256x256 batches of 8 in one process, taking turns step by step so
that a busy machine slows them alike; last comes annotool's default model, the same UNet
behind a stride-2 stem (``--full-resolution`` turns it off), in annotool's precision.
FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` (forward + backward,
multiply-add = 2 FLOPs).

    python benchmarks/bench_train.py [--steps 6] [--width 32] [--size 256] [--batch 8]
        [--device cuda]

It also trains both variants for a few epochs on a small synthetic dataset and compares
their validation mIoU, to show that bf16 costs no quality (``--quality-epochs 0`` skips).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from annotool.train.device import DistributedContext, autocast
from annotool.train.engine import SegmentationLoss
from annotool.train.model import ModelConfig, UNet, build_model
from annotool.train.precision import choose_training_precision

NUM_CLASSES = 4
CPU = torch.device("cpu")


def make_step(
    width: int,
    precision: str,
    channels_last: bool,
    foreach: bool = False,
    stem_stride: int = 1,
    device: torch.device = CPU,
):
    """A closure running one AdamW training step (``foreach`` as annotool's trainer uses)."""
    torch.manual_seed(0)
    model = UNet(ModelConfig(num_classes=NUM_CLASSES, width=width, stem_stride=stem_stride))
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device, memory_format=memory_format).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, foreach=foreach)
    criterion = SegmentationLoss()

    def step(images: torch.Tensor, targets: torch.Tensor) -> float:
        images = images.contiguous(memory_format=memory_format)
        with autocast(device, precision):  # type: ignore[arg-type]
            logits = model(images)
        loss = criterion(logits, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return float(loss.detach())

    return step


def count_flops(
    width: int, size: int, batch: int, encoder: str = "unet", stem_stride: int = 1
) -> float:
    """FLOPs of one forward + backward pass of the model on ``batch`` images."""
    config = ModelConfig(NUM_CLASSES, width=width, encoder=encoder, stem_stride=stem_stride)
    model = build_model(config)
    images = torch.randn(batch, 3, size, size)
    targets = torch.randint(0, NUM_CLASSES, (batch, size, size))
    counter = FlopCounterMode(display=False)
    with counter:
        SegmentationLoss()(model(images), targets).backward()
    return float(counter.get_total_flops())


def measure(args: argparse.Namespace) -> None:
    device = torch.device(args.device)
    config = ModelConfig(num_classes=NUM_CLASSES, width=args.width, stem_stride=2)
    annotool_precision, choice = choose_training_precision(
        "auto", device, config, args.size, DistributedContext()
    )
    step_on_device = partial(make_step, device=device)
    variants = {
        "plain fp32 (NCHW)": step_on_device(args.width, "fp32", channels_last=False),
        f"annotool ({annotool_precision} + channels_last + foreach AdamW)": step_on_device(
            args.width, annotool_precision, channels_last=True, foreach=True
        ),
    }
    if annotool_precision != "bf16":
        variants["bf16 autocast + channels_last"] = step_on_device(args.width, "bf16", True)
    if args.all_variants:
        variants["bf16 autocast (NCHW)"] = step_on_device(args.width, "bf16", channels_last=False)
    default_model = f"annotool default: stride-2 stem, {annotool_precision}"
    variants[default_model] = step_on_device(
        args.width, annotool_precision, channels_last=True, foreach=True, stem_stride=2
    )
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(args.batch, 3, args.size, args.size, generator=generator).to(device)
    targets = torch.randint(0, NUM_CLASSES, (args.batch, args.size, args.size), generator=generator)
    targets = targets.to(device)
    for step in variants.values():  # warm-up: oneDNN or cuDNN picks and caches kernels
        step(images, targets)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.steps):
        for name, step in variants.items():
            started = time.perf_counter()
            step(images, targets)  # returns the loss as a float: the step has finished
            times[name].append(time.perf_counter() - started)
    flops = {name: count_flops(args.width, args.size, 1) for name in variants}
    flops[default_model] = count_flops(args.width, args.size, 1, stem_stride=2)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"UNet width {args.width}, {args.size}x{args.size}, batch {args.batch}, {where}, "
        f"{torch.get_num_threads()} threads; annotool's {choice.describe() if choice else ''}"
    )
    print(
        f"forward + backward: {flops[next(iter(variants))] / 1e9:.1f} GFLOP per image "
        f"({flops[default_model] / 1e9:.1f} with the stride-2 stem)"
    )
    baseline = None
    for name, samples in times.items():
        seconds = statistics.median(samples)
        images_per_s = args.batch / seconds
        baseline = baseline or images_per_s
        print(
            f"{name:32s} {images_per_s:6.2f} images/s  "
            f"{images_per_s * flops[name] / 1e9:6.1f} GFLOP/s  "
            f"{images_per_s / baseline:4.2f}x  (median of {len(samples)} steps "
            f"{seconds:.2f} s, min {min(samples):.2f} s)"
        )


def compare_quality(args: argparse.Namespace) -> None:
    """Train fp32 and bf16 on the same synthetic dataset; print their best val mIoU."""
    from annotool.cli import main

    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        _make_synthetic_dataset(root, args.quality_images)
        for precision in ("fp32", "bf16"):
            started = time.perf_counter()
            run_dir = root / f"run_{precision}"
            main.main(
                [
                    "train",
                    str(root / "dataset"),
                    "--out",
                    str(run_dir),
                    "--epochs",
                    str(args.quality_epochs),
                    "--width",
                    "16",
                    "--size",
                    "192",
                    "--precision",
                    precision,
                    "--workers",
                    "0",
                    "--device",
                    args.device,
                    "--patience",
                    "0",
                    "-q",
                ],
                standalone_mode=False,
            )
            checkpoint = torch.load(run_dir / "best.pt", weights_only=True)
            print(
                f"{precision}: best val mIoU {checkpoint['best_miou']:.4f} at epoch "
                f"{checkpoint['best_epoch']} of {args.quality_epochs} "
                f"({time.perf_counter() - started:.0f} s)"
            )


def _make_synthetic_dataset(root: Path, num_images: int) -> None:
    from annotool.cli import main
    from annotool.synthetic import make_labelme_dataset

    make_labelme_dataset(root / "json", num_images, seed=1)
    dataset = str(root / "dataset")
    labels = str(root / "json" / "labels.txt")
    main.main(
        ["convert", str(root / "json"), dataset, "--labels", labels, "--no-viz", "-q"],
        standalone_mode=False,
    )
    main.main(["split", dataset, "--val", "0.25"], standalone_mode=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--all-variants", action="store_true")
    parser.add_argument("--quality-epochs", type=int, default=8)
    parser.add_argument("--quality-images", type=int, default=80)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (a GPU: cuda or cuda:N)")
    args = parser.parse_args()
    measure(args)
    if args.quality_epochs > 0:
        compare_quality(args)


if __name__ == "__main__":
    main()
