"""Checkpoints: a typed :class:`Checkpoint` in memory, a plain dict on disk.

On disk a checkpoint is a dict of tensors, numbers, strings, lists and dicts, so it loads
with ``torch.load(path, weights_only=True)`` (the safe default since PyTorch 2.6) on any
device, and it outlives code changes because the model is rebuilt from its config
instead of being unpickled. Files of older formats load too: every field added since
format 1 has a default.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

import annotool
from annotool.errors import CheckpointError
from annotool.fileio import atomic_write
from annotool.labels import voc_colormap
from annotool.train.model import ModelConfig, Normalization

CHECKPOINT_FORMAT = 2
"""1: the first format. 2: ``model_config`` names its ``encoder``; ``palette``, ``epoch``
and the training state may be absent (older files lack the fields added since, such as
``image_size`` and ``training_weights``)."""
REQUIRED_KEYS = ("format", "model_state", "model_config", "class_names", "normalization")


@dataclass
class Checkpoint:
    """A trained model with what its outputs mean, and where its training stood.

    ``palette`` is ``(C, 3)`` uint8, the colour of each class id. To add a field, give it
    a default (what a file written before it existed means) and, unless it is a plain
    value or a dict/list of them and tensors, a converter in ``_FROM_PLAIN``.
    """

    model_state: dict[str, torch.Tensor]
    model_config: ModelConfig
    class_names: tuple[str, ...]
    palette: NDArray[np.uint8]
    normalization: Normalization
    epoch: int = 0
    best_miou: float = -1.0
    best_epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    training: dict[str, Any] = field(default_factory=dict)
    """The options the run was started with, as plain values."""
    optimizer_state: dict[str, Any] | None = None
    scheduler_state: dict[str, Any] | None = None
    scaler_state: dict[str, Any] | None = None
    image_size: int | None = None
    """The working size (long side, pixels) the model was trained and runs at; None:
    each image's own size, as files from before working sizes were trained."""
    training_weights: dict[str, torch.Tensor] | None = None
    """The raw weights training resumes from; ``model_state`` holds their moving average,
    the weights to predict with."""
    object_thresholds: dict[str, float | None] | None = None
    """What ``predict --labelme`` keeps of the predicted objects, chosen on the validation
    set at the end of training (see :mod:`annotool.train.prelabels`): ``min_area_share``,
    ``min_confidence`` and the validation scores they gave. None: files from before it,
    or a run that has not finished."""
    annotool_version: str = annotool.__version__
    torch_version: str = str(torch.__version__)

    def to_dict(self) -> dict[str, Any]:
        """The plain dict saved on disk; tensors are detached and moved to the CPU."""
        values = {item.name: _to_plain(getattr(self, item.name)) for item in fields(self)}
        return {"format": CHECKPOINT_FORMAT, **values}

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "the checkpoint") -> Checkpoint:
        """Rebuild a checkpoint of this or an older format; ``source`` names it in errors."""
        missing = [key for key in REQUIRED_KEYS if key not in values]
        if missing:
            raise CheckpointError(
                f"{source} is not an annotool checkpoint: it lacks {', '.join(missing)}; "
                "pass best.pt or last.pt from an 'annotool train' run"
            )
        if not isinstance(values["format"], int) or values["format"] > CHECKPOINT_FORMAT:
            raise CheckpointError(
                f"{source} was written by annotool {values.get('annotool_version', '?')} in a "
                f"newer checkpoint format; upgrade annotool (this is {annotool.__version__})"
            )
        known = {item.name for item in fields(cls)}
        try:
            arguments = {
                name: _FROM_PLAIN.get(name, _unchanged)(value)
                for name, value in values.items()
                if name in known
            }
            arguments.setdefault("palette", default_palette(len(arguments["class_names"])))
            checkpoint = cls(**arguments)
        except (TypeError, ValueError, KeyError) as error:
            raise CheckpointError(
                f"{source} has a damaged field ({type(error).__name__}: {error}); "
                "pass best.pt or last.pt from an 'annotool train' run"
            ) from None
        if len(checkpoint.palette) < len(checkpoint.class_names):
            raise CheckpointError(
                f"{source} has {len(checkpoint.palette)} palette colours for "
                f"{len(checkpoint.class_names)} classes; the file is damaged or was edited"
            )
        return checkpoint


def default_palette(num_classes: int) -> NDArray[np.uint8]:
    """``(num_classes, 3)`` uint8: the VOC colours, as in the dataset's masks."""
    return voc_colormap()[:num_classes].copy()


def _unchanged(value: Any) -> Any:
    return value


_FROM_PLAIN: dict[str, Callable[[Any], Any]] = {
    "model_config": ModelConfig.from_dict,
    "normalization": Normalization.from_dict,
    "class_names": lambda names: tuple(str(name) for name in names),
    "palette": lambda rows: np.asarray(rows, dtype=np.uint8).reshape(-1, 3),
}
"""How the typed fields are rebuilt from their plain form on disk."""


def _to_plain(value: Any) -> Any:
    """Tensors to detached CPU tensors, typed values to plain ones, recursively."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, (ModelConfig, Normalization)):
        return value.to_dict()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {key: _to_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(item) for item in value]
    return value


def save_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Write ``checkpoint`` atomically: a crash mid-save leaves the previous file intact."""
    values = checkpoint.to_dict()
    atomic_write(path, lambda stream: torch.save(values, stream))


def load_checkpoint(path: Path) -> Checkpoint:
    """Read a checkpoint onto the CPU with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        values = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise CheckpointError(
            f"{path} is not a readable annotool checkpoint ({type(error).__name__}: "
            f"{first_line}); pass best.pt or last.pt from an 'annotool train' run"
        ) from None
    if not isinstance(values, dict):
        raise CheckpointError(f"{path} holds a {type(values).__name__}, not a checkpoint dict")
    return Checkpoint.from_dict(values, source=str(path))
