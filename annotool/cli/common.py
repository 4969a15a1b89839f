"""What every command shares: turning failures into messages, progress bars, common options.

Errors, disk faults and Ctrl-C become one line through :func:`reports_errors`, the one
place where that happens, so that no command prints a traceback.
"""

from __future__ import annotations

import errno
import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from annotool.check import AnnotationFiles, FileCheck, find_annotation_files
from annotool.choices import DEVICE_CHOICES, PRECISION_CHOICES
from annotool.errors import AnnotoolError, LabelMapError, LabelsError, MissingDependencyError
from annotool.labelmap import LabelMap, load_label_map
from annotool.labelme_write import SHAPE_TYPES
from annotool.labels import LabelSet, load_labels
from annotool.parallel import usable_cpus
from annotool.polygons import DEFAULT_TOLERANCE
from annotool.progress import ProgressCallback, no_progress

F = TypeVar("F", bound=Callable[..., Any])


def docs_epilog(page: str) -> str:
    """The last line of a command's ``--help``: the page of ``docs/`` that documents it."""
    return f"Full reference: docs/{page} in annotool's source."


INTERRUPTED_EXIT_CODE = 130
"""128 + SIGINT, what shells report for a command stopped by Ctrl-C."""


class Interrupted(Exception):
    """Raised by a command that caught Ctrl-C to say what it leaves behind.

    The default message is ``Interrupted; nothing was written.``; a command whose
    outputs survive an interruption (train's checkpoints) catches KeyboardInterrupt and
    raises this with its own one line instead.
    """

    def __init__(self, message: str = "Interrupted; nothing was written.") -> None:
        super().__init__(message)


_OS_ERROR_HINTS = {
    errno.ENOSPC: "free some space or write somewhere else",
    errno.EDQUOT: "free some space or write somewhere else",
    errno.EROFS: "the file system is read-only; write somewhere else",
    errno.EACCES: "check the permissions or write somewhere else",
    errno.EPERM: "check the permissions or write somewhere else",
    errno.ENOENT: "was it moved or deleted while annotool ran?",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
}


def os_error_message(error: OSError) -> str:
    """One line for an OSError: the path, the cause, and what to do when that is clear."""
    # An OSError made from a bare message (no errno) keeps it as its only argument.
    cause = error.strerror or (str(error.args[0]) if error.args else type(error).__name__)
    hint = _OS_ERROR_HINTS.get(error.errno) if error.errno is not None else None
    paths = [str(name) for name in (error.filename, error.filename2) if name is not None]
    where = " -> ".join(paths)
    message = f"{where}: {cause}" if where else cause
    return f"{message}; {hint}" if hint else message


