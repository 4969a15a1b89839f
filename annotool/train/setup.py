"""Everything a run is made of before its first step: options, dataset, classes,
normalization, class weights, working size and model config, restored from ``last.pt``
on ``--resume``."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from annotool.choices import ENCODERS
from annotool.errors import CheckpointError, DatasetError, TrainingError
from annotool.fileio import check_output_dir
from annotool.images import ImageSource, read_header
from annotool.stats import DatasetStats, dataset_stats, read_class_weights
from annotool.tables import name_some
from annotool.train.checkpoint import Checkpoint, load_checkpoint
from annotool.train.device import DistributedContext, Precision
from annotool.train.encoders import PretrainedWeights, pretrained_weights
from annotool.train.model import IMAGENET_NORMALIZATION, ModelConfig, Normalization
from annotool.train.options import (
    RESOLVED_KEY,
    TrainOptions,
    options_for_resume,
    saved_options,
)
from annotool.train.precision import PrecisionChoice, choose_training_precision
from annotool.train.report import CURVES_FILE, METRICS_FILE
from annotool.train.sampling import SmallObjects, object_crops
from annotool.voc import VocLayout

BEST_CHECKPOINT = "best.pt"
LAST_CHECKPOINT = "last.pt"
MAX_AUTO_IMAGE_SIZE = 512
"""``--image-size auto`` shrinks photos to this long side at most (see docs/train.md's
measurements): larger working sizes show the network less of each object per crop and
make validation slower; smaller ones lose detail, since the UNet works at half of it
(5 minutes on ``benchmarks/learning.py``: pets 0.79 at 384, 0.86 at 512; boards 0.62,
0.63). With ``--small-objects`` on, 800 was tried: ``clutter`` 0.31 -> 0.34 and 0.27 ->
0.32, but ``boards`` 0.56 -> 0.44 and 0.62 -> 0.44, so 512 stays."""
IMAGE_SIZE_MULTIPLE = 16
MAX_LISTED_MISSING = 5
"""How many missing files an error message names before it only counts the rest."""


@dataclass
class RunSetup:
    """The pieces a run is made of, built once by :func:`prepare`."""

    options: TrainOptions
    """The options the run goes by: on ``--resume``, the checkpoint's where not given."""
    layout: VocLayout
    out_dir: Path
    class_names: list[str]
    train_stems: list[str]
    val_stems: list[str]
    normalization: Normalization
    class_weights: list[float] | None
    image_size: int
    model_config: ModelConfig
    device: torch.device
    precision: Precision
    precision_choice: PrecisionChoice | None
    """What ``--precision auto`` measured (None for a precision given)."""
    resumed: Checkpoint | None
    encoder_weights: PretrainedWeights | None
    """Pretrained weights to start the encoder from; read by rank 0 only, since
    DistributedDataParallel copies rank 0's weights to the other ranks."""
    objects: SmallObjects
    """The objects of the training masks (kept when ``--small-objects`` turns object crops
    on) and whether they are small."""


