"""The ``annotool`` command line: parse options, call the core, turn errors into messages.

This is the only module that imports click. Commands stay thin: every decision about
data lives in the core modules, which raise AnnotoolError subclasses instead of printing.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from annotool import __version__
from annotool.check import (
    AnnotationFiles,
    FileCheck,
    check_annotations,
    find_annotation_files,
    labels_in_use,
)
from annotool.choices import DEVICE_CHOICES, ENCODER_CHOICES, PRECISION_CHOICES
from annotool.convert import ConvertOptions, convert_dataset, format_pixel_shares
from annotool.errors import AnnotoolError, LabelsError
from annotool.evaluate import (
    check_model_classes,
    evaluate_model,
    evaluate_predictions,
    evaluation_report,
    format_confusion,
    format_scores,
    plot_confusion,
    split_stems,
    write_report_json,
)
from annotool.export import ExportResult, SplitRequest, export_coco, export_yolo
from annotool.export.coco import IGNORE_MODES
from annotool.fileio import atomic_write_text
from annotool.labelme_write import (
    PREDICTED_MIN_AREA,
    SHAPE_TYPES,
    ExistingPolicy,
    LabelmeOutput,
    ShapeOptions,
    ShapeType,
)
from annotool.labels import LabelSet, labels_from_names, load_labels
from annotool.masks_to_labelme import find_mask_pairs, masks_to_labelme
from annotool.polygons import DEFAULT_TOLERANCE, MAX_OVERLAP, TraceOptions
from annotool.progress import ProgressCallback, no_progress
from annotool.split import compile_group_pattern, format_split_table, split_dataset
from annotool.voc import VocLayout

F = TypeVar("F", bound=Callable[..., Any])


INTERRUPTED_EXIT_CODE = 130
"""128 + SIGINT, what shells report for a command stopped by Ctrl-C."""


class Interrupted(Exception):
    """Raised by a command that caught Ctrl-C to say what it leaves behind.

    The default message is ``Interrupted; nothing was written.``; a command whose
    outputs survive an interruption (train's checkpoints) catches KeyboardInterrupt and
    raises this with its own one line instead.
    """

    def __init__(self, message: str = "Interrupted; nothing was written.") -> None:
        super().__init__(message)


_OS_ERROR_HINTS = {
    errno.ENOSPC: "free some space or write somewhere else",
    errno.EDQUOT: "free some space or write somewhere else",
    errno.EROFS: "the file system is read-only; write somewhere else",
    errno.EACCES: "check the permissions or write somewhere else",
    errno.EPERM: "check the permissions or write somewhere else",
    errno.ENOENT: "was it moved or deleted while annotool ran?",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
}


def os_error_message(error: OSError) -> str:
    """One line for an OSError: the path, the cause, and what to do when that is clear."""
    # An OSError made from a bare message (no errno) keeps it as its only argument.
    cause = error.strerror or (str(error.args[0]) if error.args else type(error).__name__)
    hint = _OS_ERROR_HINTS.get(error.errno) if error.errno is not None else None
    paths = [str(name) for name in (error.filename, error.filename2) if name is not None]
    where = " -> ".join(paths)
    message = f"{where}: {cause}" if where else cause
    return f"{message}; {hint}" if hint else message


def reports_errors(command: F) -> F:
    """The one place where failures become messages: no command prints a traceback.

    AnnotoolError from the core and OSError (disk full, read-only or impossible output
    path, permissions, a file gone mid-run) become ``Error: ...`` and exit code 1; Ctrl-C
    prints one line (see Interrupted) on stderr and exits 130. Outputs are written
    atomically or staged, so none of these leaves a half-written file behind.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except AnnotoolError as error:
            raise click.ClickException(str(error)) from None
        except OSError as error:
            raise click.ClickException(os_error_message(error)) from None
        except (KeyboardInterrupt, Interrupted) as interruption:
            message = str(interruption) if isinstance(interruption, Interrupted) else None
            click.echo(message or str(Interrupted()), err=True)
            sys.exit(INTERRUPTED_EXIT_CODE)

    return wrapper  # type: ignore[return-value]


@contextmanager
def progress_bar(total: int, label: str, quiet: bool) -> Iterator[ProgressCallback]:
    """A progress callback drawing a bar on stderr, or doing nothing when ``quiet``."""
    if quiet or total == 0:
        yield no_progress
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bar.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="annotool")
def main() -> None:
    """Turn labelme annotations into a segmentation dataset, check, split and measure it,
    and train a first model on it."""


# Commands are grouped by capability below; each section is owned by one core module.

# --- convert, check, labels (annotool.convert, annotool.check) ---

labels_option = click.option(
    "--labels",
    "labels_spec",
    required=True,
    metavar="LABELS",
    help="labels.txt (__ignore__, _background_, then the classes) or a comma-separated list.",
)
recursive_option = click.option(
    "--recursive", is_flag=True, help="Also read .json files in subfolders of the folders given."
)
workers_option = click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=default_workers,
    show_default="all CPUs",
    help="Files processed in parallel.",
)
inputs_argument = click.argument(
    "inputs", nargs=-1, required=True, metavar="INPUT...", type=click.Path(path_type=Path)
)


