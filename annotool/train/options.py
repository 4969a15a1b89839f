"""What ``annotool train`` takes: one frozen dataclass whose defaults are the CLI's.

Imports nothing of torch, so the CLI reads its defaults from here (:data:`DEFAULTS`)
without paying for torch, and a resumed run's options are reconciled with the
checkpoint's (:func:`options_for_resume`) before anything is built.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotool.choices import ENCODER_CHOICES, ENCODERS, PRETRAINED_ENCODERS
from annotool.errors import TrainingError

MIN_STEPS_PER_EPOCH = 25
SMALL_OBJECTS_CHOICES = ("auto", "on", "off")

DEFAULT_WIDTH = 16
"""Chosen by measurement (synthetic shapes, 2 CPU cores, 3 minutes of training; now
``benchmarks/learning.py shapes``):
width 16 reached val mIoU 0.982, width 32 reached 0.961 (4x the FLOPs, so 4x fewer epochs).
With the stride-2 stem, 5 minutes of ``learning.py pets``: width 16 0.79, width 24 0.77."""
DEFAULT_EPOCHS = 60
DEFAULT_PATIENCE = 15
"""Validations without a better val mIoU before an ``--epochs`` run stops early."""
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h)?\s*$")
_SECONDS_PER_UNIT = {None: 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in ``90s``, ``10m``, ``1.5h`` or a plain number of seconds."""
    match = _DURATION.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise TrainingError(f"--time {text!r} is not a duration; write it like 90s, 10m or 1h")
    return float(match.group(1)) * _SECONDS_PER_UNIT[match.group(2)]


@dataclass(frozen=True)
class TrainOptions:
    """Everything ``annotool train`` takes; the defaults are the CLI's defaults.

    ``image_size`` is the long side of the working size in pixels, ``None`` for ``auto``
    (see :func:`annotool.train.setup.auto_image_size`). ``time_budget`` in seconds
    replaces ``epochs`` as the length of the run. ``patience`` ``None`` means
    :data:`DEFAULT_PATIENCE` for an ``--epochs`` run and no early stopping with a time
    budget.
    """

    dataset_dir: Path
    out_dir: Path
    epochs: int = DEFAULT_EPOCHS
    time_budget: float | None = None
    batch_size: int = 8
    size: int = 256
    image_size: int | None = None
    lr: float = 2e-3
    width: int = DEFAULT_WIDTH
    device: str = "auto"
    precision: str = "auto"
    seed: int = 0
    class_weights: str = "none"
    patience: int | None = None
    resume: bool = False
    overwrite: bool = False
    workers: int | None = None
    weight_decay: float = 1e-4
    dice_weight: float = 1.0
    grad_clip: float = 1.0
    ema_decay: float = 0.99
    min_epoch_steps: int = MIN_STEPS_PER_EPOCH
    """An epoch draws at least this many batches, repeating the images of small datasets."""
    encoder: str = "unet"
    full_resolution: bool = False
    """The UNet's first level at the working size itself instead of half of it (4x the
    cost of a step; for structures a few pixels thin)."""
    pretrained: bool = False
    """Start the encoder from torchvision's ImageNet weights, downloaded once."""
    encoder_weights: Path | None = None
    """A local copy of those weights (a state dict with torchvision's names)."""
    small_objects: str = "auto"
    """``on``: crops centred on objects and objects pasted from other training photos
    (:mod:`annotool.train.sampling`); ``auto``: on when objects are small in the frame."""
    given: frozenset[str] | None = None
    """The names of the options the person gave (the CLI passes those on its command
    line); None: all of them. On ``--resume`` the others take the checkpoint's values."""

    @property
    def uses_pretrained_encoder(self) -> bool:
        return self.pretrained or self.encoder_weights is not None

    def check(self) -> None:
        for name in ("epochs", "batch_size", "size", "width"):
            if getattr(self, name) < 1:
                raise TrainingError(f"--{name.replace('_', '-')} must be at least 1")
        if self.image_size is not None and self.image_size < 16:
            raise TrainingError("--image-size must be auto or at least 16 pixels")
        if self.time_budget is not None and self.time_budget <= 0:
            raise TrainingError("--time must be positive")
        if self.lr <= 0:
            raise TrainingError("--lr must be positive")
        if self.patience is not None and self.patience < 0:
            raise TrainingError("--patience must be 0 (no early stopping) or more")
        if not 0 <= self.ema_decay < 1:
            raise TrainingError("the EMA decay must be at least 0 and below 1")
        if self.resume and self.overwrite:
            raise TrainingError("--resume and --overwrite contradict each other; pick one")
        if self.small_objects not in SMALL_OBJECTS_CHOICES:
            raise TrainingError(
                f"unknown --small-objects {self.small_objects!r}; use auto, on or off"
            )
        if self.encoder not in ENCODER_CHOICES:
            raise TrainingError(
                f"unknown --encoder {self.encoder!r}; use one of {', '.join(ENCODER_CHOICES)}"
            )
        if self.full_resolution and ENCODERS[self.encoder].is_resnet:
            raise TrainingError(
                f"--full-resolution applies to --encoder unet; a {self.encoder} encoder "
                "always starts at half the resolution"
            )
        if self.uses_pretrained_encoder and self.encoder not in PRETRAINED_ENCODERS:
            option = "--pretrained" if self.pretrained else "--encoder-weights"
            raise TrainingError(
                f"{option} needs an encoder with ImageNet weights: --encoder "
                f"{' or '.join(PRETRAINED_ENCODERS)} (--encoder {self.encoder} trains from scratch)"
            )

    @property
    def effective_patience(self) -> int:
        """Validations without improvement before stopping; 0 = never."""
        if self.patience is not None:
            return self.patience
        return 0 if self.time_budget is not None else DEFAULT_PATIENCE


