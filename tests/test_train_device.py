from __future__ import annotations

import pytest
import torch

from annotool.train.device import (
    DeviceError,
    autocast,
    half_precision,
    requested_precision,
    resolve_device,
)

CPU = torch.device("cpu")


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_an_explicit_precision_is_kept_on_the_cpu(precision: str) -> None:
    assert requested_precision(precision, CPU) == precision


def test_auto_is_left_to_the_measurement() -> None:
    assert requested_precision("auto", CPU) is None
    assert half_precision(CPU) == "bf16"


def test_an_unknown_precision_is_refused() -> None:
    with pytest.raises(DeviceError, match="unknown precision 'fp8'"):
        requested_precision("fp8", CPU)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_a_gpu_is_explained() -> None:
    with pytest.raises(DeviceError, match="sees no CUDA GPU"):
        resolve_device("cuda")
    assert resolve_device("auto") == CPU


def test_autocast_runs_bf16_and_fp32_runs_plain() -> None:
    layer = torch.nn.Linear(4, 4)
    inputs = torch.randn(2, 4)
    with autocast(CPU, "bf16"):
        assert layer(inputs).dtype == torch.bfloat16
    with autocast(CPU, "fp32"):
        assert layer(inputs).dtype == torch.float32
