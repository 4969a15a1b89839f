"""``annotool review`` (torch is imported only when it runs)."""

from __future__ import annotations

from pathlib import Path

import click

from annotool.cli.common import (
    check_group_pattern,
    device_option,
    docs_epilog,
    echo_skipped_and_unused,
    find_inputs,
    image_size_value,
    inputs_argument,
    labels_option,
    load_labels_option,
    load_map_option,
    map_option,
    quiet_option,
    recursive_option,
    reports_errors,
    workers_option,
)
from annotool.errors import AnnotoolError
from annotool.train.options import DEFAULT_WIDTH, parse_duration

DEFAULT_TIME = "10m"


def _duration(context: click.Context, parameter: click.Parameter, value: str) -> float:
    try:
        return parse_duration(value)
    except AnnotoolError as error:
        raise click.BadParameter(str(error), context, parameter) from None


@click.command("review", epilog=docs_epilog("review.md"))
@inputs_argument
@labels_option
@map_option
@click.option(
    "--out",
    "-o",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    metavar="REVIEW_DIR",
    help="Folder for review.json, index.html and its pictures.",
)
@click.option(
    "--time",
    "time_budget",
    default=DEFAULT_TIME,
    show_default=True,
    metavar="DURATION",
    callback=_duration,
    help="Wall-clock time for the whole review (90s, 10m, 1h), shared by the folds' models.",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=None,
    help="Train each fold's model for this many epochs instead of a share of --time.",
)
@click.option(
    "--folds",
    type=click.IntRange(min=2),
    default=None,
    show_default="3 (2 below 6 photos)",
    help="Number of folds, each scored by a model trained on the others.",
)
@click.option(
    "--group",
    "group_pattern",
    metavar="REGEX",
    callback=check_group_pattern,
    help="Keep stems with the same first capture group in one fold, as split does; "
    "duplicates across folds are then reported as leaks.",
)
@click.option(
    "--dataset",
    "dataset_dir",
    type=click.Path(path_type=Path, file_okay=False),
    metavar="DIR",
    help="A converted dataset whose split files say which photos are in train, val and "
    "test: duplicate pairs across them are leaks.",
)
@click.option(
    "--labelme",
    "labelme_dir",
    type=click.Path(path_type=Path, file_okay=False),
    metavar="DIR",
    help="Also write copies of the labelme files with findings here: flagged shapes, "
    "missing objects as '?<class>' shapes. The originals are never modified.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed of the folds and the models: same photos and seed, same folds.",
)
@click.option(
    "--image-size",
    default="auto",
    show_default=True,
    callback=image_size_value,
    help="The models' working size, as train's (auto: train's auto, at most 320).",
)
@click.option(
    "--width",
    type=click.IntRange(min=1),
    default=DEFAULT_WIDTH,
    show_default=True,
    help="The models' base width, as train's.",
)
@device_option
@recursive_option
@workers_option
@click.option("--overwrite", is_flag=True, help="Replace REVIEW_DIR (and DIR) if they exist.")
@quiet_option
@reports_errors
def review_command(
    inputs: tuple[Path, ...],
    labels_spec: str,
    map_specs: tuple[str, ...],
    out_dir: Path,
    time_budget: float,
    epochs: int | None,
    folds: int | None,
    group_pattern: str | None,
    dataset_dir: Path | None,
    labelme_dir: Path | None,
    seed: int,
    image_size: int | None,
    width: int,
    device: str,
    recursive: bool,
    workers: int,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Find likely annotation mistakes, near-duplicate photos and split leaks.

    Every photo of INPUT... (labelme JSON files or folders, read as convert reads them;
    invalid files are reported and left out) is scored by a model trained on the other
    folds, never on it. Shapes the model gives to another class (wrong_label), calls
    background (spurious) or outlines differently (boundary), and objects it sees that
    no shape covers (missing), are ranked by one score in 0..1. Writes review.json and
    index.html (open it in a browser) into REVIEW_DIR. Needs the train extra.
    """
    labels = load_labels_option(labels_spec)
    label_map = load_map_option(map_specs)
    find_inputs(inputs, recursive)  # warns about what is not read, fails on bad inputs
    from annotool.review.run import ReviewOptions, review  # imports torch

    options = ReviewOptions(
        time_budget=None if epochs is not None else time_budget,
        epochs=epochs,
        folds=folds,
        group_pattern=group_pattern,
        seed=seed,
        image_size=image_size,
        width=width,
        device=device,
        workers=workers,
        recursive=recursive,
        overwrite=overwrite,
        dataset_dir=dataset_dir,
        labelme_dir=labelme_dir,
        label_map=label_map,
    )

    def say(message: str) -> None:
        if not quiet:
            click.echo(message, err=True)

    # The folders themselves, not the files found: review.json names each file relative
    # to the input folder holding it.
    result = review(list(inputs), labels, out_dir, options, on_message=say)
    echo_skipped_and_unused(result.skipped, [])
    kinds: dict[str, int] = {}
    for finding in result.findings:
        kinds[finding.kind] = kinds.get(finding.kind, 0) + 1
    counted = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())) or "none"
    leaks = sum(1 for pair in result.duplicates if pair.leak)
    click.echo(
        f"Reviewed {len(result.files)} photos in {result.seconds:.0f} s: "
        f"{len(result.findings)} findings ({counted}), {len(result.duplicates)} "
        f"near-duplicate pairs ({leaks} leaks)."
    )
    click.echo(f"Open {out_dir / 'index.html'}; the findings are in {out_dir / 'review.json'}.")
    if labelme_dir is not None:
        click.echo(f"Wrote {len(result.labelme_written)} labelme copies to {labelme_dir}.")
