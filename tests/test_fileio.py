"""Atomic files and staged output directories: success, failure and killed runs."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import BinaryIO

import pytest

from annotool.errors import OutputExistsError
from annotool.fileio import (
    TEMP_MARKER,
    atomic_write,
    atomic_write_bytes,
    atomic_write_text,
    check_output_dir,
    remove_stale_staging,
    staged_dir,
)

posix_only = pytest.mark.skipif(os.name != "posix", reason="stale staging cleanup is POSIX only")


class WriterFailed(Exception):
    pass


def names_in(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def tree(directory: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def dead_pid() -> int:
    """The id of a process that has finished (and been reaped)."""
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(finished.stdout)


def test_atomic_write_creates_the_file_and_its_parents(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "data.bin"
    atomic_write(path, lambda stream: stream.write(b"\x00\x01"))
    assert path.read_bytes() == b"\x00\x01"
    assert names_in(path.parent) == ["data.bin"]


def test_atomic_write_replaces_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    atomic_write_bytes(path, b"old")
    atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new"
    assert names_in(tmp_path) == ["data.bin"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_atomic_write_gives_ordinary_permissions(tmp_path: Path) -> None:
    # mkstemp creates 0600 files; outputs must be readable like any other file.
    path = tmp_path / "data.bin"
    atomic_write_bytes(path, b"x")
    assert path.stat().st_mode & 0o777 == 0o644


def test_atomic_write_text_is_utf8_with_newlines_kept(tmp_path: Path) -> None:
    path = tmp_path / "labels.txt"
    atomic_write_text(path, "_background_\nchaté\n")
    assert path.read_bytes() == "_background_\nchaté\n".encode()


@pytest.mark.parametrize("exception", [WriterFailed, KeyboardInterrupt], ids=["error", "interrupt"])
def test_atomic_write_failure_keeps_the_old_file(
    tmp_path: Path, exception: type[BaseException]
) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"old")

    def write_half_then_fail(stream: BinaryIO) -> None:
        stream.write(b"half")
        raise exception

    with pytest.raises(exception):
        atomic_write(path, write_half_then_fail)
    assert path.read_bytes() == b"old"
    assert names_in(tmp_path) == ["data.bin"]


def test_atomic_write_failure_creates_nothing(tmp_path: Path) -> None:
    def fail(stream: BinaryIO) -> None:
        raise WriterFailed

    with pytest.raises(WriterFailed):
        atomic_write(tmp_path / "data.bin", fail)
    assert names_in(tmp_path) == []


def test_check_output_dir_accepts_missing_and_empty_dirs(tmp_path: Path) -> None:
    check_output_dir(tmp_path / "missing", overwrite=False)
    (tmp_path / "empty").mkdir()
    check_output_dir(tmp_path / "empty", overwrite=False)


def test_check_output_dir_refuses_a_non_empty_dir_without_overwrite(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / ".hidden").write_text("x")
    with pytest.raises(OutputExistsError, match=rf"^{out_dir} already exists .*--overwrite"):
        check_output_dir(out_dir, overwrite=False)
    check_output_dir(out_dir, overwrite=True)


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
def test_check_output_dir_refuses_a_file(tmp_path: Path, overwrite: bool) -> None:
    path = tmp_path / "out"
    path.write_text("x")
    with pytest.raises(OutputExistsError, match=r"exists and is not a directory"):
        check_output_dir(path, overwrite=overwrite)


def test_staged_dir_moves_the_result_into_place(tmp_path: Path) -> None:
    out_dir = tmp_path / "nested" / "out"
    with staged_dir(out_dir, overwrite=False) as staging:
        assert staging.parent == out_dir.parent
        assert re.fullmatch(rf"\.out\.{os.getpid()}\.[^.]+\.annotool-tmp", staging.name)
        assert not out_dir.exists()
        (staging / "sub").mkdir()
        (staging / "sub" / "a.txt").write_text("a")
    assert tree(out_dir) == {"sub/a.txt": b"a"}
    assert names_in(out_dir.parent) == ["out"]


def test_staged_dir_accepts_an_existing_empty_dir(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with staged_dir(out_dir, overwrite=False) as staging:
        (staging / "a.txt").write_text("a")
    assert tree(out_dir) == {"a.txt": b"a"}
    assert names_in(tmp_path) == ["out"]


def test_staged_dir_overwrite_replaces_old_contents_fully(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    (out_dir / "old_sub").mkdir(parents=True)
    (out_dir / "old_sub" / "old.txt").write_text("old")
    (out_dir / "kept_name.txt").write_text("old")
    with staged_dir(out_dir, overwrite=True) as staging:
        assert tree(out_dir) == {"kept_name.txt": b"old", "old_sub/old.txt": b"old"}
        (staging / "kept_name.txt").write_text("new")
    assert tree(out_dir) == {"kept_name.txt": b"new"}
    assert names_in(tmp_path) == ["out"]


def test_staged_dir_refuses_a_non_empty_dir_before_staging(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "a.txt").write_text("a")
    with pytest.raises(OutputExistsError, match="--overwrite"), staged_dir(out_dir, False):
        pytest.fail("the block must not run")
    assert names_in(tmp_path) == ["out"]
    assert tree(out_dir) == {"a.txt": b"a"}


@pytest.mark.parametrize("exception", [WriterFailed, KeyboardInterrupt], ids=["error", "interrupt"])
def test_staged_dir_failure_leaves_a_missing_out_dir_missing(
    tmp_path: Path, exception: type[BaseException]
) -> None:
    out_dir = tmp_path / "out"
    with pytest.raises(exception), staged_dir(out_dir, overwrite=False) as staging:
        (staging / "a.txt").write_text("a")
        raise exception
    assert names_in(tmp_path) == []


def test_staged_dir_failure_with_overwrite_leaves_the_old_dir(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    (out_dir / "sub").mkdir(parents=True)
    (out_dir / "sub" / "old.txt").write_text("old")
    with pytest.raises(WriterFailed), staged_dir(out_dir, overwrite=True) as staging:
        (staging / "new.txt").write_text("new")
        raise WriterFailed
    assert tree(out_dir) == {"sub/old.txt": b"old"}
    assert names_in(tmp_path) == ["out"]


@posix_only
def test_staged_dir_removes_staging_left_by_dead_runs(tmp_path: Path) -> None:
    dead = dead_pid()
    stale = tmp_path / f".out.{dead}.k3j_x9ab{TEMP_MARKER}"
    (stale / "JPEGImages").mkdir(parents=True)
    (stale / "JPEGImages" / "a.jpg").write_bytes(b"partial")
    with staged_dir(tmp_path / "out", overwrite=False) as staging:
        assert not stale.exists()
        (staging / "a.txt").write_text("a")
    assert names_in(tmp_path) == ["out"]


@posix_only
def test_stale_staging_cleanup_spares_live_runs_and_other_names(tmp_path: Path) -> None:
    dead = dead_pid()
    kept = [
        f".out.{os.getppid()}.abcdefgh{TEMP_MARKER}",  # a live process
        f".out.{os.getpid()}.abcdefgh{TEMP_MARKER}",  # this process
        f".out2.{dead}.abcdefgh{TEMP_MARKER}",  # another output directory
        f".out.2.{dead}.abcdefgh{TEMP_MARKER}",  # the staging of 'out.2', not of 'out'
        f".out.abcdefgh{TEMP_MARKER}",  # no process id
        f"out.{dead}.abcdefgh{TEMP_MARKER}",  # not hidden
        f".out.{dead}.abcdefgh.annotool-tmpx",  # another suffix
        f".out.{10**40}.abcdefgh{TEMP_MARKER}",  # not a possible process id
    ]
    removed = [f".out.{dead}.abcdefgh{TEMP_MARKER}", f".out.{dead}.old.abcdefgh{TEMP_MARKER}"]
    for name in kept + removed:
        (tmp_path / name).mkdir()
    stale_file = tmp_path / f".out.{dead}.zzzzzzzz{TEMP_MARKER}"
    stale_file.write_text("a file, not a staging directory")
    (tmp_path / "out").mkdir()
    assert remove_stale_staging(tmp_path / "out") == sorted(tmp_path / name for name in removed)
    assert names_in(tmp_path) == sorted([*kept, stale_file.name, "out"])


@posix_only
def test_stale_cleanup_keeps_a_retired_dir_while_out_dir_is_missing(tmp_path: Path) -> None:
    # Killed between moving the old output aside and moving the new one in: the retired
    # directory is then the only copy of the old output.
    retired = tmp_path / f".out.{dead_pid()}.old.abcdefgh{TEMP_MARKER}"
    retired.mkdir()
    assert remove_stale_staging(tmp_path / "out") == []
    assert retired.is_dir()


def test_stale_cleanup_of_a_missing_parent_does_nothing(tmp_path: Path) -> None:
    assert remove_stale_staging(tmp_path / "missing" / "out") == []


KILLED_RUN = """
import sys, time
from pathlib import Path
from annotool.fileio import staged_dir

