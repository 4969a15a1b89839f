"""Commands that read or write labelme files: convert, check, labels, masks-to-labelme."""

from __future__ import annotations

import json
from pathlib import Path

import click

from annotool.check import check_annotations, find_annotation_files, labels_in_use
from annotool.cli.common import (
    docs_epilog,
    echo_skipped_and_unused,
    find_inputs,
    inputs_argument,
    interrupted_file_by_file,
    labels_option,
    load_labels_option,
    load_map_option,
    map_option,
    min_area_option,
    progress_bar,
    quiet_option,
    recursive_option,
    report_failures,
    reports_errors,
    shape_type_option,
    tolerance_option,
    workers_option,
)
from annotool.convert import ConvertOptions, convert_dataset, format_pixel_shares
from annotool.fileio import atomic_write_text
from annotool.labelme_write import ShapeOptions, ShapeType
from annotool.labels import LabelSet, labels_from_names
from annotool.masks_to_labelme import MaskPair, find_mask_pairs, masks_to_labelme
from annotool.polygons import TraceOptions
from annotool.update import update_dataset


@click.command(epilog=docs_epilog("convert.md"))
@inputs_argument
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@labels_option
@map_option
@click.option(
    "--objects/--no-objects", default=True, help="Write SegmentationObject/ instance masks."
)
@click.option("--viz/--no-viz", default=True, help="Write colour visualizations with a legend.")
@click.option("--npy", is_flag=True, help="Also write int32 .npy label arrays (-1 = ignore).")
@click.option(
    "--skip-invalid", is_flag=True, help="Convert the valid files, list the skipped ones."
)
@click.option("--overwrite", is_flag=True, help="Replace OUT_DIR if it exists and is not empty.")
@click.option(
    "--update",
    is_flag=True,
    help="Reuse OUT_DIR from an earlier convert: convert only new and changed files, "
    "remove the outputs of deleted ones.",
)
@recursive_option
@workers_option
@quiet_option
@reports_errors
def convert(
    inputs: tuple[Path, ...],
    out_dir: Path,
    labels_spec: str,
    map_specs: tuple[str, ...],
    objects: bool,
    viz: bool,
    npy: bool,
    skip_invalid: bool,
    overwrite: bool,
    update: bool,
    recursive: bool,
    workers: int,
    quiet: bool,
) -> None:
    """Convert labelme annotations into a VOC-style dataset in OUT_DIR.

    INPUT is a folder of labelme .json files, a .json file, or several of both.
    Writes JPEGImages/, SegmentationClass/ (palettized PNG, pixel = class id, 255 =
    __ignore__), SegmentationObject/, visualizations, class_names.txt and a manifest of
    what it was made from. Every file is checked first; by default any invalid file
    means nothing is written. --update redoes only what changed since the convert that
    wrote OUT_DIR (everything when the labels or options changed) and leaves the same
    files a full convert would.
    """
    if update and overwrite:
        raise click.UsageError(
            "--update reuses OUT_DIR and --overwrite replaces it; pass one of them"
        )
    labels = load_labels_option(labels_spec)
    label_map = load_map_option(map_specs)
    options = ConvertOptions(objects=objects, visualizations=viz, npy=npy)
    found = find_inputs(inputs, recursive)
    with progress_bar(len(found.files), "Updating" if update else "Converting", quiet) as progress:
        if update:
            result = update_dataset(
                found,
                out_dir,
                labels,
                options,
                recursive=recursive,
                skip_invalid=skip_invalid,
                workers=workers,
                progress=progress,
                label_map=label_map,
            )
        else:
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
                label_map=label_map,
            )
    if update:
        for reason in result.redo_reasons:
            click.echo(f"Converting everything: {reason}.")
        click.echo(
            f"Updated {result.out_dir}: converted {len(result.converted)}, kept "
            f"{result.kept}, removed {len(result.removed)} (skipped {len(result.skipped)})."
        )
        for problem in result.warnings:
            click.echo(f"warning: {problem}", err=True)
    else:
        click.echo(
            f"Converted {len(result.converted)} images into {result.out_dir} "
            f"(skipped {len(result.skipped)})."
        )
    echo_skipped_and_unused(result.skipped, result.unused_classes)
    click.echo(format_pixel_shares(result))


