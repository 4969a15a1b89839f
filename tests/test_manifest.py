"""The manifest a convert leaves in its dataset: stamps, bytes, and what refuses to load."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from annotool.errors import ManifestError
from annotool.manifest import (
    MANIFEST_FILE,
    FileStamp,
    Manifest,
    ManifestEntry,
    ManifestWriter,
    read_manifest,
    read_stamped,
    restamp,
)


def entry(stem: str, image: bool = True) -> ManifestEntry:
    return ManifestEntry(
        stem=stem,
        json=FileStamp(f"/data/{stem}.json", 10, 1_000, "a" * 64),
        image=FileStamp(f"/data/{stem}.jpg", 20, 2_000, "b" * 64) if image else None,
        pixels=(1, 2, 3),
        labels_used=("cat", "dog"),
    )


MANIFEST = Manifest("0.1.0", {"class_names": ["_background_", "cat"], "npy": False}, ())


def test_read_stamped_gives_the_bytes_their_hash_size_and_time(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(b'{"shapes": []}')
    data, stamp = read_stamped(path)
    assert data == b'{"shapes": []}'
    assert stamp == FileStamp(
        str(path.absolute()),
        len(data),
        os.stat(path).st_mtime_ns,
        hashlib.sha256(data).hexdigest(),
    )


def test_restamp_reads_nothing_when_size_and_time_are_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(b"12345")
    status = os.stat(path)
    # A stamp with a made-up hash: only a file that was read again would correct it.
    known = FileStamp(str(path), status.st_size, status.st_mtime_ns, "not read")
    assert restamp(path, known) is known


def test_restamp_hashes_a_file_whose_time_or_size_changed(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(b"12345")
    known = read_stamped(path)[1]
    path.write_bytes(b"123456")
    assert restamp(path, known).sha256 == hashlib.sha256(b"123456").hexdigest()
    os.utime(path, ns=(known.mtime_ns + 5_000_000_000, known.mtime_ns + 5_000_000_000))
    touched = restamp(path, read_stamped(path)[1])
    assert touched.mtime_ns == known.mtime_ns + 5_000_000_000


def test_restamp_of_a_missing_file_raises_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        restamp(tmp_path / "gone.json", None)


def test_manifest_bytes_keep_the_entries_in_order_one_line_each() -> None:
    manifest = Manifest("0.1.0", {"npy": False}, (entry("b"), entry("a", image=False)))
    lines = manifest.to_bytes().decode().splitlines()
    assert len(lines) == 4  # header, one line per file, closing
    assert '"stem": "b"' in lines[1] and '"stem": "a"' in lines[2]
    assert manifest.to_bytes() == Manifest("0.1.0", {"npy": False}, manifest.entries).to_bytes()


def test_a_manifest_written_an_entry_at_a_time_is_the_same(tmp_path: Path) -> None:
    manifest = Manifest("0.1.0", {"npy": False}, (entry("a"), entry("b")))
    with (
        (tmp_path / MANIFEST_FILE).open("wb") as stream,
        ManifestWriter(stream, "0.1.0", {"npy": False}) as writer,
    ):
        for each in manifest.entries:
            writer.write(each)
    assert (tmp_path / MANIFEST_FILE).read_bytes() == manifest.to_bytes()
    assert read_manifest(tmp_path) == manifest


def test_manifest_round_trips(tmp_path: Path) -> None:
    manifest = Manifest(MANIFEST.version, MANIFEST.settings, (entry("a"), entry("b", False)))
    (tmp_path / MANIFEST_FILE).write_bytes(manifest.to_bytes())
    assert read_manifest(tmp_path) == manifest


def test_a_folder_without_manifest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"has no annotool-manifest\.json.*--overwrite"):
        read_manifest(tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"tool": "labelme2voc", "files": []}', "was not written by annotool convert"),
        ("[1, 2]", "was not written by annotool convert"),
        ('{"tool": "annotool convert", "format": 99}', "has format 99, this annotool reads"),
        ('{"tool": "annotool convert", "format": 1}', "is damaged"),
        (
            '{"tool": "annotool convert", "format": 1, "annotool_version": "1", "settings": {},'
            ' "files": [{"stem": "a"}]}',
            "is damaged",
        ),
        ("{not json", "is damaged"),
    ],
)
def test_a_manifest_annotool_did_not_write_is_refused(
    tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / MANIFEST_FILE).write_text(text)
    with pytest.raises(ManifestError, match=message):
        read_manifest(tmp_path)


def test_the_manifest_is_json_with_one_file_per_line() -> None:
    manifest = Manifest("0.1.0", {"npy": True}, (entry("a"),))
    document = json.loads(manifest.to_bytes())
    assert document["tool"] == "annotool convert"
    assert document["files"][0]["json"]["sha256"] == "a" * 64


def test_restamp_reads_a_file_whose_stamp_is_racy(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(b"12345")
    status = os.stat(path)
    known = FileStamp(str(path), status.st_size, status.st_mtime_ns, "not read")
    # Changed no earlier than RACY_SECONDS before the manifest: time and size prove nothing.
    assert restamp(path, known, trusted_before_ns=status.st_mtime_ns).sha256 == (
        hashlib.sha256(b"12345").hexdigest()
    )
    assert restamp(path, known, trusted_before_ns=status.st_mtime_ns + 1) is known


def test_a_manifest_read_from_its_file_knows_when_it_was_written(tmp_path: Path) -> None:
    (tmp_path / MANIFEST_FILE).write_bytes(MANIFEST.to_bytes())
    written = os.stat(tmp_path / MANIFEST_FILE).st_mtime_ns
    manifest = read_manifest(tmp_path)
    assert manifest.written_ns == written
    assert manifest.trusted_before_ns() == written - 2_000_000_000
    assert MANIFEST.trusted_before_ns() is None
