"""The documentation stays true: links resolve, every --help names its page, and the
README's two set-up commands are the ones that work (and that CI runs)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from annotool.cli import main

ROOT = Path(__file__).resolve().parent.parent
PAGES = [
    ROOT / "README.md",
    ROOT / "ARCHITECTURE.md",
    ROOT / "examples" / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def prose_lines(page: Path) -> list[str]:
    """The lines of a Markdown page outside fenced code blocks."""
    lines, in_code = [], False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code:
            lines.append(line)
    return lines


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for the headings of ``page``."""
    return {
        re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in prose_lines(page)
        if line.startswith("#")
    }


def commands_with_help() -> list[list[str]]:
    names = []
    context = click.Context(main)
    for name in main.list_commands(context):
        command = main.get_command(context, name)
        names.append([name])
        subcommands = getattr(command, "commands", {})
        names.extend([name, sub] for sub in sorted(subcommands))
    return names


def test_anchor_rules_match_github() -> None:
    page_anchors = anchors(ROOT / "docs" / "predict.md")
    assert "closing-the-loop-pre-label-new-images-for-labelme" in page_anchors
    assert "annotool-predict" in page_anchors


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(ROOT)) for page in PAGES])
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for line in prose_lines(page):
        for target in LINK.findall(line):
            if re.match(r"[a-z]+:", target):
                continue  # a web address
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists() or (anchor and anchor not in anchors(linked)):
                broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)}: broken links {broken}"


@pytest.mark.parametrize("words", commands_with_help(), ids=" ".join)
def test_every_command_help_names_its_docs_page(words: list[str]) -> None:
    result = CliRunner().invoke(main, [*words, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    named = re.findall(r"Full reference: (docs/[\w-]+\.md)", result.output)
    assert len(named) == 1, result.output
    assert (ROOT / named[0]).is_file()
    page = (ROOT / named[0]).read_text(encoding="utf-8")
    assert f"`annotool {' '.join(words)}" in page or f"`{' '.join(words)}`" in page


def readme_command(starts: str) -> str:
    """The one line of a README code block that starts with ``starts``."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    found = [line for line in lines if line.startswith(starts)]
    assert len(found) == 1, found
    return found[0]


def test_readme_test_command_is_what_ci_runs() -> None:
    install, test = readme_command("pip install -e '.[train,dev]' && ").split(" && ")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert install.replace("pip install -e", "python -m pip install --quiet -e") in ci
    assert ci.rstrip().splitlines()[-1] == test == "python -m pytest -q"


def test_readme_quick_start_converts_the_bundled_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install, command = readme_command("pip install -e . && annotool convert ").split(" && ")
    assert install == "pip install -e ."
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    arguments = shlex.split(command)[1:]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    masks = sorted((tmp_path / "out" / "shapes-voc" / "SegmentationClass").glob("*.png"))
    assert len(masks) == len(list((ROOT / "examples" / "shapes").glob("*.json"))) == 12
