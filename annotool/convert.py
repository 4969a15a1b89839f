"""Converting labelme annotations into a VOC-style segmentation dataset.

The dataset is built in a staging directory beside ``OUT_DIR`` and moved into place only
when every file has been converted, so a failed or interrupted run never leaves a
half-written dataset. Every file is checked first (in the same pass): unless
``skip_invalid`` is set, one invalid file means nothing is written and every problem of
every file is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from annotool import __version__
from annotool.batch import BatchSummary, write_valid_files
from annotool.check import AnnotationInputs, FileCheck, find_annotation_files, unused_classes
from annotool.errors import AnnotationError, AnnotoolError, Problem
from annotool.fileio import naming_path, staged_dir, write_staged
from annotool.labelmap import LabelMap
from annotool.labelme import Annotation, copyable_jpeg_bytes, load_image, load_rgb_image
from annotool.labels import IGNORE_ID, IGNORE_LABEL, LabelSet
from annotool.manifest import MANIFEST_FILE, FileStamp, ManifestEntry, ManifestWriter
from annotool.progress import ProgressCallback
from annotool.rasterize import class_ids_npy, draw_label_images
from annotool.tables import text_table
from annotool.visualize import grayscale, overlay_jpeg
from annotool.voc import VocLayout, class_names_bytes, label_png_bytes, npy_bytes
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
    """The summary of a conversion (or of an update, see :mod:`annotool.update`)."""

    out_dir: Path
    class_names: tuple[str, ...]
    converted: list[str]
    skipped: list[FileCheck]
    class_pixels: NDArray[np.int64]
    """``(num_classes,)`` pixels of each class over all images of the dataset."""
    ignore_pixels: int
    unused_classes: list[str] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    """What the inputs held that was not read (see find_annotation_files), and for an
    update the split lists it made stale."""
    kept: int = 0
    """Images an update kept from the previous run (0 for a full convert)."""
    removed: list[str] = field(default_factory=list)
    """Stems whose outputs an update removed because their annotation is gone."""
    redo_reasons: list[str] = field(default_factory=list)
    """Why an update converted everything again (empty when it reused what it could)."""

    @property
    def total_pixels(self) -> int:
        return int(self.class_pixels.sum()) + self.ignore_pixels


@dataclass(frozen=True)
class ExampleRecord:
    """What writing one example tells the manifest: its pixel counts and its inputs."""

    pixels: NDArray[np.int64]
    """``(num_classes + 1,)``: index 0 counts ignored pixels."""
    json: FileStamp
    image: FileStamp | None


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
    that case ``out_dir`` is left untouched. The dataset holds a manifest
    (:mod:`annotool.manifest`) that ``convert --update`` reads.
    """
    found = find_annotation_files(inputs, recursive)
    out_dir = Path(out_dir)
    tally = DatasetTally.empty(labels)
    with staged_dir(out_dir, overwrite) as staging:
        layout = VocLayout(staging)
        start_dataset(layout, labels, options)
        settings = convert_settings(labels, options, label_map)
        with manifest_writer(layout, settings) as manifest:

            def add_entry(entry: ManifestEntry) -> None:
                manifest.write(entry)
                tally.add(entry)

            summary = write_examples(
                layout,
                found.files,
                labels,
                options,
                add_entry,
                skip_invalid=skip_invalid,
                workers=workers,
                progress=progress,
                label_map=label_map,
            )
    return dataset_result(out_dir, labels, summary, tally, list(found.warnings))


def convert_settings(
    labels: LabelSet, options: ConvertOptions, label_map: LabelMap | None = None
) -> dict[str, object]:
    """Everything a dataset's outputs depend on besides the files, as the manifest keeps it
    (the label map by its fingerprint: None without a map)."""
    return {
        "class_names": list(labels.class_names),
        "objects": options.objects,
        "visualizations": options.visualizations,
        "npy": options.npy,
        "label_map": None if label_map is None else label_map.fingerprint(),
    }


def start_dataset(layout: VocLayout, labels: LabelSet, options: ConvertOptions) -> None:
    """Create the dataset's folders for ``options`` and its ``class_names.txt`` (in a
    staging folder: renamed into place with the rest, no file of its own to sync)."""
    for folder in output_folders(layout, options):
        folder.mkdir(parents=True)
    write_staged(layout.class_names_path, class_names_bytes(labels.class_names))


def output_folders(layout: VocLayout, options: ConvertOptions) -> list[Path]:
    """The folders of ``layout`` that a convert with ``options`` writes into."""
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
    return folders


def output_files(layout: VocLayout, options: ConvertOptions) -> list[tuple[Path, str]]:
    """``(folder, suffix)`` of every file :func:`write_example` writes for an image with
    ``options``: the image ``stem`` gets ``folder / f"{stem}{suffix}"``."""
    names = [layout.jpeg_path(""), layout.class_png_path("")]
    if options.objects:
        names.append(layout.object_png_path(""))
    if options.visualizations:
        names.append(layout.class_viz_path(""))
        if options.objects:
            names.append(layout.object_viz_path(""))
    if options.npy:
        names.append(layout.class_npy_path(""))
        if options.objects:
            names.append(layout.object_npy_path(""))
    return [(name.parent, name.name) for name in names]


