from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from annotool.errors import TrainingError
from annotool.train.options import (
    DEFAULTS,
    RESOLVED_KEY,
    TrainOptions,
    option_name,
    options_for_resume,
    options_record,
    parse_duration,
    saved_options,
)

RUN = TrainOptions(dataset_dir=Path("data"), out_dir=Path("run"), width=32, time_budget=600.0)
"""The options a run was started with."""


def _resumed(**given: object) -> TrainOptions:
    """Defaults with ``given`` set as if typed on the command line, plus --resume."""
    options = TrainOptions(dataset_dir=Path("data"), out_dir=Path("run"), resume=True)
    return replace(options, **given, given=frozenset({*given, "resume"}))


def test_the_options_module_and_its_defaults_need_no_torch() -> None:
    code = (
        "import sys; sys.modules['torch'] = None; "
        "from annotool.train.options import DEFAULTS; assert DEFAULTS['width'] == 16"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr


def test_defaults_are_the_dataclass_defaults() -> None:
    assert DEFAULTS["batch_size"] == TrainOptions.batch_size == 8
    assert "dataset_dir" not in DEFAULTS  # required, no default


@pytest.mark.parametrize(("field", "option"), [("time_budget", "--time"), ("lr", "--lr")])
def test_option_names_are_spelled_as_on_the_command_line(field: str, option: str) -> None:
    assert option_name(field) == option
    assert option_name("batch_size") == "--batch-size"


def test_a_resume_without_options_takes_every_option_from_the_checkpoint() -> None:
    options, notes = options_for_resume(_resumed(), options_record(RUN), "run/last.pt")
    assert options.width == 32 and options.time_budget == 600.0
    assert options.resume
    assert notes == []


def test_a_run_from_before_small_objects_resumes_without_them_unless_asked() -> None:
    record = options_record(RUN)
    del record["small_objects"]
    options, _ = options_for_resume(_resumed(), record, "run/last.pt")
    assert options.small_objects == "off"
    options, _ = options_for_resume(_resumed(small_objects="on"), record, "run/last.pt")
    assert options.small_objects == "on"


def test_a_resume_with_the_same_values_is_accepted() -> None:
    options, notes = options_for_resume(_resumed(width=32), options_record(RUN), "run/last.pt")
    assert options.width == 32 and notes == []


def test_a_resume_that_changes_the_run_is_refused_naming_each_option_and_both_values() -> None:
    with pytest.raises(TrainingError) as caught:
        options_for_resume(_resumed(width=16, lr=1e-3), options_record(RUN), "run/last.pt")
    message = str(caught.value)
    assert "--resume continues the run of run/last.pt" in message
    assert "--lr 0.001 (the run used 0.002)" in message
    assert "--width 16 (the run used 32)" in message
    assert "--overwrite" in message


def test_a_resume_may_train_longer_and_says_which_value_wins() -> None:
    options, notes = options_for_resume(
        _resumed(time_budget=900.0, workers=2), options_record(RUN), "run/last.pt"
    )
    assert options.time_budget == 900.0 and options.workers == 2
    assert notes == [
        "--time 900.0 (the run used 600.0) is used",
        "--workers 2 (the run used none) is used",
    ]


def test_machine_options_not_given_keep_this_machines_defaults() -> None:
    on_a_gpu = options_record(replace(RUN, device="cuda", precision="bf16", workers=8))
    options, _ = options_for_resume(_resumed(), on_a_gpu, "run/last.pt")
    assert (options.device, options.precision, options.workers) == ("auto", "auto", None)


def test_library_callers_give_every_option() -> None:
    """Without ``given`` (a TrainOptions built in Python) every field counts as given."""
    with pytest.raises(TrainingError, match="--width 16 \\(the run used 32\\)"):
        options_for_resume(
            TrainOptions(Path("data"), Path("run"), resume=True, time_budget=600.0),
            options_record(RUN),
            "run/last.pt",
        )


def test_records_from_before_the_resolved_key_skip_the_resolved_options() -> None:
    old = {**options_record(RUN), "class_weights": [0.5, 2.0], "image_size": 512}
    assert "class_weights" not in saved_options(old)
    assert "image_size" not in saved_options(old)
    new = {**options_record(RUN), RESOLVED_KEY: {"class_weights": None}}
    assert saved_options(new) == options_record(RUN)
    # Given on the command line, the unknown saved value is not compared.
    options, _ = options_for_resume(
        _resumed(class_weights="auto"), saved_options(old), "run/last.pt"
    )
    assert options.class_weights == "auto"


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("10m", 600), ("1.5h", 5400)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_a_bad_duration_says_how_to_write_one() -> None:
    with pytest.raises(TrainingError, match="write it like 90s, 10m or 1h"):
        parse_duration("ten minutes")
