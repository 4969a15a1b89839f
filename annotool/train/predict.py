"""``annotool predict``: a trained model's masks, overlays or labelme JSON for photos.

The model runs through :class:`~annotool.train.inference.Predictor`; this module finds the
images and writes what it predicts for each, one whole file at a time. labelme JSON gets
one shape per predicted object (see :mod:`annotool.objects`), kept when it is as large
and as sure as the checkpoint's thresholds (or ``LabelmeOutput``'s overrides) ask.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from annotool.errors import AnnotoolError, OutputExistsError, PredictInputError
from annotool.fileio import atomic_write_bytes
from annotool.images import read_rgb
from annotool.labelme_write import (
    PREDICTED_PREFIX,
    LabelmeOutput,
    WriteReport,
    human_pixels,
    merged_document,
    new_document,
    shapes_from_mask,
    write_document,
)
from annotool.objects import (
    ObjectThresholds,
    describe_object,
    find_objects,
    object_class_mask,
    select_objects,
)
from annotool.polygons import Region
from annotool.progress import ProgressCallback
from annotool.train.inference import Predictor
from annotool.visualize import overlay_jpeg
from annotool.voc import IMAGE_SUFFIXES, label_png_bytes

OVERLAY_SUFFIX = "_overlay.jpg"


def collect_images(inputs: Sequence[Path]) -> list[Path]:
    """Image files named in ``inputs``, folders expanded to their images (sorted, not recursive).

    Raises PredictInputError for a missing input, a folder without images, or two images
    with the same stem (their masks would overwrite each other).
    """
    images: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(
                path
                for path in item.iterdir()
                if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
            )
            if not found:
                raise PredictInputError(
                    f"folder {item} holds no images ({', '.join(IMAGE_SUFFIXES)})"
                )
            images.extend(found)
        elif item.is_file():
            images.append(item)
        else:
            raise PredictInputError(f"input {item} does not exist")
    seen: dict[str, Path] = {}
    for path in images:
        if path.stem in seen:
            raise PredictInputError(
                f"{seen[path.stem]} and {path} have the same name {path.stem!r}, so their "
                "masks would overwrite each other; predict them into separate --out folders"
            )
        seen[path.stem] = path
    return images


def labelme_json_path(image_path: Path, out_dir: Path | None) -> Path:
    """Where the labelme JSON of an image goes: beside the image, or into ``out_dir``."""
    return (Path(image_path).parent if out_dir is None else Path(out_dir)) / (
        f"{Path(image_path).stem}.json"
    )


def predict_images(
    predictor: Predictor,
    image_paths: Sequence[Path],
    out_dir: Path | None,
    overlay: bool = False,
    labelme: LabelmeOutput | None = None,
    progress: ProgressCallback | None = None,
) -> WriteReport:
    """Segment each image and write its result; an image that fails does not stop the rest.

    Without ``labelme``: ``OUT/<stem>.png`` (palettized class ids) per image, and
    ``<stem>_overlay.jpg`` with ``overlay``. With ``labelme``: ``<stem>.json`` beside the
    image or in ``out_dir`` (see LabelmeOutput). An unreadable image, or a JSON that a
    merge cannot read, is listed in ``failed`` with the reason; the others are written.
    The predicted objects left out are counted in ``too_small``, ``too_large`` and ``unsure``.
    """
    if out_dir is not None:
        out_dir = Path(out_dir)
        if out_dir.exists() and not out_dir.is_dir():
            raise OutputExistsError(
                f"{out_dir} exists and is not a directory; choose another --out"
            )
    elif labelme is None:
        raise ValueError("masks need an output folder")
    report = WriteReport()
    for path in image_paths:
        try:
            if labelme is None:
                report.written.extend(_write_mask(predictor, path, out_dir, overlay))
            else:
                json_path = labelme_json_path(path, out_dir)
                if json_path.exists() and labelme.existing == "skip":
                    report.skipped.append(path)
                else:
                    _write_labelme(predictor, path, json_path, labelme, report)
                    report.written.append(json_path)
        except AnnotoolError as error:
            report.failed.append((path, str(error)))
        if progress is not None:
            progress(1)
    return report


def _write_mask(predictor: Predictor, path: Path, out_dir: Path, overlay: bool) -> list[Path]:
    image = read_rgb(path, oriented=True, error=PredictInputError)
    mask = predictor.predict(image)
    mask_path = out_dir / f"{path.stem}.png"
    atomic_write_bytes(mask_path, label_png_bytes(mask, predictor.palette))
    if overlay:
        atomic_write_bytes(
            out_dir / f"{path.stem}{OVERLAY_SUFFIX}",
            overlay_jpeg(mask, image, predictor.class_names, predictor.palette),
        )
    return [mask_path]


def labelme_thresholds(predictor: Predictor, labelme: LabelmeOutput) -> ObjectThresholds:
    """The checkpoint's object thresholds, with what ``labelme`` overrides."""
    thresholds = predictor.object_thresholds
    if labelme.min_area is not None:
        thresholds = replace(thresholds, min_area=labelme.min_area)
    if labelme.min_confidence is not None:
        thresholds = replace(thresholds, min_confidence=labelme.min_confidence)
    if labelme.max_area is not None:
        thresholds = replace(thresholds, max_area=labelme.max_area)
    return thresholds


def _write_labelme(
    predictor: Predictor,
    path: Path,
    json_path: Path,
    labelme: LabelmeOutput,
    report: WriteReport,
) -> None:
    image = read_rgb(path, oriented=True, error=PredictInputError)
    object_map, objects = find_objects(predictor.probabilities(image))
    height, width = object_map.shape
    thresholds = labelme_thresholds(predictor, labelme)
    selection = select_objects(objects, thresholds, height * width)
    human = None
    if json_path.exists() and labelme.existing == "merge":
        document, human = human_pixels(json_path, height, width)
    by_index = {item.index: item for item in selection.kept}

    def describe(region: Region) -> str:
        top, bottom, left, right = region.box
        inside = object_map[top:bottom, left:right][region.filled]
        found = [by_index[index] for index in np.unique(inside).tolist() if index in by_index]
        if region.class_id == 0 or not found:
            return PREDICTED_PREFIX
        return f"{PREDICTED_PREFIX}; {describe_object(found[0], predictor.class_names)}"

    shapes = shapes_from_mask(
        object_class_mask(object_map, selection.kept),
        predictor.class_names,
        labelme.shapes,
        avoid=human,
        describe=describe,
    )
    if human is None:
        document = new_document(shapes, json_path, path, height, width)
    else:
        document = merged_document(document, shapes)
    write_document(json_path, document)
    report.too_small += selection.too_small
    report.too_large += selection.too_large
    report.unsure += selection.unsure
