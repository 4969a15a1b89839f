"""Importing a VOC-style segmentation dataset (what ``annotool convert`` and labelme's
``labelme2voc.py`` write) into labelme JSON: ``annotool import voc``.

The class masks of ``SegmentationClass/`` (or the older ``SegmentationClassPNG/``) and the
images of ``JPEGImages/`` are paired by stem and traced into shapes by
:mod:`annotool.masks_to_labelme`, with the dataset's ``class_names.txt`` as the class
list unless another is given. Where ``SegmentationObject/`` holds the image's instance
mask, every object is traced on its own and its parts share a ``group_id``, so
``convert`` gives back both masks.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from annotool.errors import DatasetError
from annotool.labels import LabelSet, load_labels
from annotool.masks_to_labelme import MaskPair, find_mask_pairs
from annotool.voc import VocLayout


def voc_mask_pairs(
    dataset_dir: Path, labels: LabelSet | None, objects: bool = True
) -> tuple[list[MaskPair], LabelSet]:
    """Each class mask of the dataset with its image (and, with ``objects``, its instance
    mask in ``SegmentationObject/`` where there is one), and the class list: ``labels``,
    or the dataset's ``class_names.txt``.

    Raises DatasetError when ``dataset_dir`` is no VOC-style dataset, has no masks, or
    has neither a class_names.txt nor ``labels``.
    """
    layout = VocLayout.open(Path(dataset_dir))
    if labels is None:
        if not layout.class_names_path.is_file():
            raise DatasetError(
                f"{layout.root} has no {layout.class_names_path.name}; give the class list "
                "with --labels"
            )
        labels = load_labels(layout.class_names_path)
    pairs = find_mask_pairs(layout.class_dir, layout.images_dir)
    if objects:
        pairs = [
            dataclasses.replace(pair, objects=path)
            if (path := layout.object_mask_path(pair.mask.stem)).is_file()
            else pair
            for pair in pairs
        ]
    return pairs, labels
