"""Exporting labelme annotations as a COCO instance-segmentation dataset.

::

    OUT_DIR/
      images/<stem>.jpg             the images exactly as ``annotool convert`` writes them
      annotations.json              or instances_train.json, instances_val.json (and
                                    instances_test.json) when the export is split

Categories are the labels file's classes, ids 1..N in its order (``_background_`` and
``__ignore__`` are no category), so a category id equals the class id of ``convert``'s
masks. There is one annotation per object of ``SegmentationObject``: its shapes'
polygons when they describe its pixels exactly, else a compressed RLE of those pixels
(mask shapes, lines, points, objects partly painted over). ``area`` and ``bbox`` are what
pycocotools computes from the segmentation, so they agree with ``annToMask``.

``__ignore__`` pixels (``ignore="crowd"``) become, per image, one ``iscrowd: 1`` RLE
annotation for every category: COCO has no "any category" region, pycocotools' COCOeval
ignores detections in a crowd region only within its category, and Detectron2 refuses a
category id missing from ``categories``; Detectron2 and MMDetection leave crowd regions
out of training. ``ignore="drop"`` writes none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pycocotools import mask as coco_mask

from annotool import __version__
from annotool.check import AnnotationInputs
from annotool.convert import dataset_image
from annotool.export.common import ExportedFile, ExportResult, run_export
from annotool.export.instances import Instance, image_objects
from annotool.export.splits import SPLIT_NAMES, SplitRequest
from annotool.fileio import write_staged
from annotool.labelmap import LabelMap
from annotool.labelme import Annotation
from annotool.labels import LabelSet
from annotool.progress import ProgressCallback

IMAGES_DIR = "images"
ANNOTATIONS_FILE = "annotations.json"
IGNORE_MODES = ("crowd", "drop")
DESCRIPTION = "labelme annotations exported by annotool"
POLYGON_MIN_IOU = 0.5
"""Least overlap (intersection over union) of what pycocotools fills from an object's
polygons with the object's pixels for the polygons to be written; below it, RLE."""


def split_annotations_file(split: str) -> str:
    """The annotation file of one split: ``instances_<split>.json``."""
    return f"instances_{split}.json"


@dataclass(frozen=True)
class CocoObject:
    """One COCO annotation before it gets its ids. ``bbox`` is ``[x, y, width, height]``."""

    category_id: int
    segmentation: list[list[float]] | dict[str, object]
    area: int
    bbox: list[float]
    iscrowd: int


@dataclass(frozen=True)
class CocoImage:
    file_name: str
    height: int
    width: int
    objects: tuple[CocoObject, ...]


def export_coco(
    inputs: AnnotationInputs,
    out_dir: Path,
    labels: LabelSet,
    *,
    ignore: str = "crowd",
    split: SplitRequest | None = None,
    recursive: bool = False,
    skip_invalid: bool = False,
    overwrite: bool = False,
    workers: int = 1,
    progress: ProgressCallback | None = None,
    label_map: LabelMap | None = None,
) -> ExportResult:
    """Export the labelme files of ``inputs`` as a COCO dataset at ``out_dir``.

    ``inputs`` is a folder, JSON files and folders, or files already resolved (see
    find_annotation_files). See the module docstring for the layout. Validation,
    all-or-nothing writing and ``skip_invalid`` are those of ``convert``: raises
    InvalidInputError listing every problem, and ``out_dir`` is left untouched, when a
    file is invalid.
    """
    if ignore not in IGNORE_MODES:
        raise ValueError(f"ignore must be one of {IGNORE_MODES}, not {ignore!r}")

    def make_writer(staging: Path) -> partial[ExportedFile[CocoImage]]:
        (staging / IMAGES_DIR).mkdir()
        return partial(_export_file, staging=staging, labels=labels, ignore=ignore)

    return run_export(
        inputs,
        out_dir,
        labels,
        make_writer,
        partial(_write_annotations, labels=labels),
        split or SplitRequest(),
        recursive=recursive,
        skip_invalid=skip_invalid,
        overwrite=overwrite,
        workers=workers,
        progress=progress,
        label_map=label_map,
    )


