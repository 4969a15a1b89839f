"""``convert --update``: bring a converted dataset up to date, redoing only what changed.

The previous run's manifest (:mod:`annotool.manifest`) says what each image was made
from. An annotation whose JSON and image are unchanged keeps its outputs; a changed or
new one is converted; the outputs of an annotation that is gone are removed. A change
in anything every output depends on (the class names, an output option, the label map,
annotool's version) converts everything again, and the result says why. The dataset
left behind is the one a fresh convert of the same inputs writes, byte for byte,
manifest included.

Like a full convert, the update is built in a staging folder beside the dataset and
swapped in at the end: kept outputs are hard links to the previous files (copies where
the file system has no hard links), which the update never changes, so a killed update
leaves the previous dataset whole. Files convert does not write (the split lists of
``ImageSets/``) are carried over; split lists that name removed images, or miss new
ones, give a warning.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from annotool import __version__
from annotool.check import AnnotationInputs, find_annotation_files
from annotool.convert import (
    ConvertOptions,
    ConvertResult,
    DatasetTally,
    convert_dataset,
    convert_settings,
    dataset_result,
    manifest_writer,
    output_files,
    start_dataset,
    write_examples,
)
from annotool.errors import DatasetError, Problem
from annotool.fileio import is_nonempty_dir, read_utf8, staged_dir
from annotool.labelmap import LabelMap
from annotool.labels import LabelSet
from annotool.manifest import MANIFEST_FILE, Manifest, ManifestEntry, read_manifest, restamp
from annotool.progress import ProgressCallback, no_progress
from annotool.voc import (
    CLASS_DIR,
    CLASS_NAMES_FILE,
    CLASS_NPY_DIR,
    CLASS_VIZ_DIR,
    IMAGES_DIR,
    OBJECT_DIR,
    OBJECT_NPY_DIR,
    OBJECT_VIZ_DIR,
    VocLayout,
)

CONVERT_OUTPUTS = frozenset(
    (
        IMAGES_DIR,
        CLASS_DIR,
        OBJECT_DIR,
        CLASS_VIZ_DIR,
        OBJECT_VIZ_DIR,
        CLASS_NPY_DIR,
        OBJECT_NPY_DIR,
        CLASS_NAMES_FILE,
        MANIFEST_FILE,
    )
)
"""What a convert writes at the top of a dataset; an update rebuilds these and carries
everything else over."""

FILES_PER_WORKER_STARTED = 4
"""Starting a worker process costs about what converting a few images does: an update
converts fewer than this many files per worker in its own process."""

_SETTING_NAMES = {
    "class_names": "the labels (class names or their order)",
    "objects": "--objects/--no-objects",
    "visualizations": "--viz/--no-viz",
    "npy": "--npy",
    "label_map": "the label map (--map)",
}


@dataclass(frozen=True)
class UpdatePlan:
    """What an update does with each annotation, decided from the manifest and the files."""

    redo_reasons: tuple[str, ...]
    """Why everything is converted again; empty when the previous outputs are reused."""
    convert: tuple[Path, ...]
    """JSON files to convert: new, changed, or everything when ``redo_reasons``."""
    keep: tuple[tuple[Path, ManifestEntry], ...]
    """Unchanged annotations with their entries (stamps refreshed) whose outputs stay."""
    removed: tuple[str, ...]
    """Stems of the previous run whose annotation is gone."""


def settings_changes(
    manifest: Manifest, settings: Mapping[str, object], version: str = __version__
) -> list[str]:
    """Why ``settings`` and ``version`` cannot reuse what ``manifest``'s run wrote, one
    reason per difference; empty when nothing differs."""
    reasons = []
    if manifest.version != version:
        reasons.append(f"annotool's version changed ({manifest.version} -> {version})")
    for key in sorted(set(manifest.settings) | set(settings)):
        before, now = manifest.settings.get(key), settings.get(key)
        if before == now:
            continue
        name = _SETTING_NAMES.get(key, f"the setting {key!r}")
        if isinstance(before, bool) and isinstance(now, bool):
            reasons.append(f"{name} changed (was {_on_off(before)}, now {_on_off(now)})")
        else:
            reasons.append(f"{name} changed")
    return reasons


def plan_update(
    files: Sequence[Path], manifest: Manifest, settings: Mapping[str, object]
) -> UpdatePlan:
    """Sort ``files`` into those to convert and those to keep; list the stems removed.

    A file is kept when its JSON and its image file have the content the manifest
    recorded (size and modification time unchanged and older than the manifest, or the
    same SHA-256); an image that is gone makes the file be converted again (which
    reports it).
    """
    previous = manifest.by_stem()
    current = {path.stem for path in files}
    removed = tuple(sorted(stem for stem in previous if stem not in current))
    reasons = settings_changes(manifest, settings)
    if reasons:
        return UpdatePlan(tuple(reasons), tuple(files), (), removed)
    trusted_before = manifest.trusted_before_ns()
    convert: list[Path] = []
    keep: list[tuple[Path, ManifestEntry]] = []
    for path in files:
        entry = previous.get(path.stem)
        refreshed = None if entry is None else _unchanged(path, entry, trusted_before)
        if refreshed is None:
            convert.append(path)
        else:
            keep.append((path, refreshed))
    return UpdatePlan((), tuple(convert), tuple(keep), removed)


def _unchanged(
    path: Path, entry: ManifestEntry, trusted_before_ns: int | None
) -> ManifestEntry | None:
    """``entry`` with fresh stamps when ``path`` and its image hold what it recorded."""
    try:
        json_stamp = restamp(path, entry.json, trusted_before_ns)
        image_stamp = (
            None
            if entry.image is None
            else restamp(Path(entry.image.path), entry.image, trusted_before_ns)
        )
    except OSError:
        return None
    image_changed = (
        image_stamp is not None
        and entry.image is not None
        and (image_stamp.sha256 != entry.image.sha256)
    )
    if json_stamp.sha256 != entry.json.sha256 or image_changed:
        return None
    return ManifestEntry(entry.stem, json_stamp, image_stamp, entry.pixels, entry.labels_used)


def update_dataset(
    inputs: AnnotationInputs,
    out_dir: Path,
    labels: LabelSet,
    options: ConvertOptions,
    *,
    recursive: bool = False,
    skip_invalid: bool = False,
    workers: int = 1,
    progress: ProgressCallback | None = None,
    label_map: LabelMap | None = None,
) -> ConvertResult:
    """Bring the dataset a convert wrote at ``out_dir`` up to date with ``inputs``.

    See the module docstring. A missing or empty ``out_dir`` is converted in full.
    Raises ManifestError when ``out_dir`` holds no manifest of annotool convert, and
    what convert raises for invalid inputs (then ``out_dir`` is left as it was).
    """
    found = find_annotation_files(inputs, recursive)
    out_dir = Path(out_dir)
    if not is_nonempty_dir(out_dir):
        result = convert_dataset(
            found,
            out_dir,
            labels,
            options,
            skip_invalid=skip_invalid,
            overwrite=True,
            workers=workers,
            progress=progress,
            label_map=label_map,
        )
        result.redo_reasons = [f"{out_dir} held no dataset yet"]
        return result
    settings = convert_settings(labels, options, label_map)
    plan = plan_update(found.files, read_manifest(out_dir), settings)
    advance = progress or no_progress
    tally = DatasetTally.empty(labels)
    with staged_dir(out_dir, overwrite=True) as staging:
        layout = VocLayout(staging)
        start_dataset(layout, labels, options)
        kept, outputs_missing = _link_kept(VocLayout(out_dir), layout, plan.keep, options)
        advance(len(kept))
        _carry_over(out_dir, staging)
        to_convert = sorted((*plan.convert, *outputs_missing))
        written: dict[str, ManifestEntry] = {}
        summary = write_examples(
            layout,
            to_convert,
            labels,
            options,
            lambda entry: written.__setitem__(entry.stem, entry),
            skip_invalid=skip_invalid,
            workers=workers if len(to_convert) >= FILES_PER_WORKER_STARTED * workers else 1,
            progress=progress,
            label_map=label_map,
            require_written=not kept,
        )
        # In the order of the inputs, as a fresh convert writes them.
        with manifest_writer(layout, settings) as manifest:
            for path in found.files:
                entry = kept.get(path.stem) or written.get(path.stem)
                if entry is not None:
                    manifest.write(entry)
                    tally.add(entry)
        stale = _stale_split_warnings(layout, {*kept, *written}, out_dir)
    result = dataset_result(out_dir, labels, summary, tally, [*found.warnings, *stale])
    result.kept = len(kept)
    result.removed = list(plan.removed)
    result.redo_reasons = list(plan.redo_reasons)
    return result


def _link_kept(
    old: VocLayout,
    new: VocLayout,
    keep: Sequence[tuple[Path, ManifestEntry]],
    options: ConvertOptions,
) -> tuple[dict[str, ManifestEntry], list[Path]]:
    """Put the previous outputs of ``keep`` into ``new``; return the entries kept by stem
    and the JSON files whose outputs were not all there (deleted by hand: converted
    again)."""
    # Plain strings: building Path objects would cost more than the links themselves.
    folders = [
        (str(old_folder), str(new_folder), suffix)
        for (old_folder, suffix), (new_folder, _) in zip(
            output_files(old, options), output_files(new, options), strict=True
        )
    ]
    kept: dict[str, ManifestEntry] = {}
    missing: list[Path] = []
    for path, entry in keep:
        pairs = [
            (
                os.path.join(old_folder, entry.stem + suffix),
                os.path.join(new_folder, entry.stem + suffix),
            )
            for old_folder, new_folder, suffix in folders
        ]
        try:
            for source, target in pairs:
                _link_or_copy(source, target)
        except FileNotFoundError:
            for _, target in pairs:
                Path(target).unlink(missing_ok=True)
            missing.append(path)
            continue
        kept[entry.stem] = entry
    return kept, missing


def _link_or_copy(source: str | Path, target: str | Path) -> None:
    """Hard-link ``source`` as ``target``, or copy it where the file system cannot link."""
    try:
        os.link(source, target)
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copyfile(source, target)


def _carry_over(out_dir: Path, staging: Path) -> None:
    """Carry everything at the top of ``out_dir`` that convert does not write into
    ``staging`` (hard links, as for kept outputs)."""
    for entry in sorted(out_dir.iterdir()):
        if entry.name in CONVERT_OUTPUTS:
            continue
        target = staging / entry.name
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, target, symlinks=True, copy_function=_link_or_copy)
        elif entry.is_symlink():
            os.symlink(os.readlink(entry), target)
        else:
            _link_or_copy(entry, target)


def _stale_split_warnings(layout: VocLayout, stems: set[str], out_dir: Path) -> list[Problem]:
    """A warning for each split list of the staged ``layout`` that names an image the
    dataset no longer has, and one when images are in no split list (new ones); the
    warnings name the files as they will be in ``out_dir``."""
    split_files = layout.split_files()
    if not split_files:
        return []
    warnings = []
    listed: set[str] = set()
    for path in split_files:
        text = read_utf8(path, DatasetError)
        names = {line.strip() for line in text.splitlines() if line.strip()}
        listed |= names
        gone = sorted(names - stems)
        if gone:
            warnings.append(
                Problem(
                    out_dir / path.relative_to(layout.root),
                    f"lists {_images(len(gone))} the dataset no longer has ({_few(gone)}); "
                    f"run 'annotool split {out_dir} --overwrite' to split again",
                    severity="warning",
                )
            )
    unlisted = sorted(stems - listed)
    if unlisted:
        warnings.append(
            Problem(
                out_dir / layout.image_sets_dir.relative_to(layout.root),
                f"{_images(len(unlisted))} in no split list ({_few(unlisted)}); "
                f"run 'annotool split {out_dir} --overwrite' to split again",
                severity="warning",
            )
        )
    return warnings


def _images(count: int) -> str:
    return f"{count} image" if count == 1 else f"{count} images"


def _few(stems: Sequence[str], shown: int = 3) -> str:
    more = f", ... {len(stems) - shown} more" if len(stems) > shown else ""
    return ", ".join(stems[:shown]) + more


def _on_off(value: bool) -> str:
    return "on" if value else "off"
