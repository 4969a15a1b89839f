"""``annotool review``: every photo scored by a model that never saw it, the likely
mistakes ranked, near-duplicate photos paired, all written into one folder.

:func:`review` reads top to bottom: check and convert the labelme files (invalid ones are
reported and left out, as ``convert --skip-invalid`` does) into a working dataset inside
the staging folder of ``REVIEW_DIR``; assign folds; per fold, train on the others and
score the fold's photos (:mod:`annotool.review.oof`), measuring each photo's shapes
against the model (:mod:`annotool.review.findings`) and hashing it
(:mod:`annotool.review.duplicates`); then rank the findings, pair the duplicates and
write ``review.json``, ``index.html`` and its pictures (:mod:`annotool.review.report`,
:mod:`annotool.review.page`), and the ``--labelme`` copies. The working dataset and the
fold models are deleted before the staging folder becomes ``REVIEW_DIR``, so an
interrupted or failed run leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from annotool.check import AnnotationInputs, FileCheck, find_annotation_files
from annotool.convert import ConvertOptions, convert_dataset
from annotool.errors import DatasetError, ReviewError
from annotool.fileio import staged_dir, write_staged
from annotool.labelmap import LabelMap
from annotool.labelme import Annotation, read_annotation
from annotool.labels import LabelSet
from annotool.progress import ProgressCallback, no_progress
from annotool.review.duplicates import DuplicatePair, near_duplicates, perceptual_hash
from annotool.review.findings import (
    Finding,
    RegionEvidence,
    ShapeEvidence,
    measure_image,
    score_findings,
)
from annotool.review.folds import assign_folds, choose_folds
from annotool.review.labelme_copies import write_labelme_copies
from annotool.review.oof import FoldResult, fold_probabilities
from annotool.review.page import PREDICTED_DIR, write_page
from annotool.review.report import write_review_json
from annotool.train.options import DEFAULT_WIDTH, MIN_STEPS_PER_EPOCH, TrainOptions
from annotool.train.setup import auto_image_size
from annotool.voc import TEST, TRAIN, VAL, VocLayout, fold_name, label_png_bytes

DEFAULT_TIME = 600.0
"""Seconds the whole review may take by default (``--time 10m``)."""
RESERVED_SHARE = 0.05
"""Share of the time budget kept for ranking and writing the report after the last fold."""
PREDICT_SECONDS_GUESS = 0.5
"""Seconds per photo the first fold expects scoring to take; later folds measure it."""
MIN_FOLD_SECONDS = 10.0
MAX_IMAGE_SIZE = 320
"""Without ``--image-size``, the models work at ``train``'s auto size but at most this: a
review trains K models in the time of one, and a smaller working size gives each more
steps (the findings are about whole shapes, not their last pixels)."""
WORK_DIR = ".work"


@dataclass(frozen=True)
class ReviewOptions:
    """What ``annotool review`` takes besides its inputs, labels and output folder.

    ``time_budget`` (seconds) is shared by the folds' training runs; ``epochs`` replaces
    it with a fixed number of epochs per fold. ``image_size`` is the models' working size
    (None: ``train``'s auto, at most :data:`MAX_IMAGE_SIZE`); ``width``, ``batch_size``,
    ``crop_size`` (``train --size``) and ``min_epoch_steps`` are ``train``'s.
    ``dataset_dir`` names a converted dataset whose split files say which photos are in
    train, val and test (for leaks).
    """

    time_budget: float | None = DEFAULT_TIME
    epochs: int | None = None
    folds: int | None = None
    group_pattern: str | None = None
    seed: int = 0
    image_size: int | None = None
    width: int = DEFAULT_WIDTH
    batch_size: int = 8
    crop_size: int = 256
    min_epoch_steps: int = MIN_STEPS_PER_EPOCH
    device: str = "auto"
    workers: int = 1
    recursive: bool = False
    overwrite: bool = False
    dataset_dir: Path | None = None
    labelme_dir: Path | None = None
    label_map: LabelMap | None = None
    """Renames, merges, ignores or drops labels as the files are read (``--map``)."""


@dataclass
class ReviewResult:
    out_dir: Path
    findings: list[Finding]
    duplicates: list[DuplicatePair]
    folds: list[FoldResult]
    skipped: list[FileCheck]
    files: dict[str, str]
    """Each reviewed photo's stem -> its JSON file as found, relative to its input folder."""
    labelme_written: list[Path] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class _Evidence:
    shapes: list[ShapeEvidence] = field(default_factory=list)
    regions: list[RegionEvidence] = field(default_factory=list)
    hashes: dict[str, NDArray[np.bool_]] = field(default_factory=dict)


def review(
    inputs: AnnotationInputs,
    labels: LabelSet,
    out_dir: Path,
    options: ReviewOptions = ReviewOptions(),
    on_message: Callable[[str], None] | None = None,
    progress: ProgressCallback | None = None,
) -> ReviewResult:
    """Review the labelme files of ``inputs`` into ``out_dir``; see the module docstring.

    ``on_message`` receives one line per fold and epoch; ``progress`` is called with 1 per
    photo converted and per photo scored. Raises ReviewError when the photos are too few
    for the folds or the outputs clash with the inputs, InvalidInputError when no file is
    valid, SplitError for groups that cannot form the folds.
    """
    started = time.perf_counter()
    say = on_message or (lambda _message: None)
    step = progress or no_progress
    found = find_annotation_files(inputs, options.recursive)
    input_roots = _input_roots(inputs)
    if options.labelme_dir is not None:
        _refuse_labelme_over_inputs(options.labelme_dir, found.files, out_dir)
    split_of_dataset = _dataset_splits(options.dataset_dir)
    with ExitStack() as stack:
        staging = stack.enter_context(staged_dir(out_dir, options.overwrite))
        labelme_staging = None
        if options.labelme_dir is not None:
            labelme_staging = stack.enter_context(
                staged_dir(options.labelme_dir, options.overwrite)
            )
        work = staging / WORK_DIR
        converted = convert_dataset(
            found,
            work / "dataset",
            labels,
            ConvertOptions(objects=False, visualizations=False),
            skip_invalid=True,
            workers=options.workers,
            progress=step,
            label_map=options.label_map,
        )
        stems = converted.converted
        folds = choose_folds(len(stems), options.folds)
        fold_stems = assign_folds(work / "dataset", folds, options.seed, options.group_pattern)
        layout = VocLayout.open(work / "dataset")
        if options.image_size is None:
            image_size = min(auto_image_size(layout, stems), MAX_IMAGE_SIZE)
            options = dataclasses.replace(options, image_size=image_size)
        paths = {path.stem: path for path in found.files}
        annotations = {stem: _annotation(paths[stem], labels, options.label_map) for stem in stems}
        evidence = _Evidence()
        fold_results = _score_folds(
            layout, fold_stems, annotations, labels, options, evidence, started, say, step, staging
        )
        findings = score_findings(evidence.shapes, evidence.regions, labels.class_names)
        split_of = split_of_dataset
        if split_of is None and options.group_pattern is not None:
            split_of = {
                stem: fold_name(fold) for fold, members in enumerate(fold_stems) for stem in members
            }
        duplicates = near_duplicates(evidence.hashes, split_of)
        files = {stem: relative_name(paths[stem], input_roots) for stem in stems}
        write_page(
            staging,
            layout,
            findings,
            duplicates,
            annotations,
            files,
            labels,
            [result.val_miou for result in fold_results],
        )
        write_review_json(
            staging / "review.json",
            findings,
            duplicates,
            fold_results,
            files,
            converted.skipped,
            labels.class_names,
        )
        written = []
        if labelme_staging is not None:
            written = write_labelme_copies(
                labelme_staging,
                options.labelme_dir,
                findings,
                annotations,
                work / PREDICTED_DIR,
                labels.class_names,
            )
        shutil.rmtree(work)
    return ReviewResult(
        out_dir=Path(out_dir),
        findings=findings,
        duplicates=duplicates,
        folds=fold_results,
        skipped=converted.skipped,
        files=files,
        labelme_written=written,
        seconds=time.perf_counter() - started,
    )


def _score_folds(
    layout: VocLayout,
    fold_stems: list[list[str]],
    annotations: dict[str, Annotation],
    labels: LabelSet,
    options: ReviewOptions,
    evidence: _Evidence,
    started: float,
    say: Callable[[str], None],
    step: ProgressCallback,
    staging: Path,
) -> list[FoldResult]:
    all_stems = sorted(stem for members in fold_stems for stem in members)
    predicted_dir = staging / WORK_DIR / PREDICTED_DIR
    predicted_dir.mkdir(parents=True)
    results: list[FoldResult] = []
    seconds_per_photo = PREDICT_SECONDS_GUESS
    for fold, val_stems in enumerate(fold_stems):
        budget = _fold_budget(
            options, started, len(fold_stems) - fold, len(val_stems), seconds_per_photo
        )
        train_options = _train_options(options, budget)
        say(
            f"fold {fold + 1}/{len(fold_stems)}: training on {len(all_stems) - len(val_stems)} "
            f"photos, scoring {len(val_stems)}" + ("" if budget is None else f" ({budget:.0f} s)")
        )
        scoring_started = None
        for item in fold_probabilities(
            layout, fold, len(fold_stems), val_stems, all_stems, train_options, say
        ):
            if isinstance(item, FoldResult):
                results.append(item)
                if scoring_started is not None:
                    seconds_per_photo = (time.perf_counter() - scoring_started) / len(val_stems)
                say(
                    f"fold {fold + 1}/{len(fold_stems)}: val mIoU {item.val_miou:.3f} after "
                    f"{item.epochs} epochs"
                )
                continue
            scoring_started = scoring_started or time.perf_counter()
            stem, photo, probabilities = item
            measured = measure_image(stem, annotations[stem].shapes, probabilities, labels)
            evidence.shapes += measured.shapes
            evidence.regions += measured.regions
            evidence.hashes[stem] = perceptual_hash(photo)
            write_staged(predicted_dir / f"{stem}.png", label_png_bytes(measured.predicted))
            step(1)
    return results


def _fold_budget(
    options: ReviewOptions,
    started: float,
    folds_left: int,
    photos_to_score: int,
    seconds_per_photo: float,
) -> float | None:
    """Seconds of training for the next fold: an equal share of what is left of the
    budget, less the time scoring its photos is expected to take."""
    if options.epochs is not None or options.time_budget is None:
        return None
    end = started + options.time_budget * (1.0 - RESERVED_SHARE)
    share = (end - time.perf_counter()) / folds_left - photos_to_score * seconds_per_photo
    return max(MIN_FOLD_SECONDS, share)


def _train_options(options: ReviewOptions, budget: float | None) -> TrainOptions:
    return TrainOptions(
        dataset_dir=Path(),
        out_dir=Path(),
        epochs=options.epochs or 1,
        time_budget=budget,
        batch_size=options.batch_size,
        size=options.crop_size,
        image_size=options.image_size,
        width=options.width,
        device=options.device,
        seed=options.seed,
        min_epoch_steps=options.min_epoch_steps,
        patience=0,
    )


def _annotation(path: Path, labels: LabelSet, label_map: LabelMap | None) -> Annotation:
    annotation, _problems = read_annotation(path, labels, label_map)
    if annotation is None:  # convert read it a moment ago
        raise DatasetError(f"{path} can no longer be read; was it changed during the review?")
    return annotation


def _input_roots(inputs: AnnotationInputs) -> list[Path]:
    if isinstance(inputs, str | Path):
        return [Path(inputs)] if Path(inputs).is_dir() else []
    if isinstance(inputs, Sequence):
        return [Path(path) for path in inputs if Path(path).is_dir()]
    return []


def relative_name(path: Path, roots: Sequence[Path]) -> str:
    """``path`` relative to the input folder holding it (the deepest), else its name."""
    for root in sorted(roots, key=lambda root: -len(root.parts)):
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            continue
    return path.name


def _refuse_labelme_over_inputs(labelme_dir: Path, files: Sequence[Path], out_dir: Path) -> None:
    target = Path(os.path.abspath(labelme_dir))
    if target == Path(os.path.abspath(out_dir)):
        raise ReviewError(
            f"--labelme {labelme_dir} is the review folder itself; give the copies a folder "
            "of their own"
        )
    for path in files:
        folder = Path(os.path.abspath(path)).parent
        if target == folder or target in folder.parents:
            raise ReviewError(
                f"--labelme {labelme_dir} holds the annotations being reviewed ({path}); the "
                "originals are never modified: give the copies a new folder"
            )


def _dataset_splits(dataset_dir: Path | None) -> dict[str, str] | None:
    """Each stem's part in the split files of ``dataset_dir`` (train, val, test)."""
    if dataset_dir is None:
        return None
    layout = VocLayout.open(Path(dataset_dir))
    present = [name for name in (TRAIN, VAL, TEST) if layout.split_path(name).is_file()]
    if not present:
        raise ReviewError(
            f"--dataset {dataset_dir} has no split files; run 'annotool split {dataset_dir}' "
            "or leave --dataset out"
        )
    return {stem: name for name in present for stem in layout.read_split(name)}
