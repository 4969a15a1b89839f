"""Atomic file and directory writes.

Every file annotool writes goes to a temporary name in the same directory and is then
renamed over the final name, so a reader never sees a half-written file and an
interrupted run leaves at worst a stray ``.annotool-tmp`` file, never a corrupt output.
Whole datasets are built in a staging directory next to the final one and renamed into
place at the end; the staging directory of a killed run is removed by the next run into
the same directory.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from annotool.errors import AnnotoolError, OutputExistsError

TEMP_MARKER = ".annotool-tmp"
"""Part of every temporary file and directory name annotool creates."""


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Create or replace ``path`` with what ``write`` writes to the open binary file.

    The data is written to a temporary file in the same directory, flushed to disk and
    renamed over ``path``; on any error the temporary file is removed.
    """
    path = Path(path)
    with naming_path(path):
        refuse_file_in_path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary_name = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=TEMP_MARKER, dir=path.parent
        )
        try:
            with os.fdopen(descriptor, "wb") as stream:
                write(stream)
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(temporary_name, 0o644)
            os.replace(temporary_name, path)
        except BaseException:
            Path(temporary_name).unlink(missing_ok=True)
            raise


@contextmanager
def naming_path(path: Path, staging: Path | None = None) -> Iterator[None]:
    """Make an OSError raised inside name the output path the user asked for.

    A write that fails on a full disk names no file, and a failure in a temporary file
    or a staging directory names a path the user never chose: such errors get ``path``
    (or, for files inside ``staging``, the same file under ``path``) as their filename,
    so the CLI's message can say which output could not be written.
    """
    try:
        yield
    except OSError as error:
        named = str(error.filename) if error.filename is not None else ""
        if staging is not None and named.startswith(f"{staging}{os.sep}"):
            error.filename = str(path / Path(named).relative_to(staging))
        elif not named or TEMP_MARKER in named:
            error.filename = str(path)
        raise


def refuse_file_in_path(path: Path) -> None:
    """Raise OutputExistsError when a folder above ``path`` is an existing file (the OS
    would answer with a confusing 'File exists' or 'Not a directory')."""
    for part in path.parents:
        if part.exists() or part.is_symlink():
            if not part.is_dir():
                raise OutputExistsError(
                    f"{part} is a file, so {path} cannot be created inside it; "
                    "choose another output path"
                )
            return


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Create or replace ``path`` with ``data``, atomically."""
    atomic_write(path, lambda stream: stream.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    """Create or replace ``path`` with UTF-8 ``text`` (``\\n`` line ends), atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def is_nonempty_dir(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


def check_output_dir(out_dir: Path, overwrite: bool) -> None:
    """Refuse an existing non-empty ``out_dir`` unless ``overwrite``; refuse a file there."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExistsError(f"{out_dir} exists and is not a directory; choose another path")
    if is_nonempty_dir(out_dir) and not overwrite:
        raise OutputExistsError(
            f"{out_dir} already exists and is not empty; pass --overwrite to replace it "
            "or choose another output directory"
        )


def new_staging_dir(out_dir: Path) -> Path:
    """A new empty staging directory beside ``out_dir``
    (``.<name>.<pid>.<random>.annotool-tmp``), after removing those that killed runs left
    for it; refuses a file where a parent folder of ``out_dir`` should be."""
    with naming_path(out_dir):
        refuse_file_in_path(out_dir)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_staging(out_dir)
        return Path(
            tempfile.mkdtemp(
                prefix=f".{out_dir.name}.{os.getpid()}.", suffix=TEMP_MARKER, dir=out_dir.parent
            )
        )


@contextmanager
def staged_dir(out_dir: Path, overwrite: bool) -> Iterator[Path]:
    """Build a directory in a staging place and move it to ``out_dir`` only on success.

    Yields the staging directory, a hidden sibling of ``out_dir`` named
    ``.<name>.<pid>.<random>.annotool-tmp``. When the ``with`` block finishes, the staging
    directory replaces ``out_dir`` (the old contents are deleted only after the new ones
    are in place); when it raises, the staging directory is removed and ``out_dir`` is
    left as it was. Staging directories that killed runs left for ``out_dir`` are
    removed first.
    """
    out_dir = Path(out_dir)
    check_output_dir(out_dir, overwrite)
    staging = new_staging_dir(out_dir)
    try:
        with naming_path(out_dir, staging):
            yield staging
            os.chmod(staging, 0o755)
            _replace_dir(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_staged(path: Path, data: bytes) -> None:
    """Write one file of a dataset built in :func:`staged_dir`.

    The whole dataset is renamed into place at the end, so a single file needs no
    temporary name of its own; an OSError (a full disk reports none) names ``path``.
    """
    with naming_path(path):
        Path(path).write_bytes(data)


def remove_stale_staging(out_dir: Path) -> list[Path]:
    """Remove the staging directories of ``out_dir`` whose creating process has died.

    A run killed outright (SIGKILL, power loss) cannot clean up after itself; without
    this its hidden staging directories would pile up beside ``out_dir``. A retired old
    ``out_dir`` is kept while ``out_dir`` is missing: it may be the only copy left.
    Returns the directories removed.
    """
    # Signal 0 probes a process only on POSIX; os.kill on Windows would terminate it.
    if os.name != "posix" or not out_dir.parent.is_dir():
        return []
    pattern = re.compile(
        rf"\.{re.escape(out_dir.name)}\.(\d+)\.(old\.)?[^.]+{re.escape(TEMP_MARKER)}"
    )
    removed: list[Path] = []
    for candidate in sorted(out_dir.parent.iterdir()):
        match = pattern.fullmatch(candidate.name)
        if match is None or not candidate.is_dir() or candidate.is_symlink():
            continue
        if _process_alive(int(match.group(1))):
            continue
        if match.group(2) and not out_dir.exists():
            continue
        shutil.rmtree(candidate, ignore_errors=True)
        removed.append(candidate)
    return removed


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` may still run; an impossible pid counts as alive, to be safe."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        pass  # PermissionError: it runs as another user; OverflowError: no real pid.
    return True


def _replace_dir(new: Path, target: Path) -> None:
    if not target.exists():
        os.replace(new, target)
        return
    retired = Path(
        tempfile.mkdtemp(
            prefix=f".{target.name}.{os.getpid()}.old.", suffix=TEMP_MARKER, dir=target.parent
        )
    )
    retired.rmdir()
    os.replace(target, retired)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(retired, target)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def read_utf8(path: Path, error: type[AnnotoolError]) -> str:
    """The text of a UTF-8 file (a leading BOM dropped), or ``error`` saying what is wrong."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as decode_error:
        raise error(
            f"{path} is not UTF-8 text ({decode_error.reason} at byte {decode_error.start}); "
            "save it as UTF-8"
        ) from None
    except OSError as os_error:
        raise error(f"cannot read {path}: {os_error.strerror}") from None
