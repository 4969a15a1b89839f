"""Exporting labelme annotations to the instance-segmentation formats trainers read.

``export_coco`` writes a COCO dataset (Detectron2, MMDetection, torchvision), and
``export_yolo`` an Ultralytics YOLO segmentation dataset. Both check every file as
``annotool convert`` does, write all or nothing, and describe every object exactly as
``convert``'s ``SegmentationObject`` masks hold it.
"""

from annotool.export.coco import export_coco
from annotool.export.common import ExportResult
from annotool.export.splits import SplitRequest
from annotool.export.yolo import export_yolo

__all__ = ["ExportResult", "SplitRequest", "export_coco", "export_yolo"]
