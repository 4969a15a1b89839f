"""The ``annotool`` command line: parse options, call the core, turn errors into messages.

This package is the only code that imports click. Commands stay thin: every decision
about data lives in the core modules, which raise AnnotoolError subclasses instead of
printing. The commands are grouped by what they work on, one module per group:

- :mod:`annotool.cli.annotations`: convert, check, labels, masks-to-labelme
- :mod:`annotool.cli.export`: export coco, export yolo
- :mod:`annotool.cli.importing`: import coco, import yolo, import voc
- :mod:`annotool.cli.dataset`: split, stats, evaluate
- :mod:`annotool.cli.training`, :mod:`annotool.cli.predict`, :mod:`annotool.cli.review`:
  train, predict, review (torch is imported only when they run)
- :mod:`annotool.cli.common`: error handling, progress bars and the options they share
"""

from __future__ import annotations

import gc
import importlib
import os

# Before numpy is imported: its OpenBLAS would start a thread per core that spins for
# about 0.1 s of CPU at import, a tenth of converting 300 photos; annotool's numpy work
# is element-wise, and its workers are processes. A value the user set is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import click

from annotool import __version__
from annotool.cli.common import Interrupted, reports_errors

__all__ = ["Interrupted", "main", "reports_errors", "run"]

COMMANDS = {
    "check": "annotations:check",
    "labels": "annotations:labels_command",
    "convert": "annotations:convert",
    "split": "dataset:split_command",
    "stats": "dataset:stats",
    "export": "export:export",
    "import": "importing:import_group",
    "train": "training:train",
    "predict": "predict:predict",
    "evaluate": "dataset:evaluate",
    "masks-to-labelme": "annotations:masks_to_labelme_command",
    "review": "review:review_command",
}
"""Each command's ``annotool.cli`` module and name there."""


class _Commands(click.Group):
    """The command group whose commands are imported when first looked up: a command
    does not pay for importing the other commands' modules (a fifth of convert's start)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name].split(":")
        command: click.Command = getattr(
            importlib.import_module(f"annotool.cli.{module}"), attribute
        )
        return command


@click.group(
    cls=_Commands,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Documentation: README.md and docs/ in annotool's source; each command's --help "
    "names its page.",
)
@click.version_option(__version__, prog_name="annotool")
def main() -> None:
    """Turn labelme annotations into a segmentation dataset, check, split and measure it,
    and train a first model on it."""


def run() -> None:
    """The ``annotool`` program: the console script and ``python -m annotool``."""
    try:
        main()
    finally:
        # Python's garbage collections at exit walk every object numpy, Pillow or torch
        # made: 40 ms of a short command. Python does not promise to finalize what is
        # still alive at exit, and annotool has closed its files and joined its workers
        # by now, so those objects are frozen out of the collections.
        gc.freeze()