def reports_errors(command: F) -> F:
    """The one place where failures become messages: no command prints a traceback.

    AnnotoolError from the core and OSError (disk full, read-only or impossible output
    path, permissions, a file gone mid-run) become ``Error: ...`` and exit code 1, and so
    does a missing PyTorch (``annotool.train`` imports it), with how to install it; Ctrl-C
    prints one line (see Interrupted) on stderr and exits 130. Outputs are written
    atomically or staged, so none of these leaves a half-written file behind.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except AnnotoolError as error:
            raise click.ClickException(str(error)) from None
        except OSError as error:
            raise click.ClickException(os_error_message(error)) from None
        except ModuleNotFoundError as error:
            if error.name != "torch":
                raise
            raise click.ClickException(str(MissingDependencyError.torch())) from None
        except (KeyboardInterrupt, Interrupted) as interruption:
            message = str(interruption) if isinstance(interruption, Interrupted) else None
            click.echo(message or str(Interrupted()), err=True)
            sys.exit(INTERRUPTED_EXIT_CODE)

    return wrapper  # type: ignore[return-value]


@contextmanager
def interrupted_file_by_file(what: str, where: str) -> Iterator[None]:
    """Ctrl-C in a command that finishes its outputs one file at a time says what is left.

    Each file is written atomically, so the ones written before the interruption are
    whole; "nothing was written" would be wrong there.
    """
    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted(
            f"Interrupted; the {what} written {where} so far are complete (each file is "
            "written whole); the others were not written."
        ) from None


@contextmanager
def progress_bar(total: int, label: str, quiet: bool) -> Iterator[ProgressCallback]:
    """A progress callback drawing a bar on stderr, or doing nothing when ``quiet``."""
    if quiet or total == 0:
        yield no_progress
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


def default_workers() -> int:
    return usable_cpus()


quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bar.")


labels_option = click.option(
    "--labels",
    "labels_spec",
    required=True,
    metavar="LABELS",
    help="labels.txt (__ignore__, _background_, then the classes) or a comma-separated list.",
)
map_option = click.option(
    "--map",
    "map_specs",
    multiple=True,
    metavar="FILE|OLD=NEW",
    help="Rename, merge, ignore or drop labels as the files are read: a YAML or JSON file "
    "{old: new}, or OLD=NEW (repeatable). NEW: a class, __ignore__, _background_, or empty "
    "to drop the shapes. Keys may be globs (car*). See docs/label-map.md.",
)
recursive_option = click.option(
    "--recursive", is_flag=True, help="Also read .json files in subfolders of the folders given."
)
workers_option = click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=default_workers,
    show_default="all CPUs",
    help="Files processed in parallel.",
)
inputs_argument = click.argument(
    "inputs", nargs=-1, required=True, metavar="INPUT...", type=click.Path(path_type=Path)
)


def find_inputs(inputs: tuple[Path, ...], recursive: bool) -> AnnotationFiles:
    """Resolve the labelme files once; warn about what is not read."""
    found = find_annotation_files(inputs, recursive)
    for warning in found.warnings:
        click.echo(f"warning: {warning}", err=True)
    return found


def load_labels_option(labels_spec: str) -> LabelSet:
    try:
        return load_labels(labels_spec)
    except LabelsError as error:
        raise click.BadParameter(str(error), param_hint="'--labels'") from None


def load_map_option(map_specs: tuple[str, ...]) -> LabelMap | None:
    """The label map of the ``--map`` values, None without any."""
    try:
        return load_label_map(map_specs)
    except LabelMapError as error:
        raise click.BadParameter(str(error), param_hint="'--map'") from None


def echo_skipped_and_unused(skipped: list[FileCheck], unused_classes: list[str]) -> None:
    for check in skipped:
        click.echo(f"Skipped {check.path}:")
        for problem in check.problems:
            click.echo(f"  {problem}")
    if unused_classes:
        click.echo(
            f"Warning: {len(unused_classes)} classes are never used: " + ", ".join(unused_classes),
            err=True,
        )


class SplitSizeType(click.ParamType):
    """A split size: ``0.2`` is a fraction of the images, ``50`` a number of images."""

    name = "SIZE"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float | int:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        for parse in (int, float):
            try:
                return parse(text)
            except ValueError:
                continue
        self.fail(
            f"{value!r} is neither a fraction such as 0.2 nor a number of images such as 50",
            param,
            ctx,
        )


device_option = click.option(
    "--device",
    type=click.Choice(DEVICE_CHOICES),
    default="auto",
    show_default=True,
    help="auto: the GPU when there is one, else the CPU.",
)
precision_option = click.option(
    "--precision",
    type=click.Choice(PRECISION_CHOICES),
    default="auto",
    show_default=True,
    help="auto: time a step in fp32 and in bf16 (fp16 on GPUs without bf16) and keep "
    "the 16-bit one only when it is 1.1x faster; predict and evaluate use the choice of "
    "the run.",
)


tolerance_option = click.option(
    "--tolerance",
    type=click.FloatRange(min=0),
    default=DEFAULT_TOLERANCE,
    show_default=True,
    metavar="PX",
    help="How far a simplified outline may stray from the traced one; 0 = exact outlines.",
)
shape_type_option = click.option(
    "--shape-type",
    type=click.Choice(SHAPE_TYPES),
    default="polygon",
    show_default=True,
    help="polygon: outlines to edit; mask: labelme's lossless mask shapes (labelme >= 5.3).",
)


def min_area_option(default: int) -> Callable[[F], F]:
    return click.option(
        "--min-area",
        type=click.IntRange(min=0),
        default=default,
        show_default=True,
        metavar="PX",
        help="Drop regions smaller than this many pixels (they take the class around them).",
    )


def report_failures(failed: list[tuple[Path, str]], total: int, what: str) -> None:
    """List each failed input on stderr and exit 1, saying the others were written."""
    if not failed:
        return
    for _, message in failed:
        click.echo(f"  {message}", err=True)
    raise click.ClickException(
        f"{len(failed)} of {total} {what} failed (listed above); the others were written"
    )


def check_group_pattern(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> str | None:
    """``--group``: a regular expression with one capture group (``split``, ``review``)."""
    from annotool.split import compile_group_pattern

    if value is not None:
        try:
            compile_group_pattern(value)
        except AnnotoolError as error:
            raise click.BadParameter(str(error), ctx, param) from None
    return value


def image_size_value(context: click.Context, parameter: click.Parameter, value: str) -> int | None:
    """``--image-size``: ``auto`` (None) or a whole number of pixels, at least 16."""
    if value == "auto":
        return None
    if not value.isdigit() or int(value) < 16:
        raise click.BadParameter("give auto or a number of pixels of 16 or more")
    return int(value)
