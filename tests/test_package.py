"""The package as installed: light imports, ``python -m annotool``, every command's help."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import annotool
from annotool.cli import main

EXPECTED_COMMANDS = [
    "convert",
    "check",
    "labels",
    "split",
    "stats",
    "train",
    "predict",
    "evaluate",
    "export",
    "import",
    "masks-to-labelme",
    "review",
]


def python_output(code: str, environment: dict[str, str] | None = None) -> str:
    """What ``python -c code`` prints, after checking that it succeeded."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, env=environment
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def without_openblas_setting(**settings: str) -> dict[str, str]:
    """This process's environment without OPENBLAS_NUM_THREADS, plus ``settings``."""
    environment = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    return {**environment, **settings}


def test_import_annotool_imports_neither_torch_nor_click() -> None:
    python_output(
        "import annotool, sys; "
        "assert 'torch' not in sys.modules and 'click' not in sys.modules, "
        "sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'click'))"
    )


def test_import_annotool_cli_does_not_import_torch() -> None:
    python_output(
        "import annotool.cli, sys; "
        "assert 'torch' not in sys.modules, "
        "[m for m in sys.modules if m.startswith('annotool')]"
    )


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads in /proc")
def test_the_cli_starts_no_blas_threads() -> None:
    # numpy's OpenBLAS would otherwise start a spinning thread per core at import.
    output = python_output(
        "import os, annotool.cli, numpy; print(len(os.listdir('/proc/self/task')))",
        without_openblas_setting(),
    )
    assert output.strip() == "1"


def test_the_cli_keeps_a_blas_thread_count_the_user_set() -> None:
    output = python_output(
        "import os, annotool.cli; print(os.environ['OPENBLAS_NUM_THREADS'])",
        without_openblas_setting(OPENBLAS_NUM_THREADS="3"),
    )
    assert output.strip() == "3"


def test_the_program_leaves_its_objects_out_of_the_collections_at_exit() -> None:
    # atexit handlers run after run() has returned, before the interpreter's last
    # garbage collections.
    output = python_output(
        "import atexit, gc, sys; from annotool.cli import run; "
        "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0)); "
        "sys.argv = ['annotool', '--version']; run()"
    )
    assert output.splitlines()[-1] == "frozen True"


def test_convert_and_check_start_without_importing_pyyaml() -> None:
    # PyYAML is needed only to read a YAML label map.
    python_output(
        "import annotool.cli.annotations, sys; assert 'yaml' not in sys.modules, 'yaml imported'"
    )


def test_python_m_annotool_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "annotool", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"annotool, version {annotool.__version__}"


def test_main_help_lists_every_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    listed = result.output.split("Commands:", 1)[1]
    for name in EXPECTED_COMMANDS:
        assert f"  {name} " in listed


def registered(name: str) -> click.Command | None:
    return main.get_command(click.Context(main), name)


def test_every_registered_command_is_expected() -> None:
    assert main.list_commands(click.Context(main)) == sorted(EXPECTED_COMMANDS)


def test_a_command_imports_no_other_commands_module() -> None:
    code = (
        "import sys; from click.testing import CliRunner; from annotool.cli import main; "
        "CliRunner().invoke(main, ['convert', '--help']); "
        "print(sorted(m for m in sys.modules if m.startswith('annotool.cli.')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "['annotool.cli.annotations', 'annotool.cli.common']"


@pytest.mark.parametrize("name", EXPECTED_COMMANDS, ids=EXPECTED_COMMANDS)
@pytest.mark.parametrize("flag", ["--help", "-h"], ids=["long", "short"])
def test_every_command_has_a_working_help(name: str, flag: str) -> None:
    command = registered(name)
    assert command is not None, f"command {name!r} is not registered in annotool.cli.main"
    result = CliRunner().invoke(main, [name, flag])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: main {name} ")
    assert command.help, f"command {name!r} has no description"
    assert "Options:" in result.output