def _find_inputs(inputs: tuple[Path, ...], recursive: bool) -> AnnotationFiles:
    """Resolve the labelme files once; warn about what is not read."""
    found = find_annotation_files(inputs, recursive)
    for warning in found.warnings:
        click.echo(f"warning: {warning}", err=True)
    return found


def _load_labels_option(labels_spec: str) -> LabelSet:
    try:
        return load_labels(labels_spec)
    except LabelsError as error:
        raise click.BadParameter(str(error), param_hint="'--labels'") from None


@main.command()
@inputs_argument
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@labels_option
@click.option(
    "--objects/--no-objects", default=True, help="Write SegmentationObject/ instance masks."
)
@click.option("--viz/--no-viz", default=True, help="Write colour visualizations with a legend.")
@click.option("--npy", is_flag=True, help="Also write int32 .npy label arrays (-1 = ignore).")
@click.option(
    "--skip-invalid", is_flag=True, help="Convert the valid files, list the skipped ones."
)
@click.option("--overwrite", is_flag=True, help="Replace OUT_DIR if it exists and is not empty.")
@recursive_option
@workers_option
@quiet_option
@reports_errors
def convert(
    inputs: tuple[Path, ...],
    out_dir: Path,
    labels_spec: str,
    objects: bool,
    viz: bool,
    npy: bool,
    skip_invalid: bool,
    overwrite: bool,
    recursive: bool,
    workers: int,
    quiet: bool,
) -> None:
    """Convert labelme annotations into a VOC-style dataset in OUT_DIR.

    INPUT is a folder of labelme .json files, a .json file, or several of both.
    Writes JPEGImages/, SegmentationClass/ (palettized PNG, pixel = class id, 255 =
    __ignore__), SegmentationObject/, visualizations and class_names.txt. Every file is
    checked first; by default any invalid file means nothing is written.
    """
    labels = _load_labels_option(labels_spec)
    options = ConvertOptions(objects=objects, visualizations=viz, npy=npy)
    found = _find_inputs(inputs, recursive)
    with progress_bar(len(found.files), "Converting", quiet) as progress:
        result = convert_dataset(
            found,
            out_dir,
            labels,
            options,
            recursive=recursive,
            skip_invalid=skip_invalid,
            overwrite=overwrite,
            workers=workers,
            progress=progress,
        )
    click.echo(
        f"Converted {len(result.converted)} images into {result.out_dir} "
        f"(skipped {len(result.skipped)})."
    )
    _echo_skipped_and_unused(result.skipped, result.unused_classes)
    click.echo(format_pixel_shares(result))


def _echo_skipped_and_unused(skipped: list[FileCheck], unused_classes: list[str]) -> None:
    for check in skipped:
        click.echo(f"Skipped {check.path}:")
        for problem in check.problems:
            click.echo(f"  {problem}")
    if unused_classes:
        click.echo(
            f"Warning: {len(unused_classes)} classes are never used: " + ", ".join(unused_classes),
            err=True,
        )


@main.command()
@inputs_argument
@labels_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@recursive_option
@workers_option
@quiet_option
@reports_errors
def check(
    inputs: tuple[Path, ...],
    labels_spec: str,
    as_json: bool,
    recursive: bool,
    workers: int,
    quiet: bool,
) -> None:
    """Check labelme files against LABELS without converting.

    INPUT is a folder of labelme .json files, a .json file, or several of both.
    Reports every problem with its file and shape index; exits 1 on any error. Warnings
    (classes never used, folders named *.json) do not fail.
    """
    labels = _load_labels_option(labels_spec)
    found = find_annotation_files(inputs, recursive)
    with progress_bar(len(found.files), "Checking", quiet) as progress:
        report = check_annotations(found, labels, recursive, workers, progress)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        for problem in report.errors:
            click.echo(f"error: {problem}")
        for problem in report.warnings:
            click.echo(f"warning: {problem}")
        click.echo(
            f"Checked {len(report.files)} files: {len(report.errors)} errors in "
            f"{len(report.invalid_files)} files, {len(report.warnings)} warnings."
        )
    if not report.ok:
        raise SystemExit(1)


@main.command("labels")
@inputs_argument
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the labels file here instead of printing it.",
)
@recursive_option
@reports_errors
def labels_command(inputs: tuple[Path, ...], output: Path | None, recursive: bool) -> None:
    """Write a labels file from the labels used in the annotations (folders or .json files).

    Lists __ignore__, _background_, then every other label sorted: a start for people
    who annotated before writing a labels file.
    """
    used, problems = labels_in_use(_find_inputs(inputs, recursive))
    for problem in problems:
        click.echo(f"warning: skipped {problem}", err=True)
    text = labels_from_names(used).to_text()
    if output is None:
        click.echo(text, nl=False)
    else:
        atomic_write_text(output, text)
        click.echo(f"Wrote {len(used)} labels to {output}.", err=True)


# --- split (annotool.split) ---


class SplitSizeType(click.ParamType):
    """A split size: ``0.2`` is a fraction of the images, ``50`` a number of images."""

    name = "SIZE"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float | int:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        for parse in (int, float):
            try:
                return parse(text)
            except ValueError:
                continue
        self.fail(
            f"{value!r} is neither a fraction such as 0.2 nor a number of images such as 50",
            param,
            ctx,
        )


