"""The dataset layout on disk, in the PASCAL VOC style that labelme's converter writes.

::

    DATASET/
      class_names.txt                      _background_, then the classes, one per line
      JPEGImages/<stem>.jpg
      SegmentationClass/<stem>.png         mode P, VOC palette, value = class id, 255 = ignore
      SegmentationObject/<stem>.png        mode P, value = instance id, 0 = none or ignore
      SegmentationClassVisualization/<stem>.jpg
      SegmentationObjectVisualization/<stem>.jpg
      SegmentationClassNpy/<stem>.npy      int32, -1 = ignore (optional)
      SegmentationObjectNpy/<stem>.npy     int32, -1 = ignore (optional)
      ImageSets/Segmentation/train.txt     one stem per line, sorted
      ImageSets/Segmentation/fold0/train.txt  (K-fold splits)

Older labelme versions wrote ``SegmentationClassPNG``/``SegmentationObjectPNG``; those
are read too. Every capability finds its files through :class:`VocLayout`.
"""

from __future__ import annotations

import glob
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from annotool.errors import DatasetError
from annotool.fileio import atomic_write, atomic_write_bytes, atomic_write_text, read_utf8
from annotool.labels import IGNORE_ID, colormap_with

# The mask reader lives with the other mask code; this name is the documented one too.
from annotool.masks import read_label_png as read_label_png

IMAGES_DIR = "JPEGImages"
CLASS_DIR = "SegmentationClass"
OBJECT_DIR = "SegmentationObject"
LEGACY_CLASS_DIR = "SegmentationClassPNG"
LEGACY_OBJECT_DIR = "SegmentationObjectPNG"
CLASS_VIZ_DIR = "SegmentationClassVisualization"
OBJECT_VIZ_DIR = "SegmentationObjectVisualization"
CLASS_NPY_DIR = "SegmentationClassNpy"
OBJECT_NPY_DIR = "SegmentationObjectNpy"
IMAGE_SETS_DIR = Path("ImageSets") / "Segmentation"
CLASS_NAMES_FILE = "class_names.txt"
TRAIN = "train"
VAL = "val"
TEST = "test"
TRAINVAL = "trainval"
SPLIT_ORDER = (TRAIN, VAL, TEST, TRAINVAL)
"""The split files annotool writes, in the order reports list them."""
FOLD_PREFIX = "fold"
_FOLD_DIR = re.compile(rf"{FOLD_PREFIX}(\d+)")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
MASK_SUFFIX = ".png"
"""The suffix of every mask, read in any letter case (``.PNG``), written in lower case."""


def fold_name(fold: int) -> str:
    """Fold ``fold``'s folder and val part: ``fold0``, ``fold1``, ..."""
    return f"{FOLD_PREFIX}{fold}"


def existing_file(folder: Path, stem: str, suffixes: Sequence[str]) -> Path:
    """``folder/<stem><suffix>`` for the first of ``suffixes`` (lower case) that exists in
    any letter case (``.JPG``, ``.Jpeg``); ``<stem><suffixes[0]>`` when none does.

    For writing a new file, name its path directly: a missing file costs a listing of
    ``folder`` here."""
    for suffix in suffixes:
        for variant in (suffix, suffix.upper()):
            if (candidate := folder / f"{stem}{variant}").exists():
                return candidate
    # Mixed case such as .Jpeg: rare, so the folder is listed only then.
    if folder.is_dir():
        for candidate in sorted(folder.glob(f"{glob.escape(stem)}.*")):
            if candidate.suffix.lower() in suffixes:
                return candidate
    return folder / f"{stem}{suffixes[0]}"


