"""Converting labelme annotations into a VOC-style segmentation dataset.

The dataset is built in a staging directory beside ``OUT_DIR`` and moved into place only
when every file has been converted, so a failed or interrupted run never leaves a
half-written dataset. Every file is checked first (in the same pass): unless
``skip_invalid`` is set, one invalid file means nothing is written and every problem of
every file is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from annotool.batch import write_valid_files
from annotool.check import AnnotationInputs, FileCheck, find_annotation_files
from annotool.errors import AnnotationError, AnnotoolError, Problem
from annotool.fileio import staged_dir, write_staged
from annotool.labelmap import LabelMap
from annotool.labelme import Annotation, copyable_jpeg_bytes, load_image
from annotool.labels import IGNORE_ID, IGNORE_LABEL, LabelSet
from annotool.progress import ProgressCallback
from annotool.rasterize import rasterize
from annotool.tables import text_table
from annotool.visualize import grayscale, overlay_jpeg
from annotool.voc import VocLayout, label_png_bytes, mask_values, npy_bytes
from annotool.voc import jpeg_bytes as encode_jpeg

JPEG_QUALITY = 95


@dataclass(frozen=True)
class ConvertOptions:
    """What to write besides images and class masks."""

    objects: bool = True
    visualizations: bool = True
    npy: bool = False


@dataclass
class ConvertResult:
    """The summary of a conversion."""

    out_dir: Path
    class_names: tuple[str, ...]
    converted: list[str]
    skipped: list[FileCheck]
    class_pixels: NDArray[np.int64]
    """``(num_classes,)`` pixels of each class over all converted images."""
    ignore_pixels: int
    unused_classes: list[str] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    """What the inputs held that was not read (see find_annotation_files)."""

    @property
    def total_pixels(self) -> int:
        return int(self.class_pixels.sum()) + self.ignore_pixels


def convert_dataset(
    inputs: AnnotationInputs,
    out_dir: Path,
    labels: LabelSet,
    options: ConvertOptions = ConvertOptions(),
    *,
    recursive: bool = False,
    skip_invalid: bool = False,
    overwrite: bool = False,
    workers: int = 1,
    progress: ProgressCallback | None = None,
    label_map: LabelMap | None = None,
) -> ConvertResult:
    """Convert every labelme file of ``inputs`` into a dataset at ``out_dir``.

    ``inputs`` is a folder, JSON files and folders, or files already resolved by
    find_annotation_files (see there for ``recursive``). Labels are read through
    ``label_map`` (see :mod:`annotool.labelmap`). Raises InvalidInputError
    listing every problem when any file is invalid and ``skip_invalid`` is false; in
    that case ``out_dir`` is left untouched.
    """
    found = find_annotation_files(inputs, recursive)
    out_dir = Path(out_dir)
    # Index 0 counts ignored pixels, index i + 1 class i; kept small so memory does not
    # grow per file.
    pixels = np.zeros(labels.num_classes + 1, dtype=np.int64)

    def add_pixels(_check: FileCheck, class_pixels: NDArray[np.int64]) -> None:
        pixels[:] += class_pixels

    with staged_dir(out_dir, overwrite) as staging:
        layout = VocLayout(staging)
        _make_folders(layout, options)
        layout.write_class_names(labels.class_names)
        write = partial(write_example, layout=layout, labels=labels, options=options)
        summary = write_valid_files(
            found.files,
            labels,
            write,
            add_pixels,
            verb="convert",
            skip_invalid=skip_invalid,
            workers=workers,
            progress=progress,
            label_map=label_map,
        )
    return ConvertResult(
        out_dir=out_dir,
        class_names=labels.class_names,
        converted=summary.written,
        skipped=summary.skipped,
        class_pixels=pixels[1:],
        ignore_pixels=int(pixels[0]),
        unused_classes=summary.unused_classes(labels),
        warnings=list(found.warnings),
    )


def _make_folders(layout: VocLayout, options: ConvertOptions) -> None:
    folders = [layout.images_dir, layout.class_dir]
    if options.objects:
        folders.append(layout.object_dir)
    if options.visualizations:
        folders.append(layout.class_viz_dir)
        if options.objects:
            folders.append(layout.object_viz_dir)
    if options.npy:
        folders.append(layout.class_npy_dir)
        if options.objects:
            folders.append(layout.object_npy_dir)
    for folder in folders:
        folder.mkdir(parents=True)


@dataclass(frozen=True)
class DatasetImage:
    """An annotation's image as a dataset stores it.

    ``jpeg`` is the source JPEG copied byte for byte when it is an RGB JPEG that needs no
    rotation, else the EXIF-oriented pixels encoded at quality ``JPEG_QUALITY``.
    ``pixels`` is the ``(H, W, 3)`` uint8 image when it was decoded, else None.
    """

    jpeg: bytes
    height: int
    width: int
    pixels: NDArray[np.uint8] | None


def dataset_image(annotation: Annotation, need_pixels: bool = False) -> DatasetImage:
    """The image ``convert`` and ``export`` write for ``annotation``.

    Decoding the photo is the slowest step; a plain RGB JPEG is copied as it is, so it is
    decoded only when it must be re-encoded or ``need_pixels`` asks for its pixels.
    """
    jpeg = None if need_pixels else copyable_jpeg_bytes(annotation)
    if jpeg is not None:
        height, width = _image_size(annotation)
        return DatasetImage(jpeg=jpeg, height=height, width=width, pixels=None)
    image = load_image(annotation)
    height, width = image.pixels.shape[:2]
    jpeg = image.jpeg_bytes or encode_jpeg(image.pixels, JPEG_QUALITY)
    return DatasetImage(jpeg=jpeg, height=height, width=width, pixels=image.pixels)


def write_example(
    annotation: Annotation, layout: VocLayout, labels: LabelSet, options: ConvertOptions
) -> NDArray[np.int64]:
    """Write one annotated image's outputs into ``layout``; return its class pixel counts.

    The counts are ``(num_classes + 1,)``: index 0 counts ignored pixels.
    """
    stem = annotation.path.stem
    image = dataset_image(annotation, need_pixels=options.visualizations)
    pixels, height, width = image.pixels, image.height, image.width
    class_label, object_label = rasterize(annotation.shapes, height, width, labels)
    if options.objects and int(object_label.max(initial=0)) >= IGNORE_ID:
        raise AnnotationError(
            f"{annotation.path} has {int(object_label.max())} instances, but instance masks "
            f"hold ids up to {IGNORE_ID - 1}; pass --no-objects to write class masks only"
        )

    write_staged(layout.jpeg_path(stem), image.jpeg)
    class_values = mask_values(class_label)
    write_staged(layout.class_mask_path(stem), label_png_bytes(class_values))
    if options.objects:
        write_staged(layout.object_mask_path(stem), label_png_bytes(object_label))
    if pixels is not None and options.visualizations:
        gray = grayscale(pixels)
        class_overlay = overlay_jpeg(class_values, gray, labels.class_names)
        write_staged(layout.class_viz_path(stem), class_overlay)
        if options.objects:
            names = [str(instance) for instance in range(int(object_label.max()) + 1)]
            write_staged(layout.object_viz_path(stem), overlay_jpeg(object_label, gray, names))
    if options.npy:
        write_staged(layout.class_npy_path(stem), npy_bytes(class_label))
        if options.objects:
            write_staged(layout.object_npy_path(stem), npy_bytes(object_label))
    counts = np.bincount(class_values.ravel(), minlength=IGNORE_ID + 1)
    return np.concatenate(([counts[IGNORE_ID]], counts[: labels.num_classes])).astype(np.int64)


def _image_size(annotation: Annotation) -> tuple[int, int]:
    if annotation.image_size is None:
        raise AnnotoolError(f"{annotation.path}: the image size is unknown")
    return annotation.image_size


def format_pixel_shares(result: ConvertResult) -> str:
    """A table of each class's pixels and share of all pixels, ignore last."""
    total = max(result.total_pixels, 1)
    rows = [
        [str(class_id), name, str(int(pixels)), f"{100 * pixels / total:.2f}%"]
        for class_id, (name, pixels) in enumerate(
            zip(result.class_names, result.class_pixels, strict=True)
        )
    ]
    ignored = result.ignore_pixels
    rows.append([str(IGNORE_ID), IGNORE_LABEL, str(ignored), f"{100 * ignored / total:.2f}%"])
    return text_table(["id", "class", "pixels", "share"], rows, left=(1,))
