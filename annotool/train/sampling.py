"""Where the objects of the training images are, for crops that find small objects.

When the objects are small in the frame (a board of 1-5% of a desk photo), random crops
mostly show background, and the classes seen least often are learnt last. Two remedies
of the few-image segmentation literature (class-balanced, instance-centred sampling, as
in mmsegmentation's and detectron2's repeat-factor sampling; copy-paste of annotated
instances, Ghiasi et al. 2021, "Simple Copy-Paste is a Strong Data Augmentation Method")
need to know where the objects are: :func:`find_objects` lists them once, as connected
regions of one class in the class masks, and :class:`ObjectIndex` picks one with every
class equally likely.

:func:`wants_object_crops` decides whether a dataset gets those crops when the person did
not say: large single objects (a pet filling half the photo) are in every random crop
already, and pasting them would cover most of the other photo; and a handful of photos
is shown dozens of times per epoch anyway (on the bundled 9-photo walkthrough the
crops lowered val mIoU from 0.95 to 0.91).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from annotool.labels import IGNORE_ID
from annotool.masks import check_class_ids, read_label_png
from annotool.voc import VocLayout

SMALL_OBJECT_SHARE = 0.1
"""``--small-objects auto`` turns the crops on when the median object covers less than
this share of its photo (real board photos: 1-5%; pets: 30-80%)."""
MIN_IMAGES = 20
"""``--small-objects auto`` needs at least this many training photos: below it, every
photo is in most batches already, and the measured effect was negative."""
MIN_OBJECT_PIXELS = 16
"""Regions smaller than this (stray pixels of an annotation's edge) are not objects."""
OBJECT_SCALE_RANGE = (0.67, 1.5)
"""How much training crops are rescaled when the objects are small (the median object
under :data:`SMALL_OBJECT_SHARE` of its photo), instead of 0.5-2x. Objects of 1-5% of the
photo shrunk to half are a few pixels wide at the UNet's first level, and in the ~1,400
steps of a 10-minute CPU run the network cannot afford sizes validation never asks for.
Measured side by side (one core each, 12 minutes, ``benchmarks/learning.py``): ``clutter``
0.51 -> 0.77 (seed 0) and 0.60 -> 0.68 (seed 1), ``boards`` 0.82 -> 0.86, the 9-photo
walkthrough 0.948 -> 0.959; ``pets`` (one animal filling the photo) fell from 0.89 to 0.85
with it and keeps 0.5-2x."""


@dataclass(frozen=True)
class ObjectBox:
    """One object: a connected region of one class in the mask of training image ``image``.

    ``box`` is ``(top, left, bottom, right)`` in that mask's pixels, bottom and right
    exclusive; ``area`` the region's pixel count; ``frame`` the mask's ``(H, W)``.
    """

    image: int
    class_id: int
    box: tuple[int, int, int, int]
    area: int
    frame: tuple[int, int]

    @property
    def share(self) -> float:
        """The share of its photo the object covers."""
        return self.area / (self.frame[0] * self.frame[1])


@dataclass(frozen=True)
class ObjectIndex:
    """The objects of the training images, grouped by class."""

    objects: tuple[ObjectBox, ...]

    @property
    def class_ids(self) -> list[int]:
        """The object classes that have at least one object, ascending."""
        return sorted({item.class_id for item in self.objects})

    def median_share(self) -> float:
        """The median share of its photo an object covers (1.0 when there are none)."""
        if not self.objects:
            return 1.0
        return statistics.median(item.share for item in self.objects)

    def pick(self, rng: np.random.Generator) -> ObjectBox:
        """An object: first a class, each equally likely, then one of its objects."""
        class_id = self.class_ids[int(rng.integers(len(self.class_ids)))]
        members = [item for item in self.objects if item.class_id == class_id]
        return members[int(rng.integers(len(members)))]


def find_objects(masks: Iterable[NDArray[np.uint8]]) -> ObjectIndex:
    """The objects of ``(H, W)`` uint8 class-id masks (one per training image, in order):
    8-connected regions of each class other than background (0) and ignore (255)."""
    objects: list[ObjectBox] = []
    structure = np.ones((3, 3), dtype=bool)
    for image, mask in enumerate(masks):
        frame = (int(mask.shape[0]), int(mask.shape[1]))
        for class_id in np.unique(mask).tolist():
            if class_id in (0, IGNORE_ID):
                continue
            regions, count = ndimage.label(mask == class_id, structure=structure)
            areas = np.bincount(regions.ravel(), minlength=count + 1)
            for label, slices in enumerate(ndimage.find_objects(regions), start=1):
                if slices is None or areas[label] < MIN_OBJECT_PIXELS:
                    continue
                rows, columns = slices
                box = (rows.start, columns.start, rows.stop, columns.stop)
                objects.append(ObjectBox(image, class_id, box, int(areas[label]), frame))
    return ObjectIndex(tuple(objects))


def wants_object_crops(index: ObjectIndex, images: int) -> bool:
    """Whether ``--small-objects auto`` turns the object crops on for the objects of
    ``images`` training photos: at least :data:`MIN_IMAGES` photos whose median object
    covers less than :data:`SMALL_OBJECT_SHARE` of its photo."""
    return images >= MIN_IMAGES and _are_small(index.median_share())


def _are_small(median_share: float) -> bool:
    """Whether objects whose median covers ``median_share`` of its photo are small (no
    objects: a median of 1.0, not small)."""
    return median_share < SMALL_OBJECT_SHARE


@dataclass(frozen=True)
class SmallObjects:
    """What the objects of the training masks change in the training crops."""

    index: ObjectIndex | None = None
    """The objects, when object crops are on."""
    small: bool = False
    """Whether the median object covers less than :data:`SMALL_OBJECT_SHARE` of its
    photo: crops are then rescaled by :data:`OBJECT_SCALE_RANGE`."""
    note: str | None = None
    """What the run's log says of it (None: nothing to say)."""


def object_crops(
    choice: str, layout: VocLayout, stems: list[str], num_classes: int
) -> SmallObjects:
    """The objects of the training images ``stems``, kept when ``--small-objects``
    ``choice`` turns object crops on (``auto``: see :func:`wants_object_crops`), and
    whether they are small; ``off`` reads no mask and changes nothing."""
    if choice == "off":
        return SmallObjects()
    masks = []
    for stem in stems:
        mask_path = layout.class_mask_path(stem)
        mask = read_label_png(mask_path)
        check_class_ids(mask, mask_path, num_classes)
        masks.append(mask)
    index = find_objects(masks)
    if not index.objects:
        return SmallObjects(note="--small-objects: the training masks hold no objects")
    share = index.median_share()
    small = _are_small(share)
    low, high = OBJECT_SCALE_RANGE
    found = f"the median of {len(index.objects)} covers {share:.1%} of its photo"
    rescaled = f", rescaled by {low:g}-{high:g}x" if small else ""
    if choice == "on" or wants_object_crops(index, len(stems)):
        note = (
            f"small objects ({found}): crops centred on objects of every class and objects "
            f"pasted from other training photos{rescaled}"
        )
        return SmallObjects(index, small, note)
    if small:
        note = (
            f"small objects ({found}): crops rescaled by {low:g}-{high:g}x (crops centred on "
            f"objects need {MIN_IMAGES} training photos)"
        )
        return SmallObjects(None, small, note)
    return SmallObjects()
