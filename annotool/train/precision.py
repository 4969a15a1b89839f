"""``--precision auto``: the faster of fp32 and 16-bit, measured on this machine.

Whether bf16 pays off depends on more than the CPU's flags: on a 2-core CPU with
AVX-512 BF16 but without AMX, oneDNN's bf16 convolutions ran slower than fp32, and which
precision wins also depends on the model's width and the crop. So a run times one
training step of its own model in each precision, taking turns (so that a busy machine
slows both alike), and keeps 16-bit only when it is clearly faster: a second or two at
the start of a run. ``predict`` and ``evaluate`` use the choice saved in the checkpoint
when they run on the same kind of device, and time a forward pass the same way otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from annotool.train.device import (
    MEMORY_FORMAT,
    DistributedContext,
    Precision,
    autocast,
    half_precision,
    requested_precision,
    sum_across_ranks,
)
from annotool.train.model import ModelConfig, SegmentationModel, build_model

SPEEDUP_TO_PICK = 1.1
"""16-bit is picked only when a step is at least this much faster than in fp32: a smaller
gain is within the noise of a shared machine and not worth bf16's coarser arithmetic."""
TIMED_ROUNDS = 3
"""Timed steps per precision after one warm-up step each (oneDNN and cuDNN choose and
cache their kernels on the first); the fastest counts."""
MEASURE_BATCH = 2
"""Images per timed training step: enough for the per-image cost, few for a short wait."""
INFERENCE_SIZE = 256
"""Long side of the input timed for a checkpoint without a working size."""
CHOICE_KEY = "precision_choice"
"""Where the training record of a checkpoint keeps the :class:`PrecisionChoice`."""


@dataclass(frozen=True)
class PrecisionChoice:
    """What ``auto`` measured and picked: the fastest ``seconds`` of one ``step`` (a
    training step, or a forward pass) in each precision, on a ``device_type``."""

    picked: Precision
    seconds: dict[str, float]
    device_type: str
    step: str = "training step"

    def describe(self) -> str:
        """One line for the run log: the pick and both timings."""
        fp32, (half, half_seconds) = self.seconds["fp32"], _other(self.seconds)
        return (
            f"precision auto: {self.picked} (one {self.step} took {fp32:.3f} s in fp32, "
            f"{half_seconds:.3f} s in {half}: {fp32 / half_seconds:.2f}x; {half} is picked "
            f"from {SPEEDUP_TO_PICK}x)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "picked": self.picked,
            "seconds": dict(self.seconds),
            "device_type": self.device_type,
            "step": self.step,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PrecisionChoice:
        return cls(
            picked=values["picked"],
            seconds={str(name): float(value) for name, value in values["seconds"].items()},
            device_type=str(values["device_type"]),
            step=str(values.get("step", "training step")),
        )


def _other(seconds: dict[str, float]) -> tuple[str, float]:
    return next((name, value) for name, value in seconds.items() if name != "fp32")


def measure_precision(
    run: Callable[[Precision], object], device: torch.device, step: str
) -> PrecisionChoice:
    """Time ``run`` (one step in the given precision) in fp32 and 16-bit, alternately."""
    candidates: tuple[Precision, Precision] = ("fp32", half_precision(device))
    for precision in candidates:
        run(precision)
    samples: dict[str, list[float]] = {precision: [] for precision in candidates}
    for _ in range(TIMED_ROUNDS):
        for precision in candidates:
            _synchronize(device)
            started = time.perf_counter()
            run(precision)
            _synchronize(device)
            samples[precision].append(time.perf_counter() - started)
    seconds = {precision: min(values) for precision, values in samples.items()}
    half = candidates[1]
    picked = half if seconds["fp32"] >= SPEEDUP_TO_PICK * seconds[half] else "fp32"
    return PrecisionChoice(picked, seconds, device.type, step)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def choose_training_precision(
    requested: str,
    device: torch.device,
    config: ModelConfig,
    crop_size: int,
    context: DistributedContext,
) -> tuple[Precision, PrecisionChoice | None]:
    """The precision a run trains in: the one asked for, or for ``auto`` the faster one
    (measured on a copy of the run's model; all ranks agree on 16-bit or none does).
    The measurement leaves the random number generators as they were."""
    explicit = requested_precision(requested, device)
    if explicit is not None:
        return explicit, None
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        choice = measure_precision(
            training_step_timer(config, crop_size, device), device, "training step"
        )
    if context.is_distributed:
        votes = torch.tensor([float(choice.picked != "fp32")], dtype=torch.float64)
        agreed = sum_across_ranks(votes, context).item() == context.world_size
        choice = PrecisionChoice(
            half_precision(device) if agreed else "fp32",
            choice.seconds,
            choice.device_type,
            choice.step,
        )
    return choice.picked, choice


def training_step_timer(
    config: ModelConfig, crop_size: int, device: torch.device
) -> Callable[[Precision], object]:
    """One AdamW step of a fresh model of ``config`` on random crops, in a precision."""
    generator = torch.Generator().manual_seed(0)
    model = build_model(config).to(device=device, memory_format=MEMORY_FORMAT).train()
    optimizer = torch.optim.AdamW(model.parameters(), foreach=True)
    images = torch.randn(MEASURE_BATCH, 3, crop_size, crop_size, generator=generator)
    images = images.to(device).contiguous(memory_format=MEMORY_FORMAT)
    targets = torch.randint(
        0, config.num_classes, (MEASURE_BATCH, crop_size, crop_size), generator=generator
    ).to(device)

    def step(precision: Precision) -> object:
        with autocast(device, precision):
            logits = model(images)
        loss = F.cross_entropy(logits.float(), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return None

    return step


def choose_inference_precision(
    requested: str,
    device: torch.device,
    model: SegmentationModel,
    image_size: int | None,
    saved: dict[str, Any] | None,
) -> Precision:
    """The precision ``predict`` and ``evaluate`` run in: the one asked for; for ``auto``
    the one a run ``saved`` on this kind of device, else the faster forward pass."""
    explicit = requested_precision(requested, device)
    if explicit is not None:
        return explicit
    if saved is not None:
        choice = PrecisionChoice.from_dict(saved)
        if choice.device_type == device.type:
            return choice.picked
    size = image_size or INFERENCE_SIZE
    pixels = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    pixels = pixels.to(device).contiguous(memory_format=MEMORY_FORMAT)

    @torch.inference_mode()
    def forward(precision: Precision) -> object:
        with autocast(device, precision):
            return model(pixels)

    return measure_precision(forward, device, "forward pass").picked
