"""The manifest ``annotool convert`` leaves in a dataset: what it was made from, and how.

``convert --update`` reads it to redo only what changed. It records, for every converted
annotation, the content hash (SHA-256), size and modification time of its JSON file and
of its image file (none for an image embedded in the JSON), its pixel counts and labels
(so a summary needs no file read again), and for the whole run annotool's version and
the settings every output depends on (class names, output options, label map).

The bytes depend only on those facts: no time of the run, no host, one line per file in
the order of the inputs (sorted paths), so an updated dataset's manifest equals the one
a fresh convert writes. It is written a line at a time as files are converted, so a
convert's memory does not grow with the number of files. Size and
modification time let an update skip reading a file that did not change (as make and
git do); the hash decides when they differ, so a file touched but not changed is kept.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from annotool.errors import ManifestError
from annotool.fileio import naming_path

MANIFEST_FILE = "annotool-manifest.json"
"""The manifest's name inside a dataset written by ``annotool convert``."""
TOOL = "annotool convert"
FORMAT = 1
"""Bumped when the layout changes; an update refuses other formats."""


@dataclass(frozen=True)
class FileStamp:
    """An input file as a convert read it: where, how big, when changed, its SHA-256."""

    path: str
    """Absolute path (symbolic links kept as given)."""
    size: int
    mtime_ns: int
    sha256: str

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "sha256": self.sha256,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> FileStamp:
        return cls(
            str(data["path"]), _int(data["size"]), _int(data["mtime_ns"]), str(data["sha256"])
        )


def read_stamped(path: Path) -> tuple[bytes, FileStamp]:
    """The bytes of ``path`` and its stamp, from one open (stat before reading, so a file
    changed while it is read gets a stamp an update will find outdated). Raises OSError."""
    with open(path, "rb") as stream:
        status = os.fstat(stream.fileno())
        data = stream.read()
    stamp = FileStamp(
        os.path.abspath(path), status.st_size, status.st_mtime_ns, hashlib.sha256(data).hexdigest()
    )
    return data, stamp


RACY_SECONDS = 2
"""A file changed less than this before its stamp was written may have been changed
again within the file system's time resolution (two seconds on FAT) without its time
moving; such a stamp's time and size prove nothing (git's "racily clean" files)."""


def restamp(path: Path, known: FileStamp | None, trusted_before_ns: int | None = None) -> FileStamp:
    """The stamp of ``path`` now: ``known`` with nothing read when path, size and
    modification time are unchanged and that time is before ``trusted_before_ns`` (see
    :data:`RACY_SECONDS`), else read and hashed. Raises OSError."""
    absolute = os.path.abspath(path)
    trusted = known is not None and (
        trusted_before_ns is None or known.mtime_ns < trusted_before_ns
    )
    if known is not None and trusted and known.path == absolute:
        status = os.stat(path)
        if (status.st_size, status.st_mtime_ns) == (known.size, known.mtime_ns):
            return known
    return read_stamped(Path(path))[1]


