"""Faults of the real world, for every command: a message, never a traceback.

Disk full, read-only or impossible output paths, permissions and files vanishing
mid-run become one ``Error: <path>: <cause>`` line and exit code 1; Ctrl-C becomes
``Interrupted; nothing was written.`` and exit code 130; nothing half-written is left.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from labelme_factory import make_dataset
from PIL import Image

from annotool import cli
from annotool.check import AnnotationFiles
from annotool.cli import Interrupted, main, reports_errors
from annotool.fileio import TEMP_MARKER

REPO = Path(__file__).resolve().parent.parent


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


def assert_clean_failure(result: Result, *fragments: str) -> None:
    """Exit 1, the output ending in one ``Error: ...`` naming every fragment, no traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert result.output.count("Error: ") == 1
    message = result.output[result.output.index("Error: ") :]
    for fragment in fragments:
        assert fragment in message


def leftovers(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if TEMP_MARKER in path.name]


def fail_on_call(number: int, error: OSError) -> Callable[..., object]:
    """A stand-in that raises ``error`` on its ``number``-th call and counts the rest."""
    calls = {"count": 0}

    def fail(*args: object, **kwargs: object) -> None:
        calls["count"] += 1
        if calls["count"] >= number:
            raise type(error)(error.errno, error.strerror)  # a fresh one: handlers name it

    return fail


def disk_full() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


# ---------------------------------------------------------------- convert


