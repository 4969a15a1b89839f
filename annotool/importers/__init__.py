"""Importing datasets of other tools into labelme JSON, to correct or extend them in labelme.

``import_coco`` reads a COCO instance-segmentation file, ``import_yolo`` an Ultralytics
YOLO dataset (segmentation polygons or detection boxes); both check everything first,
write one labelme document per image (``imagePath`` relative to it, ``imageData`` null)
and a ``labels.txt``, all or nothing unless invalid entries are to be skipped. VOC-style
masks are imported by :mod:`annotool.masks_to_labelme` (``annotool import voc``).
"""

from annotool.importers.coco import CocoFile, CocoImportOptions, import_coco, read_coco
from annotool.importers.documents import ImportResult, WriteOptions
from annotool.importers.yolo import YoloDataset, find_dataset, import_yolo

__all__ = [
    "CocoFile",
    "CocoImportOptions",
    "ImportResult",
    "WriteOptions",
    "YoloDataset",
    "find_dataset",
    "import_coco",
    "import_yolo",
    "read_coco",
]