DEFAULTS: dict[str, Any] = {
    item.name: item.default
    for item in dataclasses.fields(TrainOptions)
    if item.default is not dataclasses.MISSING
}
"""Every option's default, for the CLI's ``--help`` and parsing."""

FIXED_ON_RESUME = (
    "batch_size",
    "size",
    "image_size",
    "lr",
    "width",
    "encoder",
    "full_resolution",
    "pretrained",
    "encoder_weights",
    "seed",
    "class_weights",
    "weight_decay",
    "dice_weight",
    "grad_clip",
    "ema_decay",
    "min_epoch_steps",
    "small_objects",
)
"""Options that define the run: a resumed run keeps them, and giving another value is
refused (it would silently mix two runs)."""
CHANGEABLE_ON_RESUME = ("epochs", "time_budget", "patience")
"""Options a resumed run may change (to train longer, say): a value given on the command
line wins over the checkpoint's, which is kept otherwise."""
MACHINE_OPTIONS = ("device", "precision", "workers")
"""Options about the machine rather than the run: a resumed run takes them from its own
command line (or their defaults), whatever the checkpoint's run used."""
_OPTION_NAMES = {"time_budget": "--time"}
BEFORE_THE_OPTION = {"small_objects": "off"}
"""How runs from before an option trained: resuming one continues that way unless the
option is given."""


def option_name(field_name: str) -> str:
    """The command-line spelling of a TrainOptions field: ``time_budget`` -> ``--time``."""
    return _OPTION_NAMES.get(field_name, "--" + field_name.replace("_", "-"))


def options_for_resume(
    options: TrainOptions, saved: Mapping[str, Any], source: str
) -> tuple[TrainOptions, list[str]]:
    """The options to resume with, and a note for each changed option that was given.

    ``saved`` is the checkpoint's record of the options its run was started with (see
    :func:`options_record`); ``source`` names the checkpoint in messages. Options not
    given take the saved values. A given option of :data:`FIXED_ON_RESUME` that differs
    from the saved value raises TrainingError naming every such option and both values.
    """
    given = _given(options)
    current = options_record(options)
    conflicts, notes, changes = [], [], {}
    for name in (*FIXED_ON_RESUME, *CHANGEABLE_ON_RESUME, *MACHINE_OPTIONS):
        if name not in saved:  # a checkpoint from before the option existed
            if name in BEFORE_THE_OPTION and name not in given:
                changes[name] = BEFORE_THE_OPTION[name]
            continue
        if name in given or name in MACHINE_OPTIONS:
            if current[name] == saved[name]:
                continue
            shown = (
                f"{option_name(name)} {_shown(name, current[name])} "
                f"(the run used {_shown(name, saved[name])})"
            )
            if name in FIXED_ON_RESUME:
                conflicts.append(shown)
            elif name in given:
                notes.append(f"{shown} is used")
        elif current[name] != saved[name]:
            changes[name] = _from_record(name, saved[name])
    if conflicts:
        raise TrainingError(
            f"--resume continues the run of {source}, but these options differ from it: "
            f"{'; '.join(conflicts)}; leave them out to resume as it was, or start a new "
            "run with --overwrite or another --out"
        )
    return dataclasses.replace(options, **changes), notes


RESOLVED_KEY = "resolved"
"""The key of a checkpoint's training record under which what the run resolved (class
weights, precision, working size, processes) is kept beside the options as given."""
_RESOLVED_IN_OLD_RECORDS = ("class_weights", "precision", "image_size")


def saved_options(record: Mapping[str, Any]) -> dict[str, Any]:
    """The options a checkpoint's run was started with, from its training record.

    Records from before :data:`RESOLVED_KEY` wrote resolved values over three options
    (class weights as numbers, the precision picked, the working size), so those are
    not known as given there and are not compared."""
    if RESOLVED_KEY in record:
        return {key: value for key, value in record.items() if key != RESOLVED_KEY}
    return {key: value for key, value in record.items() if key not in _RESOLVED_IN_OLD_RECORDS}


def options_record(options: TrainOptions) -> dict[str, Any]:
    """The options as plain values (paths as strings), as checkpoints record them."""
    return {
        name: str(value) if isinstance(value, Path) else value
        for name, value in dataclasses.asdict(options).items()
        if name != "given"
    }


def _given(options: TrainOptions) -> frozenset[str]:
    if options.given is None:
        return frozenset(DEFAULTS)
    return options.given


def _from_record(name: str, value: Any) -> Any:
    if name == "encoder_weights" and value is not None:
        return Path(value)
    return value


def _shown(name: str, value: Any) -> str:
    if value is None:
        return "auto" if name == "image_size" else "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)
