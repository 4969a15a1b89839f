"""Checking labelme files and writing each valid one, all or nothing: shared by convert and export.

Each file is read and checked (JSON, shapes, labels, image) and, when it is valid, handed
to a per-file ``write`` function that writes its outputs into a staging directory and
returns a small result; ``consume`` receives these results in file order in the calling
process. Unless ``skip_invalid`` is set, one invalid file means the run fails listing
every problem of every file (the caller's staging directory is then thrown away), and
the workers stop writing as soon as one of them sees an invalid file.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Generic, TypeVar

from annotool.check import FileCheck, read_checked, unused_classes
from annotool.errors import AnnotoolError, InvalidInputError, Problem
from annotool.labelmap import LabelMap
from annotool.labelme import Annotation
from annotool.labels import LabelSet
from annotool.parallel import map_in_order, pool_context
from annotool.progress import ProgressCallback

Written = TypeVar("Written")


@dataclass
class BatchSummary:
    """Which files a batch wrote and which it skipped."""

    written: list[str] = field(default_factory=list)
    """Stems of the files written, in file order."""
    skipped: list[FileCheck] = field(default_factory=list)
    """The invalid files (only when ``skip_invalid``; otherwise the batch raised)."""
    labels_used: set[str] = field(default_factory=set)

    def unused_classes(self, labels: LabelSet) -> list[str]:
        return unused_classes(labels, self.labels_used)


@dataclass(frozen=True)
class _FileOutcome(Generic[Written]):
    check: FileCheck
    written: Written | None
    """What ``write`` returned; None when the file was not written."""


def write_valid_files(
    files: Sequence[Path],
    labels: LabelSet,
    write: Callable[[Annotation], Written],
    consume: Callable[[FileCheck, Written], None],
    *,
    verb: str,
    skip_invalid: bool = False,
    workers: int = 1,
    progress: ProgressCallback | None = None,
    label_map: LabelMap | None = None,
    require_written: bool = True,
) -> BatchSummary:
    """Check every file of ``files`` and ``write`` each valid one; see the module docstring.

    ``write`` must be picklable (a module-level function or a ``functools.partial`` of
    one) and may raise AnnotoolError, which makes the file invalid. ``verb`` names the
    action in messages ("convert", "export"). Files are read through ``label_map``.
    Raises LabelMapError, before reading any file, when ``label_map`` maps to a class
    that is not in ``labels``; InvalidInputError listing every problem when a file is
    invalid and ``skip_invalid`` is false, or when no file is valid and
    ``require_written`` (an update that keeps other files may write none).
    """
    if label_map is not None:
        label_map.require_classes(labels)
    flag = None if skip_invalid else pool_context().Event()
    summary = BatchSummary()
    run_one = partial(_check_and_write, labels=labels, write=write, label_map=label_map)
    try:
        outcomes = map_in_order(run_one, files, workers, progress, _share_invalid_flag, (flag,))
        for outcome in outcomes:
            if outcome.written is not None:
                consume(outcome.check, outcome.written)
                summary.written.append(outcome.check.path.stem)
                summary.labels_used.update(outcome.check.labels_used)
            elif not outcome.check.ok:
                summary.skipped.append(outcome.check)
    finally:
        _share_invalid_flag(None)
    problems = [problem for check in summary.skipped for problem in check.problems]
    if summary.skipped and not skip_invalid:
        raise InvalidInputError(
            problems,
            f"{len(summary.skipped)} of {len(files)} annotation files are invalid; nothing "
            f"was written (fix them, or pass --skip-invalid to {verb} the valid ones):",
        )
    if not summary.written and require_written:
        raise InvalidInputError(problems, "no annotation file is valid; nothing was written:")
    return summary


# Set once an invalid file is seen, so that without --skip-invalid the other workers
# stop writing files that will be thrown away and only keep checking. Each worker gets
# it through the pool initializer (a module global set here would not reach workers
# started by spawn).
_invalid_seen: multiprocessing.synchronize.Event | None = None


def _share_invalid_flag(flag: multiprocessing.synchronize.Event | None) -> None:
    global _invalid_seen
    _invalid_seen = flag


def _check_and_write(
    path: Path,
    labels: LabelSet,
    write: Callable[[Annotation], Written],
    label_map: LabelMap | None,
) -> _FileOutcome[Written]:
    # The writer needs the whole image: read it once, for the checks and the writing.
    annotation, check = read_checked(path, labels, label_map, keep_image=True)
    if annotation is None or not check.ok:
        if _invalid_seen is not None:
            _invalid_seen.set()
        return _FileOutcome(check, None)
    if _invalid_seen is not None and _invalid_seen.is_set():
        return _FileOutcome(check, None)
    try:
        written = write(annotation)
    except AnnotoolError as error:
        failed = FileCheck(
            path,
            (*check.problems, Problem(path, str(error))),
            check.labels_used,
            check.labels_in_file,
        )
        if _invalid_seen is not None:
            _invalid_seen.set()
        return _FileOutcome(failed, None)
    return _FileOutcome(check, written)
