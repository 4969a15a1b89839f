"""How core functions report progress without printing.

A long-running core function takes an optional ``progress`` callback and calls it
with the number of items finished since the last call. The CLI passes a callback that
advances a progress bar; library users pass nothing or their own.
"""

from __future__ import annotations

from collections.abc import Callable

ProgressCallback = Callable[[int], None]


def no_progress(advanced: int) -> None:
    """A progress callback that ignores progress."""
