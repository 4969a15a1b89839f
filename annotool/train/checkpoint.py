"""Checkpoints as plain dicts of tensors, numbers, strings and lists.

They load with ``torch.load(path, weights_only=True)`` (the safe default since PyTorch 2.6),
on any device, and outlive code changes because the model is rebuilt from its config
instead of being unpickled.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

import annotool
from annotool.errors import CheckpointError
from annotool.fileio import atomic_write

CHECKPOINT_FORMAT = 1
REQUIRED_KEYS = (
    "format",
    "model_state",
    "model_config",
    "class_names",
    "palette",
    "normalization",
    "epoch",
)


def build_checkpoint(
    *,
    model_state: dict[str, torch.Tensor],
    model_config: dict[str, int],
    class_names: list[str] | tuple[str, ...],
    palette: list[list[int]],
    normalization: dict[str, list[float]],
    epoch: int,
    best_miou: float,
    best_epoch: int,
    history: list[dict[str, float]],
    training: dict[str, Any],
    optimizer_state: dict[str, Any] | None = None,
    scheduler_state: dict[str, Any] | None = None,
    scaler_state: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The checkpoint dict; ``palette`` has one ``[r, g, b]`` row per class id."""
    return {
        "format": CHECKPOINT_FORMAT,
        "annotool_version": annotool.__version__,
        "torch_version": str(torch.__version__),
        "model_state": {name: tensor.detach().cpu() for name, tensor in model_state.items()},
        "model_config": dict(model_config),
        "class_names": list(class_names),
        "palette": [list(map(int, row)) for row in palette],
        "normalization": {key: [float(v) for v in value] for key, value in normalization.items()},
        "epoch": epoch,
        "best_miou": best_miou,
        "best_epoch": best_epoch,
        "history": history,
        "training": training,
        "optimizer_state": optimizer_state,
        "scheduler_state": scheduler_state,
        "scaler_state": scaler_state,
    }


def save_checkpoint(path: Path, checkpoint: dict[str, Any]) -> None:
    """Write ``checkpoint`` atomically: a crash mid-save leaves the previous file intact."""
    atomic_write(path, lambda stream: torch.save(checkpoint, stream))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint onto the CPU with ``weights_only=True`` and check its keys."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise CheckpointError(
            f"{path} is not a readable annotool checkpoint ({type(error).__name__}: "
            f"{first_line}); pass best.pt or last.pt from an 'annotool train' run"
        ) from None
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{path} holds a {type(checkpoint).__name__}, not a checkpoint dict")
    missing = [key for key in REQUIRED_KEYS if key not in checkpoint]
    if missing:
        raise CheckpointError(
            f"{path} is not an annotool checkpoint: it lacks {', '.join(missing)}; "
            "pass best.pt or last.pt from an 'annotool train' run"
        )
    if checkpoint["format"] > CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} was written by annotool {checkpoint.get('annotool_version', '?')} in a "
            f"newer checkpoint format; upgrade annotool (this is {annotool.__version__})"
        )
    return checkpoint
