"""Exporting labelme annotations as an Ultralytics YOLO segmentation dataset.

::

    OUT_DIR/
      data.yaml                     train, val (test), names; no path (see below)
      images/{train,val}/<stem>.jpg the images exactly as ``annotool convert`` writes them
      labels/{train,val}/<stem>.txt one line per object: class index, then x y pairs

A class index is the class id minus one (``_background_`` is no YOLO class), and the x y
pairs are the object's outline divided by the image width and height. An object is an
object of ``SegmentationObject``; it keeps its shapes' polygons when they describe its
pixels exactly, else its outline is traced around its pixels (mask shapes, lines, points,
objects partly painted over). An object of several polygons (a group, or pieces left by
a later shape) becomes one polygon joined by zero-width bridges, the way Ultralytics'
own COCO converter joins them. YOLO has no ignore region: ``__ignore__`` pixels are
background there. The split comes from the dataset's split files (``split_from``) or is
made like ``annotool split`` does (``val``, default 0.2; a single image is both train
and val). ``data.yaml`` has no ``path``: Ultralytics then takes the folder holding it as
the dataset root, so the folder can be moved or zipped (a relative ``path`` would be read
under Ultralytics' own datasets folder, an absolute one breaks on another machine).
"""

from __future__ import annotations

import json
import os
from functools import partial
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from annotool.check import AnnotationInputs
from annotool.convert import dataset_image
from annotool.export.common import ExportedFile, ExportResult, run_export
from annotool.export.instances import Instance, image_objects, join_polygons, mask_outlines
from annotool.export.splits import SPLIT_NAMES, SplitRequest
from annotool.fileio import write_staged
from annotool.labelmap import LabelMap
from annotool.labelme import Annotation
from annotool.labels import LabelSet
from annotool.progress import ProgressCallback
from annotool.split import DEFAULT_VAL, TRAIN, VAL

IMAGES_DIR = "images"
LABELS_DIR = "labels"
DATA_FILE = "data.yaml"
DATA_FILE_COMMENT = (
    "# No 'path': the dataset root is the folder of this file, so the folder can be moved."
)
COORDINATE_DECIMALS = 6
"""Decimals of a normalized coordinate: 0.004 px on a 4000 px wide photo."""


def export_yolo(
    inputs: AnnotationInputs,
    out_dir: Path,
    labels: LabelSet,
    *,
    split: SplitRequest | None = None,
    recursive: bool = False,
    skip_invalid: bool = False,
    overwrite: bool = False,
    workers: int = 1,
    progress: ProgressCallback | None = None,
    label_map: LabelMap | None = None,
) -> ExportResult:
    """Export the labelme files of ``inputs`` as a YOLO segmentation dataset at ``out_dir``.

    ``inputs`` is a folder, JSON files and folders, or files already resolved (see
    find_annotation_files). See the module docstring for the layout; without
    ``split.split_from`` or ``split.val``, val is 0.2 of the images. Validation,
    all-or-nothing writing and ``skip_invalid`` are those of ``convert``.
    """
    if split is None or not split.wanted:
        split = SplitRequest(val=DEFAULT_VAL, seed=split.seed if split else 0, optional=True)

    def make_writer(staging: Path) -> partial[ExportedFile[None]]:
        (staging / IMAGES_DIR).mkdir()
        (staging / LABELS_DIR).mkdir()
        return partial(_export_file, staging=staging, labels=labels)

    out_dir = Path(out_dir)
    return run_export(
        inputs,
        out_dir,
        labels,
        make_writer,
        partial(_place_in_splits, labels=labels),
        split,
        recursive=recursive,
        skip_invalid=skip_invalid,
        overwrite=overwrite,
        workers=workers,
        progress=progress,
        label_map=label_map,
    )