def _export_file(
    annotation: Annotation, staging: Path, labels: LabelSet, ignore: str
) -> ExportedFile[CocoImage]:
    stem = annotation.path.stem
    image = dataset_image(annotation)
    objects = image_objects(annotation, labels, image.height, image.width)
    coco_objects = [
        _coco_object(instance, image.height, image.width) for instance in objects.instances
    ]
    if objects.ignore is not None and ignore == "crowd":
        crowd = _rle(objects.ignore)
        area, bbox = _area_and_bbox(crowd)
        segmentation = _rle_json(crowd)
        coco_objects += [
            CocoObject(class_id, segmentation, area, bbox, iscrowd=1)
            for class_id in range(1, labels.num_classes)
        ]
    file_name = f"{stem}.jpg"
    write_staged(staging / IMAGES_DIR / file_name, image.jpeg)
    polygons = sum(isinstance(coco_object.segmentation, list) for coco_object in coco_objects)
    return ExportedFile(
        stem=stem,
        class_presence=objects.class_presence,
        polygon_instances=polygons,
        mask_instances=len(objects.instances) - polygons,
        has_ignore=objects.ignore is not None,
        payload=CocoImage(file_name, image.height, image.width, tuple(coco_objects)),
    )


def _coco_object(instance: Instance, height: int, width: int) -> CocoObject:
    top, bottom, left, right = instance.box
    # pycocotools encodes column by column: a Fortran-ordered array needs no copy.
    pixels = np.zeros((height, width), dtype=np.uint8, order="F")
    pixels[top:bottom, left:right] = instance.mask
    rle = _rle(pixels)
    if instance.polygons is not None:
        polygons = [polygon.ravel().tolist() for polygon in instance.polygons]
        filled = coco_mask.merge(coco_mask.frPyObjects(polygons, height, width))
        # A sliver (or a collinear polygon) that labelme paints as its outline but
        # pycocotools barely fills is better described by its pixels.
        if float(coco_mask.iou([filled], [rle], [0])[0][0]) >= POLYGON_MIN_IOU:
            area, bbox = _area_and_bbox(filled)
            return CocoObject(instance.class_id, polygons, area, bbox, iscrowd=0)
    area, bbox = _area_and_bbox(rle)
    return CocoObject(instance.class_id, _rle_json(rle), area, bbox, iscrowd=0)


def _rle(pixels: NDArray[np.bool_] | NDArray[np.uint8]) -> dict[str, object]:
    return coco_mask.encode(np.asfortranarray(pixels, dtype=np.uint8))


def _rle_json(rle: dict[str, object]) -> dict[str, object]:
    counts = rle["counts"]
    return {
        "size": [int(value) for value in rle["size"]],
        "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts,
    }


def _area_and_bbox(rle: dict[str, object]) -> tuple[int, list[float]]:
    return int(coco_mask.area(rle)), [float(value) for value in coco_mask.toBbox(rle)]


def _write_annotations(
    staging: Path,
    exported: list[ExportedFile[CocoImage]],
    splits: list[str] | None,
    labels: LabelSet,
) -> None:
    categories = [
        {"id": class_id, "name": name, "supercategory": name}
        for class_id, name in enumerate(labels.class_names)
        if class_id > 0
    ]
    parts = {ANNOTATIONS_FILE: list(range(len(exported)))}
    if splits is not None:
        parts = {
            split_annotations_file(name): [i for i, split in enumerate(splits) if split == name]
            for name in SPLIT_NAMES
            if name in splits
        }
    # Ids are the image's position in the whole export and the annotation's position
    # among all annotations, so they are the same in every split file.
    first_annotation_id = np.cumsum([0] + [len(record.payload.objects) for record in exported])
    for file_name, members in parts.items():
        images, annotations = [], []
        for index in members:
            image = exported[index].payload
            images.append(
                {
                    "id": index + 1,
                    "file_name": image.file_name,
                    "height": image.height,
                    "width": image.width,
                }
            )
            for offset, coco_object in enumerate(image.objects):
                annotations.append(
                    {
                        "id": int(first_annotation_id[index]) + offset + 1,
                        "image_id": index + 1,
                        "category_id": coco_object.category_id,
                        "segmentation": coco_object.segmentation,
                        "area": coco_object.area,
                        "bbox": coco_object.bbox,
                        "iscrowd": coco_object.iscrowd,
                    }
                )
        document = {
            "info": {"description": DESCRIPTION, "version": __version__},
            "licenses": [],
            "images": images,
            "annotations": annotations,
            "categories": categories,
        }
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n"
        write_staged(staging / file_name, text.encode("utf-8"))