def write_examples(
    layout: VocLayout,
    files: Sequence[Path],
    labels: LabelSet,
    options: ConvertOptions,
    add_entry: Callable[[ManifestEntry], None],
    *,
    skip_invalid: bool = False,
    workers: int = 1,
    progress: ProgressCallback | None = None,
    label_map: LabelMap | None = None,
    require_written: bool = True,
) -> BatchSummary:
    """Check ``files`` and write each valid one's outputs into ``layout`` (see
    :func:`annotool.batch.write_valid_files`); hand each one's manifest entry to
    ``add_entry``, in file order, as it is written."""

    def consume(check: FileCheck, record: ExampleRecord) -> None:
        add_entry(
            ManifestEntry(
                stem=check.path.stem,
                json=record.json,
                image=record.image,
                pixels=tuple(int(count) for count in record.pixels),
                labels_used=tuple(sorted(check.labels_used)),
            )
        )

    write = partial(write_example, layout=layout, labels=labels, options=options)
    return write_valid_files(
        files,
        labels,
        write,
        consume,
        verb="convert",
        skip_invalid=skip_invalid,
        workers=workers,
        progress=progress,
        label_map=label_map,
        require_written=require_written,
    )


@contextmanager
def manifest_writer(layout: VocLayout, settings: dict[str, object]) -> Iterator[ManifestWriter]:
    """Write the staged dataset's manifest (annotool's version, the settings of
    :func:`convert_settings`) an entry at a time, in the order of the input files."""
    path = layout.root / MANIFEST_FILE
    # Failures name the manifest when opening, writing (in ManifestWriter) and closing it,
    # not while the block converts files.
    with naming_path(path):
        stream = open(path, "wb")  # noqa: SIM115
    try:
        with ManifestWriter(stream, __version__, settings, path) as writer:
            yield writer
    finally:
        with naming_path(path):
            stream.close()


@dataclass
class DatasetTally:
    """Pixels of each class and labels used over a dataset's images, summed entry by
    entry (so that nothing is kept per image)."""

    pixels: NDArray[np.int64]
    """``(num_classes + 1,)``: index 0 counts ignored pixels, index i + 1 class i."""
    labels_used: set[str] = field(default_factory=set)

    @classmethod
    def empty(cls, labels: LabelSet) -> DatasetTally:
        return cls(np.zeros(labels.num_classes + 1, dtype=np.int64))

    def add(self, entry: ManifestEntry) -> None:
        self.pixels += np.asarray(entry.pixels, dtype=np.int64)
        self.labels_used.update(entry.labels_used)


def dataset_result(
    out_dir: Path,
    labels: LabelSet,
    summary: BatchSummary,
    tally: DatasetTally,
    warnings: list[Problem],
) -> ConvertResult:
    """The summary of a dataset (what a convert wrote, or an update kept and wrote):
    ``tally`` covers all of its images."""
    return ConvertResult(
        out_dir=out_dir,
        class_names=labels.class_names,
        converted=summary.written,
        skipped=summary.skipped,
        class_pixels=tally.pixels[1:],
        ignore_pixels=int(tally.pixels[0]),
        unused_classes=unused_classes(labels, tally.labels_used),
        warnings=warnings,
    )


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
    if not need_pixels:
        jpeg = copyable_jpeg_bytes(annotation)
        if jpeg is not None:
            height, width = _image_size(annotation)
            return DatasetImage(jpeg=jpeg, height=height, width=width, pixels=None)
        rgb = load_rgb_image(annotation)
        return DatasetImage(encode_jpeg(rgb, JPEG_QUALITY), rgb.height, rgb.width, None)
    image = load_image(annotation)
    height, width = image.pixels.shape[:2]
    jpeg = image.jpeg_bytes or encode_jpeg(image.pixels, JPEG_QUALITY)
    return DatasetImage(jpeg=jpeg, height=height, width=width, pixels=image.pixels)


def write_example(
    annotation: Annotation, layout: VocLayout, labels: LabelSet, options: ConvertOptions
) -> ExampleRecord:
    """Write one annotated image's outputs into ``layout``; return its pixel counts and the
    stamps of its inputs for the manifest (read by ``read_annotation`` with
    ``keep_image``, as :func:`annotool.batch.write_valid_files` does)."""
    stem = annotation.path.stem
    if annotation.json_stamp is None:
        raise AnnotationError(f"{annotation.path} was not read from a file")
    image = dataset_image(annotation, need_pixels=options.visualizations)
    drawn = draw_label_images(
        annotation.shapes, image.height, image.width, labels, objects=options.objects
    )
    object_label = drawn.object_values()
    if object_label is not None and int(object_label.max(initial=0)) >= IGNORE_ID:
        raise AnnotationError(
            f"{annotation.path} has {int(object_label.max())} instances, but instance masks "
            f"hold ids up to {IGNORE_ID - 1}; pass --no-objects to write class masks only"
        )

    write_staged(layout.jpeg_path(stem), image.jpeg)
    write_staged(layout.class_png_path(stem), label_png_bytes(drawn.classes))
    if object_label is not None:
        write_staged(layout.object_png_path(stem), label_png_bytes(object_label))
    if image.pixels is not None and options.visualizations:
        gray = grayscale(image.pixels)
        class_overlay = overlay_jpeg(drawn.class_values, gray, labels.class_names)
        write_staged(layout.class_viz_path(stem), class_overlay)
        if object_label is not None:
            names = [str(instance) for instance in range(int(object_label.max()) + 1)]
            write_staged(layout.object_viz_path(stem), overlay_jpeg(object_label, gray, names))
    if options.npy:
        write_staged(layout.class_npy_path(stem), npy_bytes(class_ids_npy(drawn.class_values)))
        if object_label is not None:
            write_staged(layout.object_npy_path(stem), npy_bytes(object_label.astype(np.int32)))
    counts = drawn.classes.histogram()
    pixels = np.array([counts[IGNORE_ID], *counts[: labels.num_classes]], dtype=np.int64)
    return ExampleRecord(pixels=pixels, json=annotation.json_stamp, image=annotation.image_stamp)


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