def prepare(
    options: TrainOptions,
    device: torch.device,
    context: DistributedContext,
    on_message: Callable[[str], None],
) -> RunSetup:
    layout = VocLayout.open(options.dataset_dir)
    class_names = layout.read_class_names()
    if class_names is None:
        raise DatasetError(
            f"{layout.class_names_path} does not exist; it lists the classes (_background_ "
            "first, one per line) and is written by 'annotool convert'"
        )
    if len(class_names) < 2:
        raise DatasetError(
            f"{layout.class_names_path} lists {len(class_names)} class; training needs "
            "_background_ and at least one object class"
        )
    train_stems = layout.read_split("train")
    val_stems = layout.read_split("val")
    for split, stems in (("train", train_stems), ("val", val_stems)):
        if not stems:
            raise DatasetError(
                f"{layout.split_path(split)} is empty; run 'annotool split {layout.root} "
                "--overwrite' to assign images to train and val"
            )
        _check_files_exist(layout, split, stems)
    out_dir = Path(options.out_dir)
    resumed = None
    if options.resume:
        resumed = _load_resume_checkpoint(out_dir, class_names)
        options, notes = options_for_resume(
            options, saved_options(resumed.training), str(out_dir / LAST_CHECKPOINT)
        )
        for note in notes:
            on_message(note)
    else:
        check_output_dir(out_dir, options.overwrite)
        if context.is_main:
            for name in (BEST_CHECKPOINT, LAST_CHECKPOINT, METRICS_FILE, CURVES_FILE):
                (out_dir / name).unlink(missing_ok=True)
    objects = object_crops(options.small_objects, layout, train_stems, len(class_names))
    if objects.note is not None:
        on_message(objects.note)
    encoder_weights = None
    if resumed is not None:
        normalization = resumed.normalization
        # Records from before RESOLVED_KEY kept the resolved weights under the option's name.
        class_weights = resumed.training.get(RESOLVED_KEY, resumed.training).get("class_weights")
        model_config = resumed.model_config
        image_size = resumed.image_size or auto_image_size(layout, train_stems)
        on_message(
            f"resuming {out_dir / LAST_CHECKPOINT} after epoch {resumed.epoch} "
            f"(best mIoU {resumed.best_miou:.4f})"
        )
    else:
        stats = dataset_stats(layout, train_stems, split="train")
        # Every train image exists (checked above), so rgb_mean and rgb_std are measured.
        normalization = Normalization.from_dict(
            {"mean": stats.images.rgb_mean, "std": stats.images.rgb_std}  # type: ignore[dict-item]
        )
        class_weights = _class_weights(options.class_weights, stats, len(class_names))
        model_config = ModelConfig(
            num_classes=len(class_names),
            width=options.width,
            encoder=options.encoder,
            stem_stride=1 if options.full_resolution else 2,
        )
        if options.uses_pretrained_encoder:
            # The weights expect inputs normalized as in their ImageNet training.
            normalization = IMAGENET_NORMALIZATION
            if context.is_main:
                encoder_weights = pretrained_weights(options.encoder, options.encoder_weights)
        image_size = options.image_size or auto_image_size(layout, train_stems)
    precision, precision_choice = choose_training_precision(
        options.precision, device, model_config, options.size, context
    )
    if precision_choice is not None:
        on_message(precision_choice.describe())
    on_message(
        f"{len(train_stems)} train and {len(val_stems)} val images, {len(class_names)} classes; "
        f"working size {image_size} px (long side); device {device}, precision {precision}, "
        f"{_describe_model(model_config)}"
        + (f" ({encoder_weights.source})" if encoder_weights is not None else "")
        + (f", {context.world_size} processes" if context.is_distributed else "")
    )
    return RunSetup(
        options=options,
        layout=layout,
        out_dir=out_dir,
        class_names=class_names,
        train_stems=train_stems,
        val_stems=val_stems,
        normalization=normalization,
        class_weights=class_weights,
        image_size=image_size,
        model_config=model_config,
        device=device,
        precision=precision,
        precision_choice=precision_choice,
        resumed=resumed,
        encoder_weights=encoder_weights,
        objects=objects,
    )


def _describe_model(config: ModelConfig) -> str:
    if ENCODERS[config.encoder].is_resnet:
        return f"{config.encoder} encoder, UNet decoder width {config.width}"
    scale = "half" if config.stem_stride == 2 else "full"
    return f"UNet width {config.width} at {scale} resolution"


def auto_image_size(layout: VocLayout, stems: list[str]) -> int:
    """The working size for ``--image-size auto``: the median long side of the training
    images, at most :data:`MAX_AUTO_IMAGE_SIZE`, rounded to a multiple of 16."""
    long_sides = []
    for stem in stems:
        header = read_header(ImageSource.file(layout.image_path(stem), oriented=False))
        long_sides.append(max(header.height, header.width))
    median = min(statistics.median(long_sides), MAX_AUTO_IMAGE_SIZE)
    return max(IMAGE_SIZE_MULTIPLE, round(median / IMAGE_SIZE_MULTIPLE) * IMAGE_SIZE_MULTIPLE)


def _check_files_exist(layout: VocLayout, split: str, stems: list[str]) -> None:
    """Fail before training, not in a DataLoader worker halfway through an epoch."""
    missing = [
        str(path)
        for stem in stems
        for path in (layout.image_path(stem), layout.class_mask_path(stem))
        if not path.is_file()
    ]
    if missing:
        raise DatasetError(
            f"{layout.split_path(split)} lists images whose files are missing: "
            f"{name_some(missing, MAX_LISTED_MISSING)}; "
            f"re-run 'annotool split {layout.root} --overwrite' after changing the dataset"
        )


def _load_resume_checkpoint(out_dir: Path, class_names: list[str]) -> Checkpoint:
    path = out_dir / LAST_CHECKPOINT
    if not path.is_file():
        raise TrainingError(
            f"--resume needs {path}, which does not exist; start a new run without --resume"
        )
    checkpoint = load_checkpoint(path)
    if checkpoint.optimizer_state is None:
        raise CheckpointError(f"{path} holds no optimizer state, so training cannot resume")
    if list(checkpoint.class_names) != class_names:
        raise TrainingError(
            f"{path} was trained on classes {list(checkpoint.class_names)} but the dataset now "
            f"has {class_names}; start a new run with --overwrite or another --out"
        )
    return checkpoint


def _class_weights(spec: str, train_stats: DatasetStats, num_classes: int) -> list[float] | None:
    """Loss weights per class: none, median-frequency balancing (``auto``), or a stats JSON."""
    if spec == "none":
        return None
    if spec == "auto":
        weights, source = list(train_stats.class_weights.median_frequency), "annotool stats"
    else:
        try:
            weights, source = list(read_class_weights(Path(spec))), spec
        except DatasetError as error:
            raise TrainingError(f"--class-weights {spec}: {error}") from None
    if len(weights) != num_classes:
        raise TrainingError(
            f"class weights from {source} give {len(weights)} values but the dataset has "
            f"{num_classes} classes"
        )
    return weights
