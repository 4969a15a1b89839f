"""The ``annotool`` command line: parse options, call the core, turn errors into messages.

This is the only module that imports click. Commands stay thin: every decision about
data lives in the core modules, which raise AnnotoolError subclasses instead of printing.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from annotool import __version__
from annotool.errors import AnnotoolError
from annotool.progress import ProgressCallback, no_progress

F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(command: F) -> F:
    """Turn AnnotoolError raised by the core into a clean ``Error: ...`` and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except AnnotoolError as error:
            raise click.ClickException(str(error)) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def progress_bar(total: int, label: str, quiet: bool) -> Iterator[ProgressCallback]:
    """A progress callback drawing a bar on stderr, or doing nothing when ``quiet``."""
    if quiet or total == 0:
        yield no_progress
        return
    with click.progressbar(length=total, label=label, file=click.get_text_stream("stderr")) as bar:
        yield bar.update


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bar.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="annotool")
def main() -> None:
    """Turn labelme annotations into a segmentation dataset, check, split and measure it,
    and train a first model on it."""


# Commands are grouped by capability below; each section is owned by one core module.

# --- convert, check, labels (annotool.convert, annotool.check) ---

# --- split (annotool.split) ---

# --- stats (annotool.stats) ---

# --- train, predict (annotool.train) ---

# --- evaluate (annotool.metrics) ---
