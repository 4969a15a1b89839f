"""``annotool export coco`` and ``annotool export yolo`` (annotool.export)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from annotool.cli.common import (
    F,
    SplitSizeType,
    docs_epilog,
    echo_skipped_and_unused,
    find_inputs,
    inputs_argument,
    labels_option,
    load_labels_option,
    load_map_option,
    map_option,
    progress_bar,
    quiet_option,
    recursive_option,
    reports_errors,
    workers_option,
)
from annotool.export import ExportResult, SplitRequest, export_coco, export_yolo
from annotool.export.coco import IGNORE_MODES


@click.group(epilog=docs_epilog("export.md"))
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
        map_option,
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
    map_specs: tuple[str, ...],
    **options: Any,
) -> ExportResult:
    label_map = load_map_option(map_specs)
    found = find_inputs(inputs, options["recursive"])
    with progress_bar(len(found.files), "Exporting", quiet) as progress:
        result = export_function(found, progress=progress, label_map=label_map, **options)
    sizes = ", ".join(f"{name} {size}" for name, size in result.split_sizes.items())
    click.echo(
        f"Exported {len(result.exported)} images{f' ({sizes})' if sizes else ''} into "
        f"{result.out_dir} (skipped {len(result.skipped)}): {result.instances} objects, "
        f"{result.polygon_instances} as their shapes' polygons, {result.mask_instances} "
        "from their pixels."
    )
    echo_skipped_and_unused(result.skipped, result.unused_classes)
    return result


@export.command("coco", epilog=docs_epilog("export.md"))
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
        labels=load_labels_option(labels_spec),
        ignore=ignore,
        split=SplitRequest(split_from=split_from, val=val, seed=seed),
        **options,
    )


@export.command("yolo", epilog=docs_epilog("export.md"))
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
        labels=load_labels_option(labels_spec),
        split=split,
        **options,
    )
    if result.images_with_ignore:
        click.echo(
            f"Note: {result.images_with_ignore} images have __ignore__ regions; YOLO has no "
            "ignore label, so those pixels are background in the export.",
            err=True,
        )
