"""The manifest ``annotool convert`` leaves in a dataset: what it was made from, and how.

``convert --update`` reads it to redo only what changed. It records, for every converted
annotation, the content hash (SHA-256), size and modification time of its JSON file and
of its image file (none for an image embedded in the JSON), its pixel counts and labels
(so a summary needs no file read again), and for the whole run annotool's version and
the settings every output depends on (class names, output options, label map).

The bytes depend only on those facts: no time of the run, no host, entries sorted by
stem, so an updated dataset's manifest equals the one a fresh convert writes. Size and
modification time let an update skip reading a file that did not change (as make and
git do); the hash decides when they differ, so a file touched but not changed is kept.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from annotool.errors import ManifestError

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


def restamp(path: Path, known: FileStamp | None) -> FileStamp:
    """The stamp of ``path`` now: ``known`` with nothing read when path, size and
    modification time are unchanged, else read and hashed. Raises OSError."""
    absolute = os.path.abspath(path)
    if known is not None and known.path == absolute:
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

    def to_bytes(self) -> bytes:
        """The manifest file's bytes: the same facts always give the same bytes."""
        head = {
            "tool": TOOL,
            "format": FORMAT,
            "annotool_version": self.version,
            "settings": self.settings,
        }
        # One line per file: readable, and diffs of two manifests show the files changed.
        lines = [
            json.dumps(entry.to_dict(), sort_keys=True, ensure_ascii=False)
            for entry in sorted(self.entries, key=lambda entry: entry.stem)
        ]
        text = json.dumps(head, sort_keys=True, ensure_ascii=False)[:-1]
        text += ', "files": [\n' + ",\n".join(lines) + "\n]}\n"
        return text.encode("utf-8")

    def by_stem(self) -> dict[str, ManifestEntry]:
        return {entry.stem: entry for entry in self.entries}


def read_manifest(out_dir: Path) -> Manifest:
    """The manifest of the dataset at ``out_dir``.

    Raises ManifestError saying what to do when there is none (a folder another tool
    wrote, or a convert older than manifests) or when it is not one annotool can read.
    """
    path = Path(out_dir) / MANIFEST_FILE
    rerun = f"convert again with --overwrite instead of --update to replace {out_dir}"
    try:
        raw = path.read_bytes()
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