with staged_dir(Path(sys.argv[1]), overwrite=False) as staging:
    (staging / "half.txt").write_text("half")
    print(staging, flush=True)
    time.sleep(60)
"""


@posix_only
def test_a_run_killed_with_sigkill_leaves_staging_that_the_next_run_removes(
    tmp_path: Path,
) -> None:
    out_dir = tmp_path / "out"
    with subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(out_dir)], stdout=subprocess.PIPE, text=True
    ) as run:
        assert run.stdout is not None
        staging = Path(run.stdout.readline().strip())
        run.send_signal(signal.SIGKILL)
        run.wait()
    assert staging.name.startswith(f".out.{run.pid}.")
    assert (staging / "half.txt").is_file()
    assert not out_dir.exists()

    with staged_dir(out_dir, overwrite=False) as new_staging:
        (new_staging / "done.txt").write_text("done")
    assert names_in(tmp_path) == ["out"]
    assert tree(out_dir) == {"done.txt": b"done"}


def disk_full(*args: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_failed_atomic_write_names_the_final_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("annotool.fileio.os.fsync", disk_full)
    with pytest.raises(OSError) as raised:
        atomic_write_bytes(tmp_path / "out.json", b"{}")
    assert raised.value.errno == errno.ENOSPC
    assert raised.value.filename == str(tmp_path / "out.json")
    assert names_in(tmp_path) == []


def test_a_failure_inside_staging_names_the_file_under_out_dir(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(OSError) as raised, staged_dir(out, overwrite=False) as staging:
        (staging / "folder").mkdir()
        (staging / "folder" / "missing" / "a.png").write_bytes(b"")
    assert raised.value.filename == str(out / "folder" / "missing" / "a.png")
    assert names_in(tmp_path) == []


def test_a_write_error_without_a_file_name_gets_out_dir(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(OSError) as raised, staged_dir(out, overwrite=False):
        disk_full()
    assert raised.value.filename == str(out)


@pytest.mark.parametrize("depth", [1, 3], ids=["parent", "grandparent"])
def test_an_output_below_a_file_is_refused_before_anything_is_made(
    tmp_path: Path, depth: int
) -> None:
    (tmp_path / "file.txt").write_text("")
    out = tmp_path / "file.txt" / Path(*["deeper"] * (depth - 1)) / "out"
    refused = r"file\.txt is a file, so .* cannot be created"
    with pytest.raises(OutputExistsError, match=refused), staged_dir(out, overwrite=False):
        pass
    with pytest.raises(OutputExistsError, match=r"file\.txt is a file"):
        atomic_write_bytes(out / "x.json", b"")
    assert names_in(tmp_path) == ["file.txt"]
