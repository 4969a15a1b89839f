"""``annotool import coco|yolo|voc``: datasets of other tools into labelme JSON."""

from __future__ import annotations

from pathlib import Path

import click

from annotool.cli.annotations import write_masks_as_labelme
from annotool.cli.common import (
    docs_epilog,
    load_labels_option,
    load_map_option,
    map_option,
    min_area_option,
    progress_bar,
    quiet_option,
    reports_errors,
    shape_type_option,
    tolerance_option,
    workers_option,
)
from annotool.importers import coco, yolo
from annotool.importers.documents import ImportResult, WriteOptions
from annotool.importers.voc import voc_mask_pairs
from annotool.labelme_write import ShapeOptions, ShapeType
from annotool.polygons import TraceOptions

DOCS_PAGE = "import.md"

skip_invalid_option = click.option(
    "--skip-invalid", is_flag=True, help="Import the valid images, list the invalid entries."
)
overwrite_option = click.option(
    "--overwrite",
    is_flag=True,
    help="Replace JSON files (and labels.txt) that exist in OUT_DIR; without it they are "
    "left alone.",
)
out_dir_argument = click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))


@click.group("import", epilog=docs_epilog(DOCS_PAGE))
def import_group() -> None:
    """Turn a COCO, YOLO or VOC dataset into labelme JSON files, to correct or extend it
    in labelme and convert it like any labelme annotation."""