def _export_file(annotation: Annotation, staging: Path, labels: LabelSet) -> ExportedFile[None]:
    stem = annotation.path.stem
    image = dataset_image(annotation)
    objects = image_objects(annotation, labels, image.height, image.width)
    lines, traced = [], 0
    for instance in objects.instances:
        polygon, was_traced = object_outline(instance, image.height, image.width)
        lines.append(yolo_line(instance.class_id - 1, polygon, image.height, image.width))
        traced += was_traced
    write_staged(staging / IMAGES_DIR / f"{stem}.jpg", image.jpeg)
    label_text = "".join(f"{line}\n" for line in lines)
    write_staged(staging / LABELS_DIR / f"{stem}.txt", label_text.encode("utf-8"))
    return ExportedFile(
        stem=stem,
        class_presence=objects.class_presence,
        polygon_instances=len(lines) - traced,
        mask_instances=traced,
        has_ignore=objects.ignore is not None,
        payload=None,
    )


def object_outline(instance: Instance, height: int, width: int) -> tuple[NDArray[np.float64], bool]:
    """The ``(K, 2)`` pixel ``x, y`` polygon of one object, and whether it was traced.

    Its shapes' polygons when they describe it exactly and lie on the image, else the
    outline traced around its pixels; several polygons are joined into one.
    """
    outlines = instance.polygons
    # Normalized coordinates end at the image border: a polygon reaching beyond it is
    # traced from its pixels, since clipping its corners one by one would bend its sides.
    traced = outlines is None or any(
        polygon.min() < 0 or np.any(polygon.max(axis=0) > (width - 1, height - 1))
        for polygon in outlines
    )
    if traced:
        outlines = tuple(mask_outlines(instance))
    return join_polygons(list(outlines or ())), traced


def yolo_line(class_index: int, polygon: NDArray[np.float64], height: int, width: int) -> str:
    """A label line: ``class_index``, then the pixel ``polygon``'s normalized x y pairs."""
    # Rounded up, so that Ultralytics, which truncates denormalized coordinates to whole
    # pixels, gets back the whole-pixel corners of traced outlines rather than one less.
    scale = 10**COORDINATE_DECIMALS
    normalized = np.ceil(polygon / np.array([width, height], dtype=np.float64) * scale) / scale
    values = " ".join(
        f"{value:.{COORDINATE_DECIMALS}f}" for value in np.clip(normalized, 0.0, 1.0).ravel()
    )
    return f"{class_index} {values}"


def read_yolo_polygon(line: str, height: int, width: int) -> tuple[int, NDArray[np.float64]]:
    """The class index and ``(K, 2)`` pixel ``x, y`` polygon of one label line."""
    fields = line.split()
    values = np.array([float(value) for value in fields[1:]], dtype=np.float64).reshape(-1, 2)
    return int(fields[0]), values * np.array([width, height], dtype=np.float64)


def _place_in_splits(
    staging: Path,
    exported: list[ExportedFile[None]],
    splits: list[str] | None,
    labels: LabelSet,
) -> None:
    # Too few images to split: train on all of them and validate on the same.
    assigned = splits if splits is not None else [TRAIN] * len(exported)
    used = [name for name in SPLIT_NAMES if name in assigned]
    for name in used:
        (staging / IMAGES_DIR / name).mkdir()
        (staging / LABELS_DIR / name).mkdir()
    for record, name in zip(exported, assigned, strict=True):
        for folder, suffix in ((IMAGES_DIR, ".jpg"), (LABELS_DIR, ".txt")):
            file_name = f"{record.stem}{suffix}"
            os.replace(staging / folder / file_name, staging / folder / name / file_name)
    # JSON strings are valid YAML double-quoted scalars, so any path or class name is safe.
    yaml_lines = [DATA_FILE_COMMENT]
    yaml_lines += [f"{name}: {IMAGES_DIR}/{name}" for name in used]
    if splits is None:
        yaml_lines.append(f"{VAL}: {IMAGES_DIR}/{TRAIN}")
    yaml_lines.append("names:")
    yaml_lines += [
        f"  {class_id - 1}: {json.dumps(name)}"
        for class_id, name in enumerate(labels.class_names)
        if class_id > 0
    ]
    write_staged(staging / DATA_FILE, ("\n".join(yaml_lines) + "\n").encode("utf-8"))
