"""Measuring how exactly an export describes the same objects as ``convert``'s masks.

Every exported object is rasterized back the way its consumers do it (pycocotools'
``annToMask`` for COCO; for YOLO the denormalized polygon truncated to whole pixels, as
Ultralytics' ``polygon2mask`` does, and filled with its outline) and painted, in file
order, into an instance image and a class image, which are compared pixel by pixel with
``SegmentationObject`` and ``SegmentationClass`` of a dataset ``annotool convert`` wrote
from the same files. Objects are matched by order: the export keeps ``convert``'s
instance order, leaving out background shapes.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from annotool.errors import DatasetError
from annotool.export.yolo import IMAGES_DIR, LABELS_DIR, read_yolo_polygon
from annotool.images import ImageSource, read_header
from annotool.labels import IGNORE_ID
from annotool.masks import read_label_png
from annotool.voc import VocLayout


@dataclass
class Agreement:
    """Pixel agreement of an export with a VOC dataset, over all compared images."""

    images: int = 0
    pixels: int = 0
    object_pixels_equal: int = 0
    class_pixels_equal: int = 0
    instances: int = 0
    worst_iou: float = 1.0
    iou_sum: float = 0.0

    @property
    def object_agreement(self) -> float:
        """Share of pixels with the same instance in the export as in SegmentationObject."""
        return self.object_pixels_equal / max(self.pixels, 1)

    @property
    def class_agreement(self) -> float:
        """Share of pixels with the same class (255 = ignore) as in SegmentationClass."""
        return self.class_pixels_equal / max(self.pixels, 1)

    @property
    def mean_iou(self) -> float:
        """Mean intersection over union of each exported object with its VOC instance."""
        return self.iou_sum / max(self.instances, 1)

    def add(
        self,
        objects: Sequence[tuple[int, NDArray[np.bool_]]],
        crowd: NDArray[np.bool_] | None,
        voc_dir: Path,
        stem: str,
        compare_ignore: bool,
    ) -> None:
        """Compare one image's exported ``(class_id, (H, W) mask)`` objects with the VOC masks.

        ``crowd`` marks the pixels exported as ignore; where ``compare_ignore`` is false,
        pixels the VOC class mask ignores are left out of the comparison.
        """
        layout = VocLayout(voc_dir)
        voc_objects = read_label_png(layout.object_mask_path(stem)).astype(np.int32)
        voc_classes = read_label_png(layout.class_mask_path(stem))
        ids = [
            int(instance_id)
            for instance_id in np.unique(voc_objects)
            if instance_id > 0 and int(np.max(voc_classes[voc_objects == instance_id])) > 0
        ]
        if len(ids) != len(objects):
            raise DatasetError(
                f"{stem}: the export has {len(objects)} objects, SegmentationObject {len(ids)}"
            )
        expected_objects = np.zeros(voc_objects.shape, dtype=np.int32)
        painted_objects = np.zeros(voc_objects.shape, dtype=np.int32)
        painted_classes = np.zeros(voc_objects.shape, dtype=np.uint8)
        for number, (instance_id, (class_id, mask)) in enumerate(zip(ids, objects, strict=True)):
            expected = voc_objects == instance_id
            expected_objects[expected] = number + 1
            painted_objects[mask] = number + 1
            painted_classes[mask] = class_id
            union = int(np.count_nonzero(expected | mask))
            iou = int(np.count_nonzero(expected & mask)) / max(union, 1)
            self.instances += 1
            self.iou_sum += iou
            self.worst_iou = min(self.worst_iou, iou)
        if crowd is not None:
            painted_classes[crowd] = IGNORE_ID
            painted_objects[crowd] = 0
        compared = np.ones(voc_objects.shape, dtype=bool)
        if not compare_ignore:
            compared = voc_classes != IGNORE_ID
        self.images += 1
        self.pixels += int(compared.sum())
        self.object_pixels_equal += int(
            np.count_nonzero((painted_objects == expected_objects) & compared)
        )
        self.class_pixels_equal += int(
            np.count_nonzero((painted_classes == voc_classes) & compared)
        )


def coco_agreement(annotations_file: Path, voc_dir: Path) -> Agreement:
    """The agreement of a COCO annotations file with the VOC dataset at ``voc_dir``."""
    from pycocotools.coco import COCO

    # pycocotools prints progress; annotool's core functions do not.
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(annotations_file))
    agreement = Agreement()
    has_crowd = any(annotation["iscrowd"] for annotation in coco.dataset["annotations"])
    for image_id in sorted(coco.getImgIds()):
        image = coco.loadImgs(image_id)[0]
        objects, crowd = [], None
        for annotation in coco.loadAnns(sorted(coco.getAnnIds(imgIds=image_id))):
            mask = coco.annToMask(annotation).astype(bool)
            if annotation["iscrowd"]:
                crowd = mask if crowd is None else crowd | mask
            else:
                objects.append((int(annotation["category_id"]), mask))
        agreement.add(objects, crowd, voc_dir, Path(image["file_name"]).stem, has_crowd)
    return agreement


def yolo_agreement(yolo_dir: Path, voc_dir: Path) -> Agreement:
    """The agreement of a YOLO segmentation dataset with the VOC dataset at ``voc_dir``.

    YOLO holds no ignore regions, so ignored pixels are left out of the comparison.
    """
    agreement = Agreement()
    for image_path, label_path in _yolo_pairs(Path(yolo_dir)):
        header = read_header(ImageSource.file(image_path, oriented=False))
        height, width = header.height, header.width
        objects = []
        for line in label_path.read_text(encoding="utf-8").splitlines():
            class_index, polygon = read_yolo_polygon(line, height, width)
            canvas = Image.new("L", (width, height), 0)
            # Ultralytics truncates to whole pixels and fills with the outline (OpenCV).
            corners = [(int(x), int(y)) for x, y in polygon.astype(np.int32)]
            ImageDraw.Draw(canvas).polygon(corners, fill=1, outline=1)
            objects.append((class_index + 1, np.asarray(canvas, dtype=bool)))
        agreement.add(objects, None, voc_dir, image_path.stem, compare_ignore=False)
    return agreement


def _yolo_pairs(yolo_dir: Path) -> Iterator[tuple[Path, Path]]:
    for image_path in sorted((yolo_dir / IMAGES_DIR).glob("*/*.jpg")):
        split = image_path.parent.name
        yield image_path, yolo_dir / LABELS_DIR / split / f"{image_path.stem}.txt"