@import_group.command("coco", epilog=docs_epilog(DOCS_PAGE))
@click.argument("annotations", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@out_dir_argument
@click.option(
    "--images",
    "image_root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The folder the images' file_name is relative to.  [default: the folder of "
    "ANNOTATIONS, its parent, or images/ in either, whichever holds the images]",
)
@click.option(
    "--crowd",
    type=click.Choice(coco.CROWD_MODES),
    default="auto",
    show_default=True,
    help="What iscrowd regions become: shapes of their category (keep), __ignore__ shapes, "
    "or nothing; auto: ignore in files 'annotool export coco' wrote, else keep.",
)
@tolerance_option
@shape_type_option
@map_option
@skip_invalid_option
@overwrite_option
@quiet_option
@reports_errors
def import_coco_command(
    annotations: Path,
    out_dir: Path,
    image_root: Path | None,
    crowd: coco.CrowdMode,
    tolerance: float,
    shape_type: ShapeType,
    map_specs: tuple[str, ...],
    skip_invalid: bool,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Write a labelme JSON file per image of the COCO file ANNOTATIONS into OUT_DIR.

    Polygons stay polygons (the parts of one annotation share a group_id); RLE masks and
    crowd regions are traced into polygons (--tolerance, --shape-type apply to them);
    annotations with only a bbox become rectangles. Also writes OUT_DIR/labels.txt with
    the categories in id order. Everything is checked first: an invalid entry means
    nothing is written, unless --skip-invalid.
    """
    write = WriteOptions(skip_invalid, overwrite, load_map_option(map_specs))
    options = coco.CocoImportOptions(
        images=image_root,
        crowd=crowd,
        shapes=ShapeOptions(TraceOptions(tolerance=tolerance), shape_type),
    )
    source = coco.read_coco(annotations)
    with progress_bar(len(source.images), "Importing", quiet) as progress:
        result = coco.import_coco(source, out_dir, options, write, progress)
    echo_result(result)


@import_group.command("yolo", epilog=docs_epilog(DOCS_PAGE))
@click.argument("source", metavar="DATA.yaml|DIR", type=click.Path(exists=True, path_type=Path))
@out_dir_argument
@click.option(
    "--names",
    "names_spec",
    metavar="NAMES",
    help="Class names in class index order: a comma-separated list, or a file with one "
    "name per line (classes.txt); replaces data.yaml's names, needed without one.",
)
@map_option
@skip_invalid_option
@overwrite_option
@quiet_option
@reports_errors
def import_yolo_command(
    source: Path,
    out_dir: Path,
    names_spec: str | None,
    map_specs: tuple[str, ...],
    skip_invalid: bool,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Write a labelme JSON file per image of an Ultralytics YOLO dataset into OUT_DIR.

    DATA.yaml (or a folder holding data.yaml) names the splits and classes; a folder
    without one has its images under images/ and needs --names. Polygon lines become
    polygons, box lines rectangles; an image without a label file gets a JSON with no
    shapes. Also writes OUT_DIR/labels.txt. Everything is checked first: an invalid line
    means nothing is written, unless --skip-invalid.
    """
    names = _parse_names(names_spec) if names_spec is not None else None
    write = WriteOptions(skip_invalid, overwrite, load_map_option(map_specs))
    dataset = yolo.find_dataset(source, names)
    with progress_bar(len(dataset.images), "Importing", quiet) as progress:
        result = yolo.import_yolo(dataset, out_dir, write=write, progress=progress)
    echo_result(result)


def _parse_names(spec: str) -> list[str]:
    path = Path(spec)
    if path.is_file():
        lines = path.read_text(encoding="utf-8-sig").splitlines()
        names = [line.strip() for line in lines if line.strip()]
    else:
        names = [name.strip() for name in spec.split(",")]
    if not names or not all(names):
        raise click.BadParameter(
            "give the class names as a comma-separated list or a file with one per line",
            param_hint="'--names'",
        )
    return names


@import_group.command("voc", epilog=docs_epilog(DOCS_PAGE))
@click.argument("dataset_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@out_dir_argument
@click.option(
    "--labels",
    "labels_spec",
    metavar="LABELS",
    help="labels.txt or a comma-separated list.  [default: DATASET_DIR/class_names.txt]",
)
@click.option(
    "--objects/--no-objects",
    default=True,
    help="Trace each object of SegmentationObject/ on its own (its parts share a group_id); "
    "without it, connected regions of each class.",
)
@tolerance_option
@min_area_option(0)
@shape_type_option
@click.option("--overwrite", is_flag=True, help="Replace JSON files that exist in OUT_DIR.")
@workers_option
@quiet_option
@reports_errors
def import_voc_command(
    dataset_dir: Path,
    out_dir: Path,
    labels_spec: str | None,
    objects: bool,
    tolerance: float,
    min_area: int,
    shape_type: ShapeType,
    overwrite: bool,
    workers: int,
    quiet: bool,
) -> None:
    """Turn the class masks of a VOC-style dataset (SegmentationClass/ and JPEGImages/, as
    'annotool convert' and labelme2voc.py write them) into labelme JSON files in OUT_DIR.

    What masks-to-labelme does for the dataset's folders: each connected region becomes a
    polygon (holes are later _background_ polygons, 255 becomes __ignore__), so
    'annotool convert OUT_DIR' gives the masks back; where SegmentationObject/ has the
    image, each object is traced on its own. An existing JSON is left alone unless
    --overwrite.
    """
    labels = load_labels_option(labels_spec) if labels_spec is not None else None
    pairs, labels = voc_mask_pairs(dataset_dir, labels, objects)
    options = ShapeOptions(TraceOptions(tolerance=tolerance, min_area=min_area), shape_type)
    write_masks_as_labelme(pairs, out_dir, labels, options, overwrite, workers, quiet, "Importing")


def echo_result(result: ImportResult) -> None:
    """What an import wrote, left alone and skipped, and the commands that come next."""
    click.echo(
        f"Wrote {len(result.written)} labelme files ({result.shapes} shapes) to {result.out_dir}."
    )
    if result.existing:
        click.echo(
            f"Left {len(result.existing)} JSON files that exist in {result.out_dir} alone "
            "(--overwrite replaces them)."
        )
    if result.skipped:
        click.echo(
            f"Skipped the images (or annotations) with these {len(result.skipped)} problems:"
        )
        for problem in result.skipped:
            click.echo(f"  {problem}")
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if result.labels_file is not None:
        click.echo(
            f"Classes: {result.labels_file}. Next: annotool convert {result.out_dir} DATASET "
            f"--labels {result.labels_file}"
        )