@pytest.mark.parametrize(
    ("error", "hint"),
    [
        (disk_full(), "free some space"),
        (OSError(errno.EROFS, os.strerror(errno.EROFS)), "read-only"),
        (PermissionError(errno.EACCES, os.strerror(errno.EACCES)), "permissions"),
    ],
    ids=["ENOSPC", "EROFS", "EACCES"],
)
def test_convert_write_failure_at_the_third_file_is_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: OSError, hint: str
) -> None:
    annotations = make_dataset(tmp_path / "in", count=4)
    real_write = Path.write_bytes
    # class_names.txt, then image000's JPEG and class mask: its instance mask fails.
    failing = fail_on_call(4, error)

    def write_bytes(path: Path, data: bytes) -> int:
        failing()
        return real_write(path, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    out = tmp_path / "out"
    result = invoke(
        "convert", annotations, out, "--labels", annotations / "labels.txt", "-q", "--workers", "1"
    )
    # The file that failed, named where it would have been, not in the staging folder.
    expected = f"{out / 'SegmentationObject' / 'image000.png'}: {error.strerror}"
    assert_clean_failure(result, expected, hint)
    assert not out.exists() and not leftovers(tmp_path)


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 256 KiB file system (tmpfs), where root may mount one; skips elsewhere."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    if os.name != "posix" or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_convert_onto_a_really_full_disk_is_a_message(tmp_path: Path, tiny_tmpfs: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=40)
    out = tiny_tmpfs / "out"
    result = invoke(
        "convert", annotations, out, "--labels", annotations / "labels.txt", "-q", "--npy"
    )
    assert_clean_failure(result, f"{out}/", "No space left on device", "free some space")
    assert list(tiny_tmpfs.iterdir()) == []


def test_convert_into_a_path_below_a_file_is_a_message(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=1)
    (tmp_path / "some_file.txt").write_text("not a folder")
    out = tmp_path / "some_file.txt" / "out"
    result = invoke("convert", annotations, out, "--labels", annotations / "labels.txt", "-q")
    assert_clean_failure(result, "some_file.txt is a file", "choose another output path")
    assert not leftovers(tmp_path)


def test_annotation_vanishing_mid_run_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    annotations = make_dataset(tmp_path / "in", count=2)
    vanishing = sorted(annotations.glob("*.json"))[1]
    real_find = cli.common.find_annotation_files

    def find_then_lose_one(*args: object, **kwargs: object) -> AnnotationFiles:
        found = real_find(*args, **kwargs)
        vanishing.unlink()
        return found

    monkeypatch.setattr(cli.common, "find_annotation_files", find_then_lose_one)
    out = tmp_path / "out"
    result = invoke("convert", annotations, out, "--labels", annotations / "labels.txt", "-q")
    assert_clean_failure(result, f"{vanishing}: cannot read the file: No such file or directory")
    assert not out.exists() and not leftovers(tmp_path)


# ---------------------------------------------------------------- every other command


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """A converted and split dataset of four images."""
    annotations = make_dataset(tmp_path / "in", count=4)
    out = tmp_path / "data"
    converted = invoke("convert", annotations, out, "--labels", annotations / "labels.txt", "-q")
    assert converted.exit_code == 0
    assert invoke("split", out, "--val", "2", "-q").exit_code == 0
    return out


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every atomic write (split files, JSON reports, plots, masks, checkpoints) hits ENOSPC."""
    monkeypatch.setattr("annotool.fileio.os.fsync", fail_on_call(1, disk_full()))


@pytest.mark.parametrize(
    ("command", "written"),
    [
        (["split", "{data}", "--val", "1", "--overwrite", "-q"], "{data}/ImageSets"),
        (["stats", "{data}", "--json", "{tmp}/stats.json", "-q"], "{tmp}/stats.json"),
        (
            ["evaluate", "--pred", "{data}/SegmentationClass", "{data}", "--json", "{tmp}/e.json"],
            "{tmp}/e.json",
        ),
        (["labels", "{data}/../in", "-o", "{tmp}/labels.txt"], "{tmp}/labels.txt"),
    ],
    ids=["split", "stats", "evaluate", "labels"],
)
def test_disk_full_in_dataset_commands_is_a_message(
    tmp_path: Path, dataset: Path, full_disk: None, command: list[str], written: str
) -> None:
    def fill(text: str) -> str:
        return text.format(data=dataset, tmp=tmp_path)

    result = invoke(*map(fill, command))
    assert_clean_failure(result, fill(written), "No space left on device", "free some space")
    assert not leftovers(tmp_path)


def test_disk_full_in_train_and_predict_is_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch = pytest.importorskip("torch")
    from train_fixtures import make_dataset as make_training_dataset

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = make_training_dataset(tmp_path / "data", num_images=4, size=(16, 16)).root
        run = tmp_path / "run"
        tiny = ["--epochs", "1", "--batch-size", "2", "--size", "16", "--width", "4"]
        cpu = ["--device", "cpu", "--precision", "fp32", "--workers", "0", "-q"]
        assert invoke("train", data, "--out", run, *tiny, *cpu).exit_code == 0
        checkpoint = shutil.copy(run / "best.pt", tmp_path / "best.pt")
        monkeypatch.setattr("annotool.fileio.os.fsync", fail_on_call(1, disk_full()))
        result = invoke("train", data, "--out", run, "--overwrite", *tiny, *cpu)
        assert_clean_failure(result, str(run), "No space left on device")
        photos = data / "JPEGImages"
        masks = tmp_path / "masks"
        result = invoke("predict", checkpoint, photos, "--out", masks, *cpu[:4], "-q")
        assert_clean_failure(result, str(masks), "No space left on device")
        assert not leftovers(tmp_path)
    finally:
        torch.set_num_threads(threads)


# ---------------------------------------------------------------- Ctrl-C


@pytest.mark.parametrize(
    ("raised", "message"),
    [
        (KeyboardInterrupt(), "Interrupted; nothing was written."),
        (Interrupted("Interrupted; resume run/last.pt."), "Interrupted; resume run/last.pt."),
    ],
    ids=["default", "customised"],
)
def test_interruption_prints_one_line_and_exits_130(
    raised: BaseException, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    @reports_errors
    def command() -> None:
        raise raised

    with pytest.raises(SystemExit) as exit_info:
        command()
    assert exit_info.value.code == 130
    assert capsys.readouterr().err == f"{message}\n"


def test_ctrl_c_in_masks_to_labelme_says_the_files_written_are_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """masks-to-labelme writes one file at a time: "nothing was written" would be wrong."""

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.annotations, "masks_to_labelme", interrupted)
    masks, images = tmp_path / "masks", tmp_path / "images"
    masks.mkdir()
    images.mkdir()
    Image.new("L", (4, 3)).save(masks / "a.png")
    Image.new("RGB", (4, 3)).save(images / "a.png")
    out = tmp_path / "out"
    result = invoke("masks-to-labelme", masks, images, out, "--labels", "_background_,cat", "-q")
    assert result.exit_code == 130
    assert result.output == (
        f"Interrupted; the labelme files written to {out} so far are complete (each file is "
        "written whole); the others were not written.\n"
    )


def test_ctrl_c_stops_a_parallel_conversion_cleanly(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=3)
    for copy in range(80):
        for source in sorted(annotations.glob("image*.json")):
            stem = f"copy{copy:03d}_{source.stem}"
            (annotations / f"{stem}.json").write_text(
                source.read_text().replace(f"{source.stem}.jpg", f"{stem}.jpg")
            )
            shutil.copy(annotations / f"{source.stem}.jpg", annotations / f"{stem}.jpg")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "annotool", "convert", str(annotations), str(out)]
    command += ["--labels", str(annotations / "labels.txt"), "--workers", "2", "-q"]
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        command,
        start_new_session=True,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        # As from a terminal: a test run in the background would pass on SIGINT ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        staged = [path for path in tmp_path.iterdir() if TEMP_MARKER in path.name]
        if staged and len(list(staged[0].glob("SegmentationClass/*.png"))) >= 10:
            break
        time.sleep(0.02)
    assert process.poll() is None, "the conversion finished before it could be interrupted"
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert stderr == "Interrupted; nothing was written.\n"
    assert not out.exists() and not leftovers(tmp_path)