@dataclass(frozen=True)
class ManifestEntry:
    """One converted annotation: its inputs, and what the summary needs of its outputs."""

    stem: str
    json: FileStamp
    image: FileStamp | None
    """None when the image is embedded in the JSON (``imageData``)."""
    pixels: tuple[int, ...]
    """``(num_classes + 1,)`` pixel counts, ignored pixels first (as convert sums them)."""
    labels_used: tuple[str, ...]
    """The labels of its shapes, sorted."""

    def to_dict(self) -> dict[str, object]:
        return {
            "stem": self.stem,
            "json": self.json.to_dict(),
            "image": None if self.image is None else self.image.to_dict(),
            "pixels": list(self.pixels),
            "labels_used": list(self.labels_used),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ManifestEntry:
        image = data["image"]
        return cls(
            stem=str(data["stem"]),
            json=FileStamp.from_dict(_mapping(data["json"])),
            image=None if image is None else FileStamp.from_dict(_mapping(image)),
            pixels=tuple(_int(count) for count in _sequence(data["pixels"])),
            labels_used=tuple(str(label) for label in _sequence(data["labels_used"])),
        )


@dataclass(frozen=True)
class Manifest:
    """What a dataset was converted from: annotool's version, the settings, the entries."""

    version: str
    settings: Mapping[str, object]
    """Everything the outputs depend on besides the files: JSON values, compared as such."""
    entries: tuple[ManifestEntry, ...]
    written_ns: int | None = field(default=None, compare=False)
    """When the manifest file was written (its modification time), when read from one."""

    def trusted_before_ns(self) -> int | None:
        """Stamps of files changed before this time can be trusted by size and time."""
        if self.written_ns is None:
            return None
        return self.written_ns - RACY_SECONDS * 1_000_000_000

    def to_bytes(self) -> bytes:
        """The manifest file's bytes, entries in their order (see :class:`ManifestWriter`)."""
        stream = io.BytesIO()
        with ManifestWriter(stream, self.version, self.settings) as writer:
            for entry in self.entries:
                writer.write(entry)
        return stream.getvalue()

    def by_stem(self) -> dict[str, ManifestEntry]:
        return {entry.stem: entry for entry in self.entries}


class ManifestWriter:
    """Writes a manifest to a binary stream one entry at a time; used as a context
    manager, which writes the end. The same facts in the same order give the same bytes:
    a header line, one line per file (readable, and a diff of two manifests shows the
    files that changed), a closing line."""

    def __init__(
        self,
        stream: BinaryIO,
        version: str,
        settings: Mapping[str, object],
        path: Path | None = None,
    ) -> None:
        """``path``: the file ``stream`` writes, named by the OSError a failed write raises."""
        self._stream = stream
        self._path = path
        head = {"tool": TOOL, "format": FORMAT, "annotool_version": version, "settings": settings}
        # The header object, left open for the list of files.
        self._head = json.dumps(head, sort_keys=True, ensure_ascii=False)[:-1] + ', "files": ['
        self._entries = 0

    def __enter__(self) -> ManifestWriter:
        self._write(f"{self._head}\n".encode())
        return self

    def write(self, entry: ManifestEntry) -> None:
        line = json.dumps(entry.to_dict(), sort_keys=True, ensure_ascii=False)
        self._write((",\n" if self._entries else "").encode() + line.encode("utf-8"))
        self._entries += 1

    def __exit__(self, *error: object) -> None:
        if error[0] is None:
            self._write(b"\n]}\n")

    def _write(self, data: bytes) -> None:
        if self._path is None:
            self._stream.write(data)
            return
        with naming_path(self._path):
            self._stream.write(data)


def read_manifest(out_dir: Path) -> Manifest:
    """The manifest of the dataset at ``out_dir``.

    Raises ManifestError saying what to do when there is none (a folder another tool
    wrote, or a convert older than manifests) or when it is not one annotool can read.
    """
    path = Path(out_dir) / MANIFEST_FILE
    rerun = f"convert again with --overwrite instead of --update to replace {out_dir}"
    try:
        with open(path, "rb") as stream:
            written_ns = os.fstat(stream.fileno()).st_mtime_ns
            raw = stream.read()
    except FileNotFoundError:
        raise ManifestError(
            f"{out_dir} has no {MANIFEST_FILE}, so it was not written by annotool convert "
            f"(or by a version before --update) and --update cannot tell what it holds; {rerun}"
        ) from None
    except OSError as error:
        raise ManifestError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        document = json.loads(raw.decode("utf-8"))
        if not isinstance(document, dict) or document.get("tool") != TOOL:
            raise ManifestError(f"{path} was not written by annotool convert; {rerun}")
        if document.get("format") != FORMAT:
            raise ManifestError(
                f"{path} has format {document.get('format')!r}, this annotool reads format "
                f"{FORMAT}; {rerun}"
            )
        return Manifest(
            version=str(document["annotool_version"]),
            settings=_mapping(document["settings"]),
            entries=tuple(ManifestEntry.from_dict(_mapping(e)) for e in document["files"]),
            written_ns=written_ns,
        )
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise ManifestError(f"{path} is damaged ({error}); {rerun}") from None


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, found {value!r}")
    return value


def _mapping(value: object) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, found {type(value).__name__}")
    return value


def _sequence(value: object) -> Sequence[object]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, found {type(value).__name__}")
    return value
