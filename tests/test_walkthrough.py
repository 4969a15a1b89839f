"""The examples/ walkthrough runs the whole journey end to end (the CI smoke test)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

WALKTHROUGH = Path(__file__).resolve().parents[1] / "examples" / "walkthrough.sh"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="the walkthrough is a bash script")
def test_walkthrough_runs_the_whole_journey(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    environment = {**os.environ, "ANNOTOOL": f"{sys.executable} -m annotool"}
    result = subprocess.run(
        ["bash", str(WALKTHROUGH), str(tmp_path / "out")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = tmp_path / "out"
    assert len(list((out / "shapes-voc" / "SegmentationClass").glob("*.png"))) == 12
    assert (out / "shapes-voc" / "ImageSets" / "Segmentation" / "val.txt").is_file()
    assert json.loads((out / "stats.json").read_text())["images"]["count"] == 12
    assert (out / "stats.png").is_file()
    assert (out / "run" / "best.pt").is_file() and (out / "run" / "curves.png").is_file()
    assert len(list((out / "predictions").glob("*_overlay.jpg"))) == 12
    scores = json.loads((out / "scores.json").read_text())
    assert 0 <= scores["miou"] <= 1
    assert "mIoU" in result.stdout
    val_stems = (out / "shapes-voc" / "ImageSets" / "Segmentation" / "val.txt").read_text().split()
    for stem in val_stems:
        document = json.loads((out / "new-photos" / f"{stem}.json").read_text())
        assert document["imagePath"] == f"{stem}.jpg"
        assert all("annotool: predicted" in shape["description"] for shape in document["shapes"])
        assert (out / "new-voc" / "SegmentationClass" / f"{stem}.png").is_file()