@dataclass(frozen=True)
class VocLayout:
    """Paths of one VOC-style segmentation dataset rooted at ``root``."""

    root: Path
    class_dir_name: str = CLASS_DIR
    object_dir_name: str = OBJECT_DIR
    _odd_case_masks: dict[Path, dict[str, Path]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    """Per mask folder, the masks whose suffix is not ``.png`` (``.PNG``) by stem; listed
    once, when a mask is first not found as ``<stem>.png``."""

    @classmethod
    def open(cls, root: Path) -> VocLayout:
        """The layout of an existing dataset, detecting the older ``*PNG`` mask folders.

        Raises DatasetError when ``root`` has no images folder or no class mask folder.
        """
        root = Path(root)
        if not root.exists():
            raise DatasetError(f"dataset directory {root} does not exist")
        if not root.is_dir():
            raise DatasetError(f"{root} is a file, not a dataset directory")
        if (root / CLASS_DIR).is_dir():
            layout = cls(root)
        elif (root / LEGACY_CLASS_DIR).is_dir():
            layout = cls(root, LEGACY_CLASS_DIR, LEGACY_OBJECT_DIR)
        else:
            raise DatasetError(
                f"{root} is not a segmentation dataset: it has neither {CLASS_DIR}/ nor "
                f"{LEGACY_CLASS_DIR}/; create one with 'annotool convert JSON_DIR {root}'"
            )
        if not layout.images_dir.is_dir():
            raise DatasetError(f"{root} has masks but no {IMAGES_DIR}/ folder of images")
        return layout

    @property
    def images_dir(self) -> Path:
        return self.root / IMAGES_DIR

    @property
    def class_dir(self) -> Path:
        return self.root / self.class_dir_name

    @property
    def object_dir(self) -> Path:
        return self.root / self.object_dir_name

    @property
    def class_viz_dir(self) -> Path:
        return self.root / CLASS_VIZ_DIR

    @property
    def object_viz_dir(self) -> Path:
        return self.root / OBJECT_VIZ_DIR

    @property
    def class_npy_dir(self) -> Path:
        return self.root / CLASS_NPY_DIR

    @property
    def object_npy_dir(self) -> Path:
        return self.root / OBJECT_NPY_DIR

    @property
    def image_sets_dir(self) -> Path:
        return self.root / IMAGE_SETS_DIR

    @property
    def class_names_path(self) -> Path:
        return self.root / CLASS_NAMES_FILE

    def image_path(self, stem: str) -> Path:
        """The image of ``stem``: ``JPEGImages/<stem>.jpg``, or another suffix (in any
        letter case: ``.JPG``, ``.Jpeg``, ``.PNG``) if that exists."""
        return existing_file(self.images_dir, stem, IMAGE_SUFFIXES)

    def jpeg_path(self, stem: str) -> Path:
        """``JPEGImages/<stem>.jpg``, where ``annotool convert`` writes the image."""
        return self.images_dir / f"{stem}.jpg"

    def class_png_path(self, stem: str) -> Path:
        """``SegmentationClass/<stem>.png``, where ``annotool convert`` writes the mask."""
        return self.class_dir / f"{stem}{MASK_SUFFIX}"

    def object_png_path(self, stem: str) -> Path:
        """``SegmentationObject/<stem>.png``, where ``annotool convert`` writes the mask."""
        return self.object_dir / f"{stem}{MASK_SUFFIX}"

    def class_mask_path(self, stem: str) -> Path:
        """The class mask of ``stem``: ``<stem>.png``, or ``.PNG`` in any letter case if
        that exists; ``<stem>.png`` (where annotool writes it) when none does."""
        return self._mask_path(self.class_dir, stem)

    def object_mask_path(self, stem: str) -> Path:
        """The instance mask of ``stem``, found as :meth:`class_mask_path` finds its own."""
        return self._mask_path(self.object_dir, stem)

    def _mask_path(self, folder: Path, stem: str) -> Path:
        path = folder / f"{stem}{MASK_SUFFIX}"
        if path.exists():
            return path
        odd_case = self._odd_case_masks.get(folder)
        if odd_case is None:
            if not folder.is_dir():
                return path
            odd_case = {
                entry.stem: entry
                for entry in sorted(folder.iterdir())
                if entry.suffix.lower() == MASK_SUFFIX and entry.suffix != MASK_SUFFIX
            }
            self._odd_case_masks[folder] = odd_case
        return odd_case.get(stem, path)

    def class_viz_path(self, stem: str) -> Path:
        return self.class_viz_dir / f"{stem}.jpg"

    def object_viz_path(self, stem: str) -> Path:
        return self.object_viz_dir / f"{stem}.jpg"

    def class_npy_path(self, stem: str) -> Path:
        return self.class_npy_dir / f"{stem}.npy"

    def object_npy_path(self, stem: str) -> Path:
        return self.object_npy_dir / f"{stem}.npy"

    def split_dir(self, fold: int | None = None) -> Path:
        return self.image_sets_dir if fold is None else self.image_sets_dir / fold_name(fold)

    def split_path(self, split: str, fold: int | None = None) -> Path:
        """``ImageSets/Segmentation[/fold<k>]/<split>.txt``."""
        return self.split_dir(fold) / f"{split}.txt"

    def has_objects(self) -> bool:
        return self.object_dir.is_dir()

    def stems(self) -> list[str]:
        """Sorted stems of every class mask in the dataset (``.png`` in any letter case)."""
        if not self.class_dir.is_dir():
            return []
        return sorted(
            {path.stem for path in self.class_dir.iterdir() if path.suffix.lower() == MASK_SUFFIX}
        )

    def read_class_names(self) -> list[str] | None:
        """Class names from ``class_names.txt``, or None when the file is absent."""
        path = self.class_names_path
        if not path.is_file():
            return None
        names = read_utf8(path, DatasetError).splitlines()
        while names and not names[-1].strip():
            names.pop()
        return [name.strip() for name in names]

    def write_class_names(self, class_names: Sequence[str]) -> None:
        atomic_write_bytes(self.class_names_path, class_names_bytes(class_names))

    def split_names(self) -> list[str]:
        """Names of the split files present (``train``, ``val``, ...), sorted."""
        if not self.image_sets_dir.is_dir():
            return []
        return sorted(path.stem for path in self.image_sets_dir.glob("*.txt"))

    def ordered_split_names(self) -> list[str]:
        """:meth:`split_names` with train, val, test and trainval first, in that order."""
        return sorted(
            self.split_names(),
            key=lambda name: (
                SPLIT_ORDER.index(name) if name in SPLIT_ORDER else len(SPLIT_ORDER),
                name,
            ),
        )

    def folds(self) -> list[int]:
        """The numbers of the ``fold<k>/`` folders of split files present, sorted."""
        if not self.image_sets_dir.is_dir():
            return []
        return sorted(
            int(match.group(1))
            for path in self.image_sets_dir.iterdir()
            if path.is_dir() and (match := _FOLD_DIR.fullmatch(path.name))
        )

    def split_files(self) -> list[Path]:
        """Every split file annotool writes that exists now: top-level, then per fold."""
        files = [self.split_path(name) for name in (TRAIN, VAL, TRAINVAL, TEST)]
        for fold in self.folds():
            files += [self.split_path(TRAIN, fold), self.split_path(VAL, fold)]
        return [path for path in files if path.is_file()]

    def read_split(self, split: str, fold: int | None = None) -> list[str]:
        """The stems listed in a split file, in file order.

        Raises DatasetError naming ``annotool split`` when the file is missing.
        """
        path = self.split_path(split, fold)
        if not path.is_file():
            raise DatasetError(
                f"{path} does not exist; run 'annotool split {self.root}' to create "
                "train/val split files"
            )
        return [line.strip() for line in read_utf8(path, DatasetError).splitlines() if line.strip()]

    def write_split(self, split: str, stems: list[str], fold: int | None = None) -> None:
        """Write a split file: the stems sorted, one per line."""
        atomic_write_text(
            self.split_path(split, fold), "".join(f"{stem}\n" for stem in sorted(stems))
        )


def class_names_bytes(class_names: Sequence[str]) -> bytes:
    """``class_names.txt``'s bytes: one name per line, UTF-8."""
    return "".join(f"{name}\n" for name in class_names).encode("utf-8")


MASK_PNG_COMPRESSION = 1
"""zlib level for mask PNGs: level 1 encodes about twice as fast as Pillow's default 6,
and masks stay a few kilobytes."""


def mask_values(label: NDArray[np.integer]) -> NDArray[np.uint8]:
    """The ``(H, W)`` uint8 pixel values of a label array: ids as they are, -1 -> 255.

    Values must lie in -1..255; anything else cannot be stored in a PNG mask.
    """
    if label.dtype == np.uint8:
        return label
    minimum, maximum = int(label.min(initial=0)), int(label.max(initial=0))
    if minimum < -1 or maximum > IGNORE_ID:
        raise DatasetError(
            f"label values {minimum}..{maximum} do not fit a PNG mask (allowed: -1..{IGNORE_ID})"
        )
    return label.astype(np.uint8)


def label_png_bytes(
    label: NDArray[np.integer] | Image.Image, palette: NDArray[np.uint8] | None = None
) -> bytes:
    """Encode an ``(H, W)`` label array as a palettized PNG with the VOC colour map.

    Values are class or instance ids, -1 (written as 255) or 255 for ignore; see
    mask_values. The pixel values and palette equal those of labelme's ``lblsave``.
    ``palette`` (``(K, 3)`` uint8) recolours ids 0 to K-1, as ``labels.colormap_with``.
    ``label`` may also be a Pillow image of mode ``"P"`` holding the values (as
    ``rasterize.draw_label_images`` draws it): its pixels are saved without a copy, and
    its palette is replaced by the colour map.
    """
    if isinstance(label, Image.Image):
        if label.mode != "P":
            raise ValueError(f"a label image must have mode 'P', not {label.mode!r}")
        image = label
    else:
        image = Image.fromarray(mask_values(label), mode="P")
    # The colour map as bytes: Pillow converts a list of 768 ints at every call.
    image.putpalette(colormap_with(palette).tobytes())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=MASK_PNG_COMPRESSION)
    return buffer.getvalue()


def jpeg_bytes(pixels: NDArray[np.uint8] | Image.Image, quality: int = 95) -> bytes:
    """Encode ``(H, W, 3)`` RGB (or ``(H, W)`` greyscale) pixels, or a Pillow image of a
    mode JPEG holds (RGBX included: its fourth byte is dropped), as JPEG bytes."""
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def write_label_png(path: Path, label: NDArray[np.integer]) -> None:
    """Atomically write an ``(H, W)`` label array as a VOC-palettized PNG (see label_png_bytes)."""
    data = label_png_bytes(label)
    atomic_write(path, lambda stream: stream.write(data))


def npy_bytes(array: NDArray[np.generic]) -> bytes:
    """Encode ``array`` in NumPy ``.npy`` format.

    Encoded in memory and written like every other output: ``np.save`` to a file reports
    a full disk as an OSError without errno ("N requested and M written").
    """
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()
