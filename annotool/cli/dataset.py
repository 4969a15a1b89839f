"""Commands over a converted dataset: split, stats and evaluate."""

from __future__ import annotations

from pathlib import Path

import click

from annotool.cli.common import (
    SplitSizeType,
    check_group_pattern,
    default_workers,
    device_option,
    docs_epilog,
    find_inputs,
    load_map_option,
    map_option,
    precision_option,
    progress_bar,
    quiet_option,
    reports_errors,
)
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
from annotool.split import format_split_table, split_dataset
from annotool.voc import VocLayout


@click.command("split", epilog=docs_epilog("dataset.md"))
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
    callback=check_group_pattern,
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


@click.command(epilog=docs_epilog("dataset.md"))
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
@map_option
@quiet_option
@reports_errors
def stats(
    dataset_dir: Path,
    split: str | None,
    json_output: str | None,
    plot: Path | None,
    no_rgb: bool,
    workers: int,
    map_specs: tuple[str, ...],
    quiet: bool,
) -> None:
    """Class frequencies, image sizes and colours, instances, splits and class weights.

    DATASET_DIR is a dataset written by 'annotool convert' or any VOC-style dataset
    (JPEGImages/ plus SegmentationClass/ or SegmentationClassPNG/). Given a folder of
    labelme .json files instead, it counts shapes per label and shape type (after
    --map, which applies to labelme folders only).
    """
    from annotool import stats as stats_core

    result: stats_core.DatasetStats | stats_core.LabelmeStats
    if stats_core.is_labelme_dir(dataset_dir):
        if split is not None:
            raise click.BadParameter(
                "--split needs a converted dataset, not a labelme folder", param_hint="--split"
            )
        label_map = load_map_option(map_specs)
        found = find_inputs((dataset_dir,), recursive=False)
        with progress_bar(len(found.files), "Reading", quiet) as progress:
            result = stats_core.labelme_stats(
                dataset_dir, progress=progress, workers=workers, files=found, label_map=label_map
            )
        table = stats_core.format_labelme_table(result)
    else:
        if map_specs:
            raise click.BadParameter(
                "--map applies to labelme .json files, not to a converted dataset; pass "
                "it to 'annotool convert' instead",
                param_hint="'--map'",
            )
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


@click.command(epilog=docs_epilog("dataset.md"))
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
        from annotool.train.inference import Predictor  # torch: only when a model runs

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
