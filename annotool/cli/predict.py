"""``annotool predict``: masks or labelme JSON from a trained model (imports torch when it runs)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from annotool.cli.common import (
    device_option,
    docs_epilog,
    interrupted_file_by_file,
    precision_option,
    progress_bar,
    quiet_option,
    report_failures,
    reports_errors,
    shape_type_option,
    tolerance_option,
)
from annotool.labelme_write import (
    ExistingPolicy,
    LabelmeOutput,
    ShapeOptions,
    ShapeType,
    WriteReport,
)
from annotool.polygons import MAX_OVERLAP, TraceOptions

if TYPE_CHECKING:
    from annotool.train.inference import Predictor


@click.command(epilog=docs_epilog("predict.md"))
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
    metavar="P",
    help="With --labelme: drop objects whose mean probability of not being background "
    "is lower. Default: the threshold training chose on the validation set (0 for "
    "checkpoints from before it).",
)
@click.option(
    "--min-area",
    type=click.IntRange(min=0),
    metavar="PX",
    help="With --labelme: drop objects smaller than this many pixels. Default: the size "
    "training derived from the smallest annotated object (20 for checkpoints from "
    "before it).",
)
@click.option(
    "--max-area",
    type=click.IntRange(min=0),
    metavar="PX",
    help="With --labelme: drop objects larger than this many pixels; 0: no limit. "
    "Default: twice the largest annotated object (no limit for checkpoints from "
    "before it).",
)
@tolerance_option
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
    min_confidence: float | None,
    min_area: int | None,
    max_area: int | None,
    tolerance: float,
    shape_type: ShapeType,
    device: str,
    precision: str,
    quiet: bool,
) -> None:
    """Segment images with a trained CHECKPOINT (best.pt or last.pt).

    INPUT is an image or a folder of images. Each mask is a palettized PNG of class ids
    at the image's own size (EXIF orientation applied). With --labelme, each image gets
    a labelme JSON instead: one shape per predicted object, whose description says it
    was predicted, its class and the runner-up, and how sure the model was; objects too
    small or too unsure are left out and counted. An image that cannot be read is named
    at the end (exit 1); the others are done. Needs the train extra.
    """
    labelme_output = _labelme_output(
        labelme,
        out_dir,
        overlay,
        merge,
        overwrite,
        {"--min-confidence": min_confidence, "--min-area": min_area, "--max-area": max_area},
        tolerance,
        shape_type,
    )
    from annotool.train.inference import Predictor  # imports torch
    from annotool.train.predict import collect_images, predict_images

    images = collect_images(inputs)
    predictor = Predictor.from_checkpoint(checkpoint, device=device, precision=precision)
    what = "masks" if labelme_output is None else "labelme files"
    where = f"to {out_dir}" if out_dir is not None else "beside the images"
    with (
        interrupted_file_by_file(what, where),
        progress_bar(len(images), "Predicting", quiet) as progress,
    ):
        report = predict_images(
            predictor, images, out_dir, overlay=overlay, labelme=labelme_output, progress=progress
        )
    click.echo(f"Wrote {len(report.written)} {what} {where}")
    if labelme_output is not None and report.skipped:
        click.echo(
            f"Skipped {len(report.skipped)} images that already have a labelme JSON "
            "(--merge adds predictions to them, --overwrite replaces them)"
        )
    if labelme_output is not None:
        click.echo(_dropped_note(report, predictor, labelme_output))
    report_failures(report.failed, len(images), "images")


def _labelme_output(
    labelme: bool,
    out_dir: Path | None,
    overlay: bool,
    merge: bool,
    overwrite: bool,
    thresholds: dict[str, float | None],
    tolerance: float,
    shape_type: ShapeType,
) -> LabelmeOutput | None:
    """The LabelmeOutput that predict's options ask for (None: masks), after checking
    that they go together. ``thresholds`` are the object thresholds given, by option."""
    if not labelme:
        given = [name for name, on in (("--merge", merge), ("--overwrite", overwrite)) if on]
        given += [name for name, value in thresholds.items() if value is not None]
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
    trace = TraceOptions(tolerance=tolerance)
    existing: ExistingPolicy = "merge" if merge else "overwrite" if overwrite else "skip"
    return LabelmeOutput(
        shapes=ShapeOptions(trace, shape_type),
        existing=existing,
        min_area=thresholds["--min-area"],  # type: ignore[arg-type]
        min_confidence=thresholds["--min-confidence"],
        max_area=thresholds["--max-area"],  # type: ignore[arg-type]
    )


def _dropped_note(report: WriteReport, predictor: Predictor, labelme: LabelmeOutput) -> str:
    """How many predicted objects were left out, why, and at which thresholds."""
    from annotool.train.predict import labelme_thresholds

    thresholds = labelme_thresholds(predictor, labelme)
    source = (
        "trained"
        if predictor.checkpoint is not None and predictor.checkpoint.object_thresholds
        else "default"
    )
    total = report.too_small + report.too_large + report.unsure
    return (
        f"Left out {total} predicted objects: {report.too_small} too small, "
        f"{report.too_large} too large, {report.unsure} with low confidence "
        f"({thresholds.describe()}; {source} thresholds, --min-area, --max-area and "
        "--min-confidence change them)"
    )
