"""Finding labelme annotation files and checking them against a class list.

Every problem in every file is collected (not just the first), each naming its file and
shape, so one run tells the annotator everything to fix. ``annotool convert`` runs the
same checks before it writes anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import cast

from annotool.errors import AnnotoolError, Problem
from annotool.labelmap import LabelMap
from annotool.labelme import Annotation, labels_written, read_annotation, read_labelme_json
from annotool.labels import IGNORE_LABEL, LabelSet
from annotool.parallel import map_in_order
from annotool.progress import ProgressCallback
from annotool.rasterize import shape_box

JSON_SUFFIX = ".json"


@dataclass(frozen=True)
class AnnotationFiles:
    """The labelme files a command reads, resolved once from its inputs.

    ``files`` is sorted, without repeats, no two sharing a stem; ``warnings`` lists what
    the inputs held that is not read (a folder whose name ends in ``.json``).
    """

    files: tuple[Path, ...]
    warnings: tuple[Problem, ...] = ()


AnnotationInputs = AnnotationFiles | Path | Sequence[Path]
"""What the core functions take: inputs already resolved, or files and folders to resolve."""


def find_annotation_files(inputs: AnnotationInputs, recursive: bool = False) -> AnnotationFiles:
    """The labelme JSON files that ``inputs`` (a folder, a file, or several of both) name.

    A folder contributes its ``*.json`` files (any case), and those of its subfolders if
    ``recursive``. Inputs already resolved are returned as they are. Raises
    AnnotoolError when an input is missing or not a JSON file, when nothing is found, or
    when two files share a stem (their outputs would overwrite each other).
    """
    if isinstance(inputs, AnnotationFiles):
        return inputs
    paths = [Path(inputs)] if isinstance(inputs, str | Path) else [Path(p) for p in inputs]
    found: set[Path] = set()
    warnings: list[Problem] = []
    for path in paths:
        if path.is_dir():
            _add_folder(path, recursive, found, warnings)
        elif path.is_file() and path.suffix.lower() == JSON_SUFFIX:
            found.add(path)
        elif path.exists():
            raise AnnotoolError(f"{path} is not a labelme .json file or a folder of them")
        else:
            raise AnnotoolError(f"annotation input {path} does not exist")
    if not found:
        where = ", ".join(str(path) for path in paths)
        searched_folders = any(path.is_dir() for path in paths)
        hint = (
            "" if recursive or not searched_folders else " (pass --recursive to search subfolders)"
        )
        raise AnnotoolError(f"no labelme .json files found in {where}{hint}")
    files = sorted(found)
    _refuse_stem_clashes(files)
    return AnnotationFiles(tuple(files), tuple(sorted(warnings, key=lambda w: w.path)))


def _add_folder(folder: Path, recursive: bool, found: set[Path], warnings: list[Problem]) -> None:
    entries = folder.rglob("*") if recursive else folder.iterdir()
    for entry in entries:
        if entry.suffix.lower() != JSON_SUFFIX:
            continue
        if entry.is_file():
            found.add(entry)
        elif entry.is_dir():
            warnings.append(
                Problem(
                    entry,
                    "a folder whose name ends in .json is not read as an annotation; "
                    "rename it if it is not meant to be one",
                    severity="warning",
                )
            )


def _refuse_stem_clashes(files: Sequence[Path]) -> None:
    by_stem: dict[str, list[Path]] = {}
    for path in files:
        by_stem.setdefault(path.stem, []).append(path)
    clashes = {stem: paths for stem, paths in by_stem.items() if len(paths) > 1}
    if clashes:
        listing = "\n".join(
            f"  {stem}: " + ", ".join(str(path) for path in paths)
            for stem, paths in sorted(clashes.items())
        )
        raise AnnotoolError(
            "several annotation files share a name, so their outputs would overwrite each "
            f"other; rename them:\n{listing}"
        )


@dataclass(frozen=True)
class FileCheck:
    """What checking one annotation file found.

    ``labels_used``: the labels of the valid shapes, after the label map;
    ``labels_in_file``: every label as written in the file, before it.
    """

    path: Path
    problems: tuple[Problem, ...]
    labels_used: frozenset[str]
    labels_in_file: frozenset[str] = frozenset()

    @property
    def ok(self) -> bool:
        return not any(problem.severity == "error" for problem in self.problems)


@dataclass
class CheckReport:
    """The result of checking a folder: every problem, errors and warnings.

    ``map_errors`` are the label map's entries that do not fit the labels file.
    """

    files: list[FileCheck]
    warnings: list[Problem] = field(default_factory=list)
    map_errors: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return self.map_errors + [
            problem
            for check in self.files
            for problem in check.problems
            if problem.severity == "error"
        ]

    @property
    def invalid_files(self) -> list[FileCheck]:
        return [check for check in self.files if not check.ok]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, object]:
        return {
            "files_checked": len(self.files),
            "invalid_files": len(self.invalid_files),
            "errors": [problem.to_dict() for problem in self.errors],
            "warnings": [problem.to_dict() for problem in self.warnings],
        }


def read_checked(
    path: Path,
    labels: LabelSet | None,
    label_map: LabelMap | None = None,
    keep_image: bool = False,
) -> tuple[Annotation | None, FileCheck]:
    """Read and check one annotation file: JSON, shapes, labels (after ``label_map``),
    image, and a warning for each shape that lies outside the image. ``keep_image``: see
    :func:`annotool.labelme.read_annotation`."""
    annotation, problems = read_annotation(path, labels, label_map, keep_image)
    if annotation is None:
        return None, FileCheck(path=path, problems=tuple(problems), labels_used=frozenset())
    problems += shapes_outside_image(annotation)
    used = frozenset(shape.label for shape in annotation.shapes)
    return annotation, FileCheck(path, tuple(problems), used, annotation.labels_in_file)


def shapes_outside_image(annotation: Annotation) -> list[Problem]:
    """A warning for each shape that paints no pixel because it lies outside the image."""
    if annotation.image_size is None:
        return []
    height, width = annotation.image_size
    return [
        Problem(
            annotation.path,
            f"the shape lies entirely outside the {width}x{height} image, so it paints "
            "nothing; move it onto the image or delete it",
            shape_index=shape.index,
            severity="warning",
        )
        for shape in annotation.shapes
        if shape_box(shape, height, width) is None
    ]


def check_file(path: Path, labels: LabelSet | None, label_map: LabelMap | None = None) -> FileCheck:
    """Check one annotation file: JSON, shapes, labels (after ``label_map``), image."""
    return read_checked(path, labels, label_map)[1]


def unused_classes(labels: LabelSet, used_labels: Iterable[str]) -> list[str]:
    """The classes of ``labels``, background aside, not among ``used_labels``."""
    used = set(used_labels)
    return [name for name in labels.class_names[1:] if name not in used]


def unused_class_warnings(labels: LabelSet, files: Sequence[FileCheck]) -> list[Problem]:
    """A warning for each class of ``labels`` that no annotation uses."""
    used = set().union(*(check.labels_used for check in files))
    return [
        Problem(
            path=Path(labels.source),
            message=f"class {name!r} (id {labels.class_id(name)}) is never used in the annotations",
            severity="warning",
        )
        for name in unused_classes(labels, used)
    ]


def check_annotations(
    inputs: AnnotationInputs,
    labels: LabelSet,
    recursive: bool = False,
    workers: int = 1,
    progress: ProgressCallback | None = None,
    label_map: LabelMap | None = None,
) -> CheckReport:
    """Run every check on every annotation file of ``inputs`` (see find_annotation_files).

    With ``label_map``, labels are checked after it; each map entry naming a class that
    is not in ``labels`` is an error, each entry that matches no label a warning.
    """
    found = find_annotation_files(inputs, recursive)
    check_one = partial(check_file, labels=labels, label_map=label_map)
    checks = list(map_in_order(check_one, found.files, workers, progress))
    warnings = [*found.warnings, *unused_class_warnings(labels, checks)]
    map_errors: list[Problem] = []
    if label_map is not None:
        map_errors = label_map.missing_classes(labels)
        warnings += unused_map_entry_warnings(label_map, checks)
    return CheckReport(files=checks, warnings=warnings, map_errors=map_errors)


def unused_map_entry_warnings(label_map: LabelMap, files: Sequence[FileCheck]) -> list[Problem]:
    """A warning for each entry of ``label_map`` that applies to no label of ``files``."""
    written = set().union(*(check.labels_in_file for check in files))
    return [
        entry.problem(
            "matches no label in the annotations; check its spelling (labels are "
            "case-sensitive) or remove the entry",
            severity="warning",
        )
        for entry in label_map.unused_entries(written)
    ]


def labels_in_use(
    inputs: AnnotationInputs,
    recursive: bool = False,
    workers: int = 1,
    progress: ProgressCallback | None = None,
    label_map: LabelMap | None = None,
) -> tuple[set[str], list[Problem]]:
    """Every label used in the annotations (after ``label_map``: renamed, merged, the
    dropped ones left out), and the problems of files that could not be read.

    Only the JSON is read (not the images), since only the labels matter here.
    """
    files = find_annotation_files(inputs, recursive).files
    labels: set[str] = set()
    problems: list[Problem] = []
    for path, outcome in zip(
        files, map_in_order(_read_labels, files, workers, progress), strict=True
    ):
        if isinstance(outcome, str):
            problems.append(Problem(path=path, message=outcome))
        else:
            labels.update(outcome)
    if label_map is not None:
        labels = {new for new in map(label_map.apply, labels) if new is not None}
    return labels - {IGNORE_LABEL}, problems


def _read_labels(path: Path) -> frozenset[str] | str:
    """The labels of one file's shapes, or a message saying why the file cannot be read."""
    document = read_labelme_json(path)
    if isinstance(document, Problem):
        return document.message
    return labels_written(cast(list[object], document["shapes"])) - {""}
