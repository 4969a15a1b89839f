"""ARCHITECTURE.md's layer table is the truth about who imports whom: checked here."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "annotool"
ARCHITECTURE = PACKAGE.parent / "ARCHITECTURE.md"


def layer_table() -> list[tuple[str, set[str], set[str]]]:
    """The rows of the table under '## Layers': layer, its modules, the layers it may import."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("layer", "---"):
            continue
        modules = {name.rstrip("/") for name in re.findall(r"`([\w/]+)`", cells[1])}
        rows.append((cells[0], modules, {name.strip() for name in cells[2].split(",")}))
    return rows


def module_name(path: Path) -> str:
    """``annotool/train/loop.py`` -> ``annotool.train.loop``."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_imports(path: Path) -> Iterator[tuple[int, str]]:
    """``(line, module)`` of every import of annotool in ``path``, those under
    ``if TYPE_CHECKING:`` left out; ``from annotool.x import y`` may name a module ``y``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for statement in block.body
        for node in ast.walk(statement)
    }
    package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("annotool"):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1]
                    + ([base] if base else [])
                )
            if not base.startswith("annotool"):
                continue
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def known_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def top_level(module: str) -> str:
    """The first name below ``annotool``: the unit the layer table lists."""
    return module.split(".")[1] if "." in module else ""


def test_every_module_has_a_layer() -> None:
    listed = {name for _, modules, _ in layer_table() for name in modules}
    unlisted = sorted({top_level(name) for name in known_modules()} - listed - {""})
    assert not unlisted, f"add these to ARCHITECTURE.md's layer table: {unlisted}"


def test_every_import_respects_the_layers() -> None:
    table = layer_table()
    layer_of = {name: layer for layer, modules, _ in table for name in modules}
    allowed = {layer: may_import for layer, _, may_import in table}
    modules = known_modules()
    broken = []
    for name, path in modules.items():
        source = layer_of.get(top_level(name))
        if source is None:
            continue  # reported by test_every_module_has_a_layer
        for line, imported in runtime_imports(path):
            target = layer_of.get(top_level(imported))
            if target is not None and target != source and target not in allowed[source]:
                where = f"{path.relative_to(PACKAGE.parent)}:{line}"
                broken.append(f"{where} ({source}) imports {imported} ({target})")
    assert not broken, "\n".join(broken)


def test_no_import_cycles() -> None:
    modules = known_modules()
    graph = {
        name: {
            imported
            for _, imported in runtime_imports(path)
            if imported in modules and imported != name and not name.startswith(imported + ".")
        }
        for name, path in modules.items()
    }
    # Importing a package's submodule runs the package's __init__ first; that edge is Python's.
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for imported in sorted(graph[name]):
            if state.get(imported) == 1:
                cycles.append(
                    [*trail[trail.index(imported) :], imported]
                    if imported in trail
                    else [name, imported]
                )
            elif imported not in state:
                visit(imported, [*trail, imported])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, " ; ".join(" -> ".join(cycle) for cycle in cycles)


@pytest.mark.parametrize(("library", "home"), [("torch", "train"), ("click", "cli")])
def test_heavy_libraries_stay_in_their_layer(library: str, home: str) -> None:
    outside = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if top_level(module_name(path)) == home:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(name == library or name.startswith(library + ".") for name in names):
                outside.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert not outside, f"{library} imported outside annotool/{home}/: {outside}"