def _check_group_pattern(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> str | None:
    if value is not None:
        try:
            compile_group_pattern(value)
        except AnnotoolError as error:
            raise click.BadParameter(str(error), ctx, param) from None
    return value


@main.command("split")
@click.argument("dataset_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--val",
    type=SplitSizeType(),
    default=None,
    help="Validation part: a fraction (0.2) or a number of images (50). "
    "[default: 0.2; not with --folds]",
)
@click.option(
    "--test",
    type=SplitSizeType(),
    default=0,
    show_default=True,
    help="Test part, held out first (also with --folds): a fraction or a number of images.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed for breaking ties: same dataset and seed, same files.",
)
@click.option(
    "--group",
    "group_pattern",
    metavar="REGEX",
    callback=_check_group_pattern,
    help="Keep stems with the same first capture group in one split, e.g. '^(.+)_frame\\d+$'; "
    "a stem that does not match is a group by itself.",
)
@click.option(
    "--folds",
    type=click.IntRange(min=2),
    default=None,
    metavar="K",
    help="Write K-fold files fold<k>/train.txt and val.txt instead of one train/val split.",
)
@click.option(
    "--keep-existing",
    is_flag=True,
    help="Stems already in the split files keep their split; only new stems are assigned.",
)
@click.option("--overwrite", is_flag=True, help="Replace existing split files.")
@quiet_option
@reports_errors
def split_command(
    dataset_dir: Path,
    val: float | int | None,
    test: float | int,
    seed: int,
    group_pattern: str | None,
    folds: int | None,
    keep_existing: bool,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Split DATASET_DIR into train, val (and test) or K folds, stratified by class.

    Writes ImageSets/Segmentation/train.txt, val.txt and trainval.txt (test.txt with
    --test), one sorted stem per line, so that every class found in two or more images
    lands in both train and val, each split holds its share of each class, and the same
    seed gives the same files. Prints the images of each class per split; '!' flags a
    class missing from a split. Background is counted but not stratified.
    """
    layout = VocLayout.open(dataset_dir)
    with progress_bar(len(layout.stems()), "Reading masks", quiet) as progress:
        result = split_dataset(
            dataset_dir,
            val=val,
            test=test,
            seed=seed,
            group_pattern=group_pattern,
            folds=folds,
            keep_existing=keep_existing,
            overwrite=overwrite,
            progress=progress,
        )
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(format_split_table(result))
    sizes = ", ".join(
        f"{name} {size}" for name, size in zip(result.split_names, result.split_sizes, strict=True)
    )
    click.echo(
        f"Wrote {len(result.files)} split files to {layout.image_sets_dir} "
        f"({sizes} images, seed {seed})."
    )


# --- export coco, export yolo (annotool.export) ---


@main.group()
def export() -> None:
    """Export labelme annotations as COCO or YOLO instance segmentation.

    The same checks, staging and options as 'annotool convert'; every object is one
    object of convert's SegmentationObject masks.
    """


def export_options(command: F) -> F:
    """The arguments and options every export format takes."""
    decorators = [
        inputs_argument,
        click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path)),
        labels_option,
        click.option(
            "--split-from",
            type=click.Path(exists=True, file_okay=False, path_type=Path),
            metavar="DATASET_DIR",
            help="Take train/val(/test) from the split files 'annotool split' wrote in "
            "DATASET_DIR/ImageSets/Segmentation.",
        ),
        click.option(
            "--seed",
            type=click.IntRange(min=0),
            default=0,
            show_default=True,
            help="Seed of the --val split, as in 'annotool split'.",
        ),
        click.option(
            "--skip-invalid", is_flag=True, help="Export the valid files, list the skipped ones."
        ),
        click.option(
            "--overwrite", is_flag=True, help="Replace OUT_DIR if it exists and is not empty."
        ),
        recursive_option,
        workers_option,
        quiet_option,
    ]
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


def _run_export(
    export_function: Callable[..., ExportResult],
    inputs: tuple[Path, ...],
    quiet: bool,
    **options: Any,
) -> ExportResult:
    found = _find_inputs(inputs, options["recursive"])
    with progress_bar(len(found.files), "Exporting", quiet) as progress:
        result = export_function(found, progress=progress, **options)
    sizes = ", ".join(f"{name} {size}" for name, size in result.split_sizes.items())
    click.echo(
        f"Exported {len(result.exported)} images{f' ({sizes})' if sizes else ''} into "
        f"{result.out_dir} (skipped {len(result.skipped)}): {result.instances} objects, "
        f"{result.polygon_instances} as their shapes' polygons, {result.mask_instances} "
        "from their pixels."
    )
    _echo_skipped_and_unused(result.skipped, result.unused_classes)
    return result


@export.command("coco")
@export_options
@click.option(
    "--val",
    type=SplitSizeType(),
    default=None,
    help="Make a train/val split as 'annotool split' does: a fraction (0.2) or a number of "
    "images. [default: no split, one annotations.json]",
)
@click.option(
    "--ignore",
    type=click.Choice(IGNORE_MODES),
    default="crowd",
    show_default=True,
    help="__ignore__ regions: iscrowd annotations (one per category) or dropped.",
)
@reports_errors
def export_coco_command(
    inputs: tuple[Path, ...],
    out_dir: Path,
    labels_spec: str,
    split_from: Path | None,
    val: float | int | None,
    seed: int,
    ignore: str,
    quiet: bool,
    **options: Any,
) -> None:
    """Export labelme annotations as a COCO dataset in OUT_DIR.

    INPUT is a folder of labelme .json files, a .json file, or several of both.
    Writes images/ (as convert writes JPEGImages/) and annotations.json, or
    instances_train.json and instances_val.json with --split-from or --val. Categories
    are the classes of LABELS, ids 1..N in its order. An object is a polygon list when
    its shapes describe it exactly, else an RLE mask (mask shapes, lines, points, objects
    partly painted over).
    """
    _run_export(
        export_coco,
        inputs,
        quiet,
        out_dir=out_dir,
        labels=_load_labels_option(labels_spec),
        ignore=ignore,
        split=SplitRequest(split_from=split_from, val=val, seed=seed),
        **options,
    )


@export.command("yolo")
@export_options
@click.option(
    "--val",
    type=SplitSizeType(),
    default=None,
    help="Validation part of a new split: a fraction (0.2) or a number of images. "
    "[default: 0.2 unless --split-from]",
)
@reports_errors
def export_yolo_command(
    inputs: tuple[Path, ...],
    out_dir: Path,
    labels_spec: str,
    split_from: Path | None,
    val: float | int | None,
    seed: int,
    quiet: bool,
    **options: Any,
) -> None:
    """Export labelme annotations as an Ultralytics YOLO segmentation dataset in OUT_DIR.

    INPUT is a folder of labelme .json files, a .json file, or several of both.
    Writes images/{train,val}/, labels/{train,val}/<stem>.txt (class index, then the
    object's outline as normalized x y pairs) and data.yaml for 'yolo segment train
    data=OUT_DIR/data.yaml'. Class index = class id - 1 (no background class).
    """
    split = SplitRequest(split_from=split_from, val=val, seed=seed)
    result = _run_export(
        export_yolo,
        inputs,
        quiet,
        out_dir=out_dir,
        labels=_load_labels_option(labels_spec),
        split=split,
        **options,
    )
    if result.images_with_ignore:
        click.echo(
            f"Note: {result.images_with_ignore} images have __ignore__ regions; YOLO has no "
            "ignore label, so those pixels are background in the export.",
            err=True,
        )


# --- stats (annotool.stats) ---


@main.command()
@click.argument("dataset_dir", type=click.Path(path_type=Path))
@click.option(
    "--split",
    metavar="NAME",
    help="Only the images of ImageSets/Segmentation/NAME.txt (e.g. train).",
)
@click.option(
    "--json",
    "json_output",
    metavar="FILE",
    help="Also write the statistics as JSON to FILE ('-' for stdout, then no table).",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE.png",
    help="Write a PNG with per-class pixel share and image counts.",
)
@click.option(
    "--no-rgb",
    is_flag=True,
    help="Skip decoding images for the RGB mean and std (faster; sizes are still read).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=default_workers,
    show_default="all CPUs",
    help="Images read in parallel.",
)
@quiet_option
@reports_errors
def stats(
    dataset_dir: Path,
    split: str | None,
    json_output: str | None,
    plot: Path | None,
    no_rgb: bool,
    workers: int,
    quiet: bool,
) -> None:
    """Class frequencies, image sizes and colours, instances, splits and class weights.

    DATASET_DIR is a dataset written by 'annotool convert' or any VOC-style dataset
    (JPEGImages/ plus SegmentationClass/ or SegmentationClassPNG/). Given a folder of
    labelme .json files instead, it counts shapes per label and shape type.
    """
    from annotool import stats as stats_core

    result: stats_core.DatasetStats | stats_core.LabelmeStats
    if stats_core.is_labelme_dir(dataset_dir):
        if split is not None:
            raise click.BadParameter(
                "--split needs a converted dataset, not a labelme folder", param_hint="--split"
            )
        found = _find_inputs((dataset_dir,), recursive=False)
        with progress_bar(len(found.files), "Reading", quiet) as progress:
            result = stats_core.labelme_stats(
                dataset_dir, progress=progress, workers=workers, files=found
            )
        table = stats_core.format_labelme_table(result)
    else:
        layout = stats_core.open_dataset(dataset_dir)
        stems, notes = stats_core.selected_stems(layout, split)
        with progress_bar(len(stems), "Measuring", quiet) as progress:
            result = stats_core.dataset_stats(
                layout,
                stems,
                split=split,
                progress=progress,
                workers=workers,
                rgb=not no_rgb,
                notes=notes,
            )
        table = stats_core.format_table(result)
    if json_output == "-":
        click.echo(stats_core.stats_to_json(result), nl=False)
    else:
        click.echo(table)
    if json_output not in (None, "-"):
        stats_core.write_stats_json(result, Path(json_output))
        click.echo(f"Wrote {json_output}", err=True)
    if plot is not None:
        stats_core.plot_stats(result, plot)
        click.echo(f"Wrote {plot}", err=True)


# --- train, predict (annotool.train) ---

device_option = click.option(
    "--device",
    type=click.Choice(DEVICE_CHOICES),
    default="auto",
    show_default=True,
    help="auto: the GPU when there is one, else the CPU.",
)
precision_option = click.option(
    "--precision",
    type=click.Choice(PRECISION_CHOICES),
    default="auto",
    show_default=True,
    help="auto: bf16 on GPUs that support it (fp16 on older ones) and on CPUs with AMX; "
    "fp32 elsewhere, where bf16 is slower.",
)


class _TrainProgress:
    """Draws the training observer's events: a bar per epoch, then a summary line.

    Implements annotool.train.events.TrainingObserver by duck typing, so this module
    need not import torch.
    """

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None

    def close(self) -> None:
        if self.bar is not None:
            self.bar.render_finish()
            self.bar = None

    def _open(self, length: int, label: str) -> None:
        self.close()
        if not self.quiet and length > 0:
            self.bar = click.progressbar(
                length=length,
                label=label,
                file=sys.stderr,
                item_show_func=lambda text: text,
            )

    def on_message(self, message: str) -> None:
        click.echo(message, err=True)

    def on_epoch_start(self, epoch: int, epochs: int | None, train_images: int) -> None:
        self._open(train_images, f"Epoch {epoch}" + ("" if epochs is None else f"/{epochs}"))

    def on_train_step(self, images: int, loss: float, images_per_s: float) -> None:
        if self.bar is not None:
            self.bar.update(images, f"loss {loss:.4f}, {images_per_s:.1f} img/s")

    def on_validation_start(self, images: int) -> None:
        self._open(images, "Validating")

    def on_validation_step(self, images: int) -> None:
        if self.bar is not None:
            self.bar.update(images)

    def on_epoch_end(self, result: Any) -> None:
        self.close()
        scores = result.scores
        marker = " *" if result.improved else ""
        of = f"/{result.epochs}" if result.epochs is not None else ""
        left = "" if result.seconds_left is None else f", {result.seconds_left:.0f} s left"
        click.echo(
            f"epoch {result.epoch}{of} (step {result.step}{left}): "
            f"train loss {result.train_loss:.4f}, "
            f"val loss {result.val_loss:.4f}, mIoU {_score(scores.miou)}{marker}, "
            f"pixel accuracy {_score(scores.pixel_accuracy)}, "
            f"{result.images_per_s:.1f} img/s, {result.seconds:.0f} s"
        )
        click.echo(
            "  IoU "
            + ", ".join(
                f"{name} {_score(iou)}"
                for name, iou in zip(scores.class_names, scores.iou, strict=True)
            )
        )


def _score(value: float) -> str:
    """A score with 4 decimals, or n/a for NaN (a class absent from truth and prediction)."""
    return "n/a" if value != value else f"{value:.4f}"


def _image_size(context: click.Context, parameter: click.Parameter, value: str) -> int | None:
    """``--image-size``: ``auto`` (None) or a whole number of pixels, at least 16."""
    if value == "auto":
        return None
    if not value.isdigit() or int(value) < 16:
        raise click.BadParameter("give auto or a number of pixels of 16 or more")
    return int(value)


@main.command()
@click.argument("dataset_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--out",
    "-o",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Run directory for best.pt, last.pt, metrics.csv and curves.png.",
)
@click.option(
    "--time",
    "time_budget",
    metavar="DURATION",
    help="Train for this wall-clock time (90s, 10m, 1h) instead of a number of epochs; "
    "the schedule stretches over it and the run ends on time with the best model saved.",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=None,
    show_default="60 (without --time)",
    help="Number of epochs; an epoch is every training image at least once and at least "
    "25 batches of crops (small datasets repeat their images).",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option(
    "--size",
    type=click.IntRange(min=16),
    default=256,
    show_default=True,
    help="Side of the square training crops, in working-size pixels.",
)
@click.option(
    "--image-size",
    default="auto",
    show_default=True,
    callback=_image_size,
    metavar="auto|PIXELS",
    help="Working size: images are scaled so their long side is this many pixels for "
    "training, validation, predict and evaluate (masks come out at the original size). "
    "auto: the training images' median long side, at most 384.",
)
@click.option(
    "--lr",
    type=click.FloatRange(min=0, min_open=True),
    default=2e-3,
    show_default=True,
    help="Peak learning rate of AdamW (linear warm-up of at most 100 steps, then cosine "
    "decay over the run).",
)
@click.option(
    "--width",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="UNet base channels, doubling at each of the 4 levels (16 learns fastest on a "
    "CPU; try 32 on a GPU); with a ResNet encoder, the decoder's.",
)
@click.option(
    "--encoder",
    type=click.Choice(ENCODER_CHOICES),
    default="unet",
    show_default=True,
    help="unet: the plain UNet, from scratch. resnet18/resnet34: a UNet decoder on a ResNet "
    "encoder, which can start from ImageNet weights (--pretrained).",
)
@click.option(
    "--pretrained",
    is_flag=True,
    help="Start the ResNet encoder from torchvision's ImageNet weights (downloaded once into "
    "torch's hub cache); inputs are then normalized with ImageNet's mean and std.",
)
@click.option(
    "--encoder-weights",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    metavar="FILE",
    help="Like --pretrained, from a local copy of the weights (a .pth state dict with "
    "torchvision's names, e.g. resnet18-f37072fd.pth).",
)
@device_option
@precision_option
@click.option("--seed", type=int, default=0, show_default=True, help="Makes CPU runs repeatable.")
@click.option(
    "--class-weights",
    default="none",
    show_default=True,
    metavar="none|auto|FILE",
    help="Cross-entropy class weights: auto = median-frequency balancing from "
    "'annotool stats', FILE = a JSON written by 'annotool stats --json'.",
)
@click.option(
    "--patience",
    type=click.IntRange(min=0),
    default=None,
    show_default="15 with --epochs, off with --time",
    help="Stop after this many validations (one per epoch) past the warm-up without a "
    "better val mIoU (0: never).",
)
@click.option("--resume", is_flag=True, help="Continue the run in RUN_DIR from its last.pt.")
@click.option("--overwrite", is_flag=True, help="Replace the results of a run in RUN_DIR.")
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=None,
    show_default="GPU: up to 8; CPU: a quarter of the cores, at most 4",
    help="DataLoader worker processes (0: load in the main process).",
)
@quiet_option
@reports_errors
def train(
    dataset_dir: Path,
    out_dir: Path,
    time_budget: str | None,
    epochs: int | None,
    batch_size: int,
    size: int,
    image_size: int | None,
    lr: float,
    width: int,
    encoder: str,
    pretrained: bool,
    encoder_weights: Path | None,
    device: str,
    precision: str,
    seed: int,
    class_weights: str,
    patience: int | None,
    resume: bool,
    overwrite: bool,
    workers: int | None,
    quiet: bool,
) -> None:
    """Train a UNet on DATASET_DIR (from 'annotool convert' and 'annotool split').

    Trains on the images of ImageSets/Segmentation/train.txt with augmented crops at the
    working size and validates on val.txt after every epoch, keeping the best model in
    RUN_DIR/best.pt. Needs the train extra: pip install 'annotool[train]'. Examples:

    \b
    annotool train DATASET_DIR --out RUN_DIR --time 10m
    torchrun --nproc_per_node N -m annotool train DATASET_DIR --out RUN_DIR
    """
    from annotool.train import loop, options  # imports torch

    if time_budget is not None and epochs is not None:
        raise click.UsageError("give --epochs or --time, not both")
    train_options = options.TrainOptions(
        dataset_dir=dataset_dir,
        out_dir=out_dir,
        epochs=epochs or options.DEFAULT_EPOCHS,
        time_budget=None if time_budget is None else options.parse_duration(time_budget),
        batch_size=batch_size,
        size=size,
        image_size=image_size,
        lr=lr,
        width=width,
        encoder=encoder,
        pretrained=pretrained,
        encoder_weights=encoder_weights,
        device=device,
        precision=precision,
        seed=seed,
        class_weights=class_weights,
        patience=patience,
        resume=resume,
        overwrite=overwrite,
        workers=workers,
    )
    progress = _TrainProgress(quiet)
    try:
        result = loop.train(train_options, progress)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        raise Interrupted(_interrupted_training(dataset_dir, out_dir)) from None
    finally:
        progress.close()
    if not result.is_main_process:
        return
    if result.stopped_early:
        click.echo(
            f"Stopped early: no better val mIoU for {train_options.effective_patience} validations"
        )
    share = result.validation_seconds / max(result.seconds, 1e-9)
    click.echo(
        f"Best val mIoU {result.best_miou:.4f} at epoch {result.best_epoch}: "
        f"{result.best_checkpoint} ({result.seconds:.0f} s, {share:.0%} of it validating)"
    )


def _interrupted_training(dataset_dir: Path, out_dir: Path) -> str:
    """The line for Ctrl-C during train: where the last checkpoint is, how to go on."""
    last = out_dir / "last.pt"
    if not last.is_file():
        return f"Interrupted before the first epoch ended; no checkpoint was written in {out_dir}."
    return (
        f"Interrupted; the last checkpoint is {last}. Continue with: "
        f"annotool train {dataset_dir} --out {out_dir} --resume"
    )


tolerance_option = click.option(
    "--tolerance",
    type=click.FloatRange(min=0),
    default=DEFAULT_TOLERANCE,
    show_default=True,
    metavar="PX",
    help="How far a simplified outline may stray from the traced one; 0 = exact outlines.",
)
shape_type_option = click.option(
    "--shape-type",
    type=click.Choice(SHAPE_TYPES),
    default="polygon",
    show_default=True,
    help="polygon: outlines to edit; mask: labelme's lossless mask shapes (labelme >= 5.3).",
)


def _min_area_option(default: int) -> Callable[[F], F]:
    return click.option(
        "--min-area",
        type=click.IntRange(min=0),
        default=default,
        show_default=True,
        metavar="PX",
        help="Drop regions smaller than this many pixels (they take the class around them).",
    )


def _report_failures(failed: list[tuple[Path, str]], total: int, what: str) -> None:
    """List each failed input on stderr and exit 1, saying the others were written."""
    if not failed:
        return
    for _, message in failed:
        click.echo(f"  {message}", err=True)
    raise click.ClickException(
        f"{len(failed)} of {total} {what} failed (listed above); the others were written"
    )


@main.command()
@click.argument("checkpoint", type=click.Path(path_type=Path, dir_okay=False))
@click.argument(
    "inputs", nargs=-1, required=True, metavar="INPUT...", type=click.Path(path_type=Path)
)
@click.option(
    "--out",
    "-o",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for the masks <stem>.png (and overlays <stem>_overlay.jpg); with "
    "--labelme, for the JSON files (default there: beside each image).",
)
@click.option("--overlay", is_flag=True, help="Also write each mask blended over its photo.")
@click.option(
    "--labelme",
    is_flag=True,
    help="Write labelme JSON <stem>.json with the predicted shapes instead of masks, "
    "ready to correct in labelme. An existing JSON is left alone.",
)
@click.option(
    "--merge",
    is_flag=True,
    help="With --labelme: add predicted regions to an existing JSON where they do not "
    f"overlap its shapes (at most {MAX_OVERLAP:.0%} of a region's pixels); its shapes stay.",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="With --labelme: replace an existing JSON (its shapes are lost).",
)
@click.option(
    "--min-confidence",
    type=click.FloatRange(min=0, max=1),
    default=0.0,
    show_default=True,
    help="With --labelme: drop regions whose mean predicted probability is lower.",
)
@tolerance_option
@_min_area_option(PREDICTED_MIN_AREA)
@shape_type_option
@device_option
@precision_option
@quiet_option
@reports_errors
def predict(
    checkpoint: Path,
    inputs: tuple[Path, ...],
    out_dir: Path | None,
    overlay: bool,
    labelme: bool,
    merge: bool,
    overwrite: bool,
    min_confidence: float,
    tolerance: float,
    min_area: int,
    shape_type: ShapeType,
    device: str,
    precision: str,
    quiet: bool,
) -> None:
    """Segment images with a trained CHECKPOINT (best.pt or last.pt).

    INPUT is an image or a folder of images. Each mask is a palettized PNG of class ids
    at the image's own size (EXIF orientation applied). With --labelme, each image gets
    a labelme JSON instead, whose shapes say they were predicted and how sure the model
    was. An image that cannot be read is named at the end (exit 1); the others are
    done. Needs the train extra.
    """
    labelme_output = _labelme_output(
        labelme, out_dir, overlay, merge, overwrite, min_confidence, tolerance, min_area, shape_type
    )
    from annotool.train.predict import Predictor, collect_images, predict_images  # torch

    images = collect_images(inputs)
    predictor = Predictor.from_checkpoint(checkpoint, device=device, precision=precision)
    with progress_bar(len(images), "Predicting", quiet) as progress:
        report = predict_images(
            predictor, images, out_dir, overlay=overlay, labelme=labelme_output, progress=progress
        )
    if labelme_output is None:
        click.echo(f"Wrote {len(report.written)} masks to {out_dir}")
    else:
        where = f"to {out_dir}" if out_dir is not None else "beside the images"
        click.echo(f"Wrote {len(report.written)} labelme files {where}")
        if report.skipped:
            click.echo(
                f"Skipped {len(report.skipped)} images that already have a labelme JSON "
                "(--merge adds predictions to them, --overwrite replaces them)"
            )
    _report_failures(report.failed, len(images), "images")


def _labelme_output(
    labelme: bool,
    out_dir: Path | None,
    overlay: bool,
    merge: bool,
    overwrite: bool,
    min_confidence: float,
    tolerance: float,
    min_area: int,
    shape_type: ShapeType,
) -> LabelmeOutput | None:
    """The LabelmeOutput that predict's options ask for (None: masks), after checking
    that they go together."""
    if not labelme:
        given = [name for name, on in (("--merge", merge), ("--overwrite", overwrite)) if on]
        if min_confidence > 0:
            given.append("--min-confidence")
        if given:
            needs = "needs" if len(given) == 1 else "need"
            raise click.UsageError(f"{' and '.join(given)} {needs} --labelme")
        if out_dir is None:
            raise click.UsageError("give --out for the masks (or --labelme to write labelme JSON)")
        return None
    if merge and overwrite:
        raise click.UsageError("--merge and --overwrite exclude each other")
    if overlay:
        raise click.UsageError("--overlay goes with masks, not with --labelme")
    trace = TraceOptions(tolerance=tolerance, min_area=min_area, min_confidence=min_confidence)
    existing: ExistingPolicy = "merge" if merge else "overwrite" if overwrite else "skip"
    return LabelmeOutput(shapes=ShapeOptions(trace, shape_type), existing=existing)


# --- masks-to-labelme (annotool.masks_to_labelme) ---


@main.command("masks-to-labelme")
@click.argument("mask_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("image_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@labels_option
@tolerance_option
@_min_area_option(0)
@shape_type_option
@click.option("--overwrite", is_flag=True, help="Replace JSON files that exist in OUT_DIR.")
@workers_option
@quiet_option
@reports_errors
def masks_to_labelme_command(
    mask_dir: Path,
    image_dir: Path,
    out_dir: Path,
    labels_spec: str,
    tolerance: float,
    min_area: int,
    shape_type: ShapeType,
    overwrite: bool,
    workers: int,
    quiet: bool,
) -> None:
    """Turn class masks into labelme JSON files, one per mask, to edit in labelme.

    MASK_DIR holds <stem>.png masks of class ids (palettized or greyscale; RGB masks in
    the VOC colour map are mapped back to ids); IMAGE_DIR the images of the same stems.
    Each connected region becomes a polygon (holes are later _background_ polygons, 255
    becomes __ignore__), so 'annotool convert OUT_DIR' gives the masks back. An existing
    JSON is left alone unless --overwrite. Open the result with
    'labelme IMAGE_DIR --output OUT_DIR --labels LABELS'.
    """
    labels = _load_labels_option(labels_spec)
    pairs = find_mask_pairs(mask_dir, image_dir)
    options = ShapeOptions(TraceOptions(tolerance=tolerance, min_area=min_area), shape_type)
    with progress_bar(len(pairs), "Converting", quiet) as progress:
        report = masks_to_labelme(
            pairs, out_dir, labels, options, overwrite=overwrite, workers=workers, progress=progress
        )
    click.echo(f"Wrote {len(report.written)} labelme files to {out_dir}")
    if report.skipped:
        click.echo(
            f"Skipped {len(report.skipped)} masks whose JSON exists in {out_dir} "
            "(--overwrite replaces them)"
        )
    _report_failures(report.failed, len(pairs), "masks")


# --- evaluate (annotool.evaluate) ---


@main.command()
@click.argument(
    "paths", nargs=-1, metavar="[CHECKPOINT] DATASET_DIR", type=click.Path(path_type=Path)
)
@click.option(
    "--pred",
    "prediction_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder of predicted masks, <stem>.png with class ids (palettized or greyscale), "
    "from any model; scored with numpy only (no torch needed). Give this or CHECKPOINT.",
)
@click.option(
    "--split",
    default="val",
    show_default=True,
    help="Split to score: ImageSets/Segmentation/SPLIT.txt, or 'all' for every mask.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the scores and confusion matrix to this JSON file.",
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write a confusion-matrix heatmap (row-normalized) to this PNG file.",
)
@device_option
@precision_option
@quiet_option
@reports_errors
def evaluate(
    paths: tuple[Path, ...],
    prediction_dir: Path | None,
    split: str,
    json_path: Path | None,
    plot_path: Path | None,
    device: str,
    precision: str,
    quiet: bool,
) -> None:
    """Score segmentation masks against DATASET_DIR's ground truth.

    Reports per-class IoU, accuracy and Dice, mIoU with and without background, pixel
    accuracy, mean accuracy and the confusion matrix, all from one confusion matrix over
    the whole split; ignored pixels (255) are left out and a class absent from both
    ground truth and prediction is n/a.

    \b
    annotool evaluate runs/best.pt dataset/            run a trained model (needs torch)
    annotool evaluate --pred masks/ dataset/           score masks from any model
    annotool evaluate --pred masks/ dataset/ --split all --json scores.json --plot cm.png
    """
    dataset_dir = _evaluate_dataset_dir(paths, prediction_dir)
    layout = VocLayout.open(dataset_dir)
    stems = split_stems(layout, split)
    if prediction_dir is not None:
        source = {"predictions": str(prediction_dir)}
        with progress_bar(len(stems), "Evaluating", quiet) as progress:
            scores = evaluate_predictions(
                layout, stems, prediction_dir, layout.read_class_names(), progress
            )
    else:
        from annotool.train.predict import Predictor  # torch: only when a model runs

        checkpoint = paths[0]
        predictor = Predictor.from_checkpoint(checkpoint, device=device, precision=precision)
        class_names = check_model_classes(layout, predictor.class_names)
        source = {"checkpoint": str(checkpoint)}
        with progress_bar(len(stems), "Evaluating", quiet) as progress:
            scores = evaluate_model(layout, stems, predictor.predict, class_names, progress)

    click.echo(f"Evaluated {len(stems)} images of split '{split}' of {dataset_dir}")
    click.echo(format_scores(scores))
    click.echo("\nConfusion matrix (pixel counts; rows = ground truth, columns = predicted id):")
    click.echo(format_confusion(scores))
    if json_path is not None:
        report = evaluation_report(
            scores, dataset=dataset_dir, split=split, images=len(stems), source=source
        )
        write_report_json(json_path, report)
        click.echo(f"Wrote {json_path}")
    if plot_path is not None:
        plot_confusion(scores, plot_path)
        click.echo(f"Wrote {plot_path}")


def _evaluate_dataset_dir(paths: tuple[Path, ...], prediction_dir: Path | None) -> Path:
    """DATASET_DIR, refusing both or neither of CHECKPOINT and --pred."""
    if len(paths) == 2 and prediction_dir is not None:
        raise click.UsageError("give either CHECKPOINT or --pred PRED_DIR, not both")
    if len(paths) == 2 or (len(paths) == 1 and prediction_dir is not None):
        return paths[-1]
    if len(paths) == 1:
        raise click.UsageError(
            "nothing to evaluate: give a CHECKPOINT to run before DATASET_DIR, "
            "or --pred PRED_DIR with predicted masks"
        )
    raise click.UsageError(
        f"expected [CHECKPOINT] DATASET_DIR, got {len(paths)} paths; "
        "usage: annotool evaluate CHECKPOINT DATASET_DIR | --pred PRED_DIR DATASET_DIR"
    )
