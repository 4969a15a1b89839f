"""Choosing the device and the numeric precision, and the autocast that goes with them."""

from __future__ import annotations

import contextlib
import platform
from functools import cache
from pathlib import Path
from typing import Literal

import torch

from annotool.errors import AnnotoolError

Precision = Literal["fp32", "bf16", "fp16"]
PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")
DEVICE_CHOICES = ("auto", "cpu", "cuda")

_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class DeviceError(AnnotoolError):
    """The requested device or precision is not available on this machine."""


def resolve_device(requested: str) -> torch.device:
    """``auto`` is CUDA when a GPU is visible, else the CPU; ``cuda`` without a GPU is an error."""
    if requested not in DEVICE_CHOICES and not requested.startswith("cuda:"):
        raise DeviceError(f"unknown device {requested!r}; use one of {', '.join(DEVICE_CHOICES)}")
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError(
            f"--device {requested} was asked for but PyTorch sees no CUDA GPU; "
            "use --device cpu (or auto), or install a CUDA build of PyTorch"
        )
    return torch.device(requested)


@cache
def cpu_has_native_bf16() -> bool:
    """Whether the CPU computes bfloat16 in hardware (AVX-512 BF16, AMX, or Arm BF16).

    Without it bf16 is emulated and slower than fp32, so ``auto`` keeps fp32.
    """
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return False
    flags = set(cpuinfo.read_text(errors="replace").split())
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        return bool(flags & {"avx512_bf16", "amx_bf16"})
    return machine in ("aarch64", "arm64") and "bf16" in flags


def resolve_precision(requested: str, device: torch.device) -> Precision:
    """``auto``: bf16 on GPUs and CPUs that support it, fp16 on older GPUs, fp32 otherwise."""
    if requested not in PRECISION_CHOICES:
        raise DeviceError(
            f"unknown precision {requested!r}; use one of {', '.join(PRECISION_CHOICES)}"
        )
    if requested != "auto":
        if requested == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise DeviceError("this GPU does not support bf16; use --precision fp16 or fp32")
        return requested  # type: ignore[return-value]
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_has_native_bf16() else "fp32"


def uses_channels_last(device: torch.device, precision: Precision) -> bool:
    """channels_last suits cuDNN tensor cores and oneDNN's bf16 kernels."""
    return device.type == "cuda" or precision != "fp32"


def autocast(device: torch.device, precision: Precision) -> contextlib.AbstractContextManager[None]:
    """Mixed-precision autocast for ``precision``, or nothing for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=_AUTOCAST_DTYPES[precision])
