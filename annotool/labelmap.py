"""The label map: renaming, merging, ignoring and dropping labels as annotations are read.

A label map is an object ``{old: new}`` in a YAML or JSON file, or ``OLD=NEW`` pairs
given on the command line. ``new`` is a class name (several old labels may share one: a
merge), ``__ignore__`` (the shape's pixels become ignore, 255), ``_background_`` (painted
as background), or null / empty (the shape is dropped as if it had never been drawn).
It is applied once, where labelme JSON is parsed (:func:`annotool.labelme.read_annotation`),
so every command sees the same labels.

Which entry applies to a label: an exact key first; else the first glob key (``*``, ``?``,
``[...]``, case-sensitive, as :func:`fnmatch.fnmatchcase`) in the map's order that matches.
Globs never match ``__ignore__`` and ``_background_``; exact keys do. A map is applied
once, not repeatedly: ``a: b`` and ``b: c`` send ``a`` to ``b``, not to ``c``.

YAML files are read with every scalar as text except null (``~``, ``null``, nothing), so
that labels such as ``1``, ``yes`` or ``off`` stay names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from annotool.errors import LabelMapError, Problem
from annotool.fileio import read_utf8
from annotool.labels import BACKGROUND_LABEL, IGNORE_LABEL, LabelSet

if TYPE_CHECKING:
    import yaml

GLOB_CHARACTERS = frozenset("*?[")
"""A key holding one of these is a glob pattern."""
SPECIAL_LABELS = frozenset((IGNORE_LABEL, BACKGROUND_LABEL))
"""Labels that only an exact key maps."""
INLINE_SOURCE = "--map"


@dataclass(frozen=True)
class MapEntry:
    """One ``old: new`` entry; ``new`` None drops the shapes it matches.

    ``source`` is the file the entry comes from (or ``--map``), ``line`` its line there
    when known (YAML files).
    """

    old: str
    new: str | None
    source: str
    line: int | None = None

    @property
    def is_glob(self) -> bool:
        return not GLOB_CHARACTERS.isdisjoint(self.old)

    def matches(self, label: str) -> bool:
        if not self.is_glob:
            return label == self.old
        return label not in SPECIAL_LABELS and fnmatchcase(label, self.old)

    def describe(self) -> str:
        """``'old' -> 'new'``, or ``'old' -> null (drop)``."""
        return f"{self.old!r} -> {'null (drop)' if self.new is None else repr(self.new)}"

    def problem(self, message: str, severity: Literal["error", "warning"] = "error") -> Problem:
        """A problem located at this entry: its file, line and ``'old' -> 'new'``."""
        where = "" if self.line is None else f"line {self.line}: "
        return Problem(Path(self.source), f"{where}{self.describe()} {message}", severity=severity)

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source} line {self.line}"
        return f"{where}: {self.describe()}"


@dataclass(frozen=True)
class LabelMap:
    """The entries of a label map, in the order given (see the module docstring)."""

    entries: tuple[MapEntry, ...]

    @cached_property
    def _exact(self) -> dict[str, MapEntry]:
        return {entry.old: entry for entry in self.entries if not entry.is_glob}

    @cached_property
    def _globs(self) -> tuple[MapEntry, ...]:
        return tuple(entry for entry in self.entries if entry.is_glob)

    def entry_for(self, label: str) -> MapEntry | None:
        """The entry that applies to ``label``: its exact key, else the first matching glob."""
        exact = self._exact.get(label)
        if exact is not None:
            return exact
        return next((entry for entry in self._globs if entry.matches(label)), None)

    def apply(self, label: str) -> str | None:
        """The label ``label`` becomes: itself when no entry applies, None when dropped."""
        entry = self.entry_for(label)
        return label if entry is None else entry.new

    def unused_entries(self, labels: Iterable[str]) -> list[MapEntry]:
        """The entries that apply to none of ``labels`` (the labels as written in the files)."""
        used = {self.entry_for(label) for label in set(labels)}
        return [entry for entry in self.entries if entry not in used]

    def missing_classes(self, labels: LabelSet) -> list[Problem]:
        """An error for each entry mapping to a name that is not in ``labels``."""
        return [
            entry.problem(
                f"maps to a class that is not in {labels.source}; add {entry.new!r} there or "
                "change the entry"
            )
            for entry in self.entries
            if entry.new is not None and entry.new not in labels
        ]

    def require_classes(self, labels: LabelSet) -> None:
        """Raise LabelMapError naming every entry that maps to a name not in ``labels``."""
        problems = self.missing_classes(labels)
        if problems:
            raise LabelMapError("\n".join(str(problem) for problem in problems))

    def canonical(self) -> list[list[str | None]]:
        """The map's behaviour as JSON-able ``[old, new]`` pairs: exact keys sorted, then the
        globs in order (their order matters, the exact keys' does not)."""
        exact = sorted((entry.old, entry.new) for entry in self.entries if not entry.is_glob)
        return [[old, new] for old, new in (*exact, *((g.old, g.new) for g in self._globs))]

    def fingerprint(self) -> str:
        """A sha256 hex digest of :meth:`canonical`: equal for maps that act the same way
        (whatever file or order of exact keys they came from)."""
        text = json.dumps(self.canonical(), ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_label_map(specs: Sequence[str]) -> LabelMap | None:
    """The label map of ``--map`` values: map files and ``OLD=NEW`` pairs, in order.

    A value naming an existing file is read as one (``.json``: JSON, else YAML); otherwise
    a value holding ``=`` is a pair, split at the first ``=`` (``OLD=`` drops ``OLD``).
    Returns None when ``specs`` is empty. Raises LabelMapError naming the file and entry
    for anything invalid, a key given twice included.
    """
    entries: list[MapEntry] = []
    for spec in specs:
        if Path(spec).is_file():
            entries += read_map_file(Path(spec)).entries
        elif "=" in spec:
            old, new = spec.split("=", 1)
            entries.append(_entry(old, new or None, f"{INLINE_SOURCE} {spec}", None))
        else:
            raise LabelMapError(
                f"--map {spec!r}: no such file, and not an OLD=NEW pair; pass a YAML or JSON "
                "file of {old: new}, or OLD=NEW"
            )
    if not specs:
        return None
    return _label_map(entries)


def read_map_file(path: Path) -> LabelMap:
    """The label map in a YAML or JSON file (``.json``: JSON, anything else: YAML)."""
    text = read_utf8(path, LabelMapError)
    source = str(path)
    if path.suffix.lower() == ".json":
        pairs = _json_pairs(text, source)
    else:
        pairs = _yaml_pairs(text, source)
    if not pairs:
        raise LabelMapError(
            f"{source} holds no entries; write one 'old: new' per line, or leave out --map"
        )
    return _label_map([_entry(old, new, source, line) for old, new, line in pairs])


def parse_label_map(mapping: dict[str, str | None], source: str = "label map") -> LabelMap:
    """A label map from a dict ``{old: new}`` (for the Python API), checked as files are."""
    return _label_map([_entry(old, new, source, None) for old, new in mapping.items()])


def _label_map(entries: list[MapEntry]) -> LabelMap:
    first_of: dict[str, MapEntry] = {}
    for entry in entries:
        earlier = first_of.setdefault(entry.old, entry)
        if earlier is not entry:
            raise LabelMapError(
                f"the label {entry.old!r} is mapped twice: {earlier} and {entry}; keep one"
            )
    return LabelMap(tuple(entries))


def _entry(old: object, new: object, source: str, line: int | None) -> MapEntry:
    where = source if line is None else f"{source} line {line}"
    if not isinstance(old, str) or not old:
        raise LabelMapError(f"{where}: a key must be a label (text), not {old!r}")
    if new is None or new == "":
        return MapEntry(old, None, source, line)
    if not isinstance(new, str):
        raise LabelMapError(
            f"{where}: {old!r} maps to {json.dumps(new)}, but the new label must be a class "
            f"name, '{IGNORE_LABEL}', '{BACKGROUND_LABEL}', or null to drop the shapes"
        )
    if new != new.strip() or len(new.splitlines()) != 1:
        raise LabelMapError(
            f"{where}: {old!r} maps to {new!r}, which a labels file cannot hold (labels files "
            "strip spaces and hold one name per line); remove the spaces or line breaks"
        )
    return MapEntry(old, new, source, line)


class _JsonObject(list[tuple[str, object]]):
    """A JSON object's key-value pairs in file order, duplicates kept (so they can be refused)."""


_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number"}


def _json_pairs(text: str, source: str) -> list[tuple[object, object, int | None]]:
    try:
        document = json.loads(text, object_pairs_hook=_JsonObject)
    except json.JSONDecodeError as error:
        raise LabelMapError(
            f"{source}: invalid JSON at line {error.lineno} column {error.colno}: {error.msg}"
        ) from None
    if not isinstance(document, _JsonObject):
        what = _JSON_TYPES.get(type(document), "null" if document is None else "a boolean")
        raise LabelMapError(f"{source}: a label map must be a JSON object {{old: new}}, not {what}")
    return [(old, _plain_json(new), None) for old, new in document]


def _plain_json(value: object) -> object:
    """``value`` with objects as dicts again, so that messages show them as JSON."""
    if isinstance(value, _JsonObject):
        return {key: _plain_json(item) for key, item in value}
    if isinstance(value, list):
        return [_plain_json(item) for item in value]
    return value


@cache
def _map_loader() -> type[yaml.SafeLoader]:
    """A YAML loader that resolves no scalar but null implicitly: ``1``, ``yes`` or ``off``
    stay text. PyYAML is imported here, by the commands given a YAML map alone (it is a
    twentieth of every command's start)."""
    import yaml

    class MapLoader(yaml.SafeLoader):
        pass

    MapLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag == _NULL_TAG]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return MapLoader


_NULL_TAG = "tag:yaml.org,2002:null"


def _yaml_pairs(text: str, source: str) -> list[tuple[object, object, int | None]]:
    import yaml

    try:
        root = yaml.compose(text, Loader=_map_loader())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise LabelMapError(f"{source}: invalid YAML{where}: {problem}") from None
    if root is None:
        return []
    if not isinstance(root, yaml.MappingNode):
        raise LabelMapError(
            f"{source} line {root.start_mark.line + 1}: a label map must be a mapping of "
            "'old: new' lines"
        )
    pairs: list[tuple[object, object, int | None]] = []
    for key_node, value_node in root.value:
        line = key_node.start_mark.line + 1
        pairs.append((_yaml_scalar(key_node, source), _yaml_scalar(value_node, source), line))
    return pairs


def _yaml_scalar(node: yaml.Node, source: str) -> str | None:
    import yaml

    if not isinstance(node, yaml.ScalarNode):
        kind = "list" if isinstance(node, yaml.SequenceNode) else "mapping"
        raise LabelMapError(
            f"{source} line {node.start_mark.line + 1}: expected a label or null, not a "
            f"{kind}; write one 'old: new' per line"
        )
    return None if node.tag == _NULL_TAG else str(node.value)
