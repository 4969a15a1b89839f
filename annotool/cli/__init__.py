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

import click

from annotool import __version__
from annotool.cli.annotations import check, convert, labels_command, masks_to_labelme_command
from annotool.cli.common import Interrupted, reports_errors
from annotool.cli.dataset import evaluate, split_command, stats
from annotool.cli.export import export
from annotool.cli.importing import import_group
from annotool.cli.predict import predict
from annotool.cli.review import review_command
from annotool.cli.training import train

__all__ = ["Interrupted", "main", "reports_errors"]


@click.group(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Documentation: README.md and docs/ in annotool's source; each command's --help "
    "names its page.",
)
@click.version_option(__version__, prog_name="annotool")
def main() -> None:
    """Turn labelme annotations into a segmentation dataset, check, split and measure it,
    and train a first model on it."""


for command in (
    check,
    labels_command,
    convert,
    split_command,
    stats,
    export,
    import_group,
    train,
    predict,
    evaluate,
    masks_to_labelme_command,
    review_command,
):
    main.add_command(command)