@click.command(epilog=docs_epilog("convert.md"))
@inputs_argument
@labels_option
@map_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@recursive_option
@workers_option
@quiet_option
@reports_errors
def check(
    inputs: tuple[Path, ...],
    labels_spec: str,
    map_specs: tuple[str, ...],
    as_json: bool,
    recursive: bool,
    workers: int,
    quiet: bool,
) -> None:
    """Check labelme files against LABELS without converting.

    INPUT is a folder of labelme .json files, a .json file, or several of both.
    Reports every problem with its file and shape index; exits 1 on any error. Warnings
    (classes never used, folders named *.json, --map entries that match no label) do not
    fail; a --map entry naming a class missing from LABELS does.
    """
    labels = load_labels_option(labels_spec)
    label_map = load_map_option(map_specs)
    found = find_annotation_files(inputs, recursive)
    with progress_bar(len(found.files), "Checking", quiet) as progress:
        report = check_annotations(found, labels, recursive, workers, progress, label_map)
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


@click.command("labels", epilog=docs_epilog("convert.md"))
@inputs_argument
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the labels file here instead of printing it.",
)
@map_option
@recursive_option
@reports_errors
def labels_command(
    inputs: tuple[Path, ...], output: Path | None, map_specs: tuple[str, ...], recursive: bool
) -> None:
    """Write a labels file from the labels used in the annotations (folders or .json files).

    Lists __ignore__, _background_, then every other label sorted: a start for people
    who annotated before writing a labels file. With --map, the labels after the map.
    """
    label_map = load_map_option(map_specs)
    used, problems = labels_in_use(find_inputs(inputs, recursive), label_map=label_map)
    for problem in problems:
        click.echo(f"warning: skipped {problem}", err=True)
    text = labels_from_names(used).to_text()
    if output is None:
        click.echo(text, nl=False)
    else:
        atomic_write_text(output, text)
        click.echo(f"Wrote {len(used)} labels to {output}.", err=True)


@click.command("masks-to-labelme", epilog=docs_epilog("convert.md"))
@click.argument("mask_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("image_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@labels_option
@tolerance_option
@min_area_option(0)
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
    'labelme IMAGE_DIR --output OUT_DIR --labels LABELS'. For a VOC-style dataset folder,
    'annotool import voc DATASET_DIR OUT_DIR' does the same.
    """
    labels = load_labels_option(labels_spec)
    pairs = find_mask_pairs(mask_dir, image_dir)
    options = ShapeOptions(TraceOptions(tolerance=tolerance, min_area=min_area), shape_type)
    write_masks_as_labelme(pairs, out_dir, labels, options, overwrite, workers, quiet, "Converting")


def write_masks_as_labelme(
    pairs: list[MaskPair],
    out_dir: Path,
    labels: LabelSet,
    options: ShapeOptions,
    overwrite: bool,
    workers: int,
    quiet: bool,
    verb: str,
) -> None:
    """Trace each mask pair into a labelme JSON in ``out_dir`` with a progress bar, say
    what was written and skipped, and fail on the pairs that could not be traced
    (``masks-to-labelme`` and ``import voc``)."""
    with (
        interrupted_file_by_file("labelme files", f"to {out_dir}"),
        progress_bar(len(pairs), verb, quiet) as progress,
    ):
        report = masks_to_labelme(
            pairs, out_dir, labels, options, overwrite=overwrite, workers=workers, progress=progress
        )
    click.echo(f"Wrote {len(report.written)} labelme files to {out_dir}")
    if report.skipped:
        click.echo(
            f"Skipped {len(report.skipped)} masks whose JSON exists in {out_dir} "
            "(--overwrite replaces them)"
        )
    report_failures(report.failed, len(pairs), "masks")
