"""What ``annotool train`` learns in a fixed time on 2 CPU cores, run exactly as a user would.

Makes a labelme dataset (see ``benchmarks/photo_sets.py`` and :mod:`annotool.synthetic`),
then runs ``annotool convert``, ``annotool split`` (fixed seed), ``annotool train DATASET
--out RUN --time BUDGET`` and ``annotool evaluate RUN/best.pt DATASET --split val`` as
subprocesses, and prints best val mIoU and IoU per class, with the load of the machine.

    python benchmarks/learning.py pets|boards|clutter|shapes [--time 10m] [--seed 0] [--keep DIR]
        [--annotool-root DIR --old-trainer [--old-epochs N]] [-- extra 'annotool train' options]

Sets: ``pets`` 8 photos of about 1000x750 with one large animal (train 6 / val 2);
``boards`` 150 desk photos of 800x600 with four kinds of small boards (train 120 / val
30), too easy: it scores 0.81 where real photos of boards scored 0.5; ``clutter``
150 desk photos of 800x600 with four kinds of boards that share colours and texture,
1-5% of the frame each, among clutter made of the same parts (train 120 / val 30; see
``benchmarks/desk_clutter.py``), as hard as real board photos; ``shapes`` 200 bundled
synthetic shapes images (train 160 / val 40).

``--annotool-root`` runs another checkout of annotool (e.g. an older commit extracted
with ``git archive``); with ``--old-trainer`` the trainer, which may predate
``--time``, is run with ``--epochs N`` (``--old-epochs``, its default 60 unless given;
100000 also turns early stopping off) and killed when the budget is spent, and its best
checkpoint (written atomically) is evaluated.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from desk_clutter import make_clutter_photos
from photo_sets import make_board_photos, make_pet_photos

from annotool.synthetic import make_labelme_dataset

VAL_SHARE = {"pets": "0.25", "boards": "0.2", "clutter": "0.2", "shapes": "0.2"}


def make_labelme(name: str, out_dir: Path, seed: int) -> Path:
    if name == "pets":
        return make_pet_photos(out_dir, seed)
    if name == "boards":
        return make_board_photos(out_dir, seed)
    if name == "clutter":
        return make_clutter_photos(out_dir, seed)
    return make_labelme_dataset(out_dir, 200, seed=seed)


def parse_seconds(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=sorted(VAL_SHARE))
    parser.add_argument("--time", default="10m", help="Training budget: 90s, 10m, 1h.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the data and the split.")
    parser.add_argument("--keep", type=Path, help="Keep the data and the run here.")
    parser.add_argument("--annotool-root", type=Path, default=Path(__file__).parents[1])
    parser.add_argument("--old-trainer", action="store_true")
    parser.add_argument("--old-epochs", type=int, default=60)
    parser.add_argument("train_options", nargs="*", help="Extra 'annotool train' options.")
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix=f"annotool-learning-{args.dataset}-"))
    root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(args.annotool_root.resolve())}
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    def annotool(*arguments: str, timeout: float | None = None) -> str:
        command = [sys.executable, "-m", "annotool", *arguments]
        process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            cwd=root,  # not a checkout: PYTHONPATH alone decides which annotool runs
        )
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            return output + "\n[killed: time budget spent]"
        if process.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{output}")
        return output

    try:
        labelme = make_labelme(args.dataset, root / "labelme", args.seed)
        dataset, run = root / "dataset", root / "run"
        annotool(
            "convert",
            str(labelme),
            str(dataset),
            "--labels",
            str(labelme / "labels.txt"),
            "--no-viz",
            "--overwrite",
            "-q",
        )
        annotool(
            "split",
            str(dataset),
            "--val",
            VAL_SHARE[args.dataset],
            "--seed",
            str(args.seed),
            "--overwrite",
        )
        budget = parse_seconds(args.time)
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        # An older trainer without --time trains endlessly and is killed when time is up.
        length = ["--epochs", str(args.old_epochs)] if args.old_trainer else []
        if args.old_trainer and args.old_epochs >= 100000:
            length += ["--patience", "0"]
        log = annotool(
            "train",
            str(dataset),
            "--out",
            str(run),
            "--overwrite",
            *(length or ["--time", args.time]),
            "-q",
            *args.train_options,
            timeout=budget if args.old_trainer else None,
        )
        seconds = time.perf_counter() - started
        load_after = os.getloadavg()[0]
        (root / "train.log").write_text(log)
        annotool(
            "evaluate",
            str(run / "best.pt"),
            str(dataset),
            "--split",
            "val",
            "--json",
            str(root / "scores.json"),
            "-q",
        )
        scores = json.loads((root / "scores.json").read_text())
        scores = scores.get("scores", scores)
        lines = log.strip().splitlines()
        print("\n".join(lines[-4:]))
        per_class = ", ".join(f"{c['name']} {c['iou']:.3f}" for c in scores["classes"])
        how = f"--epochs {args.old_epochs}, killed at the budget" if args.old_trainer else "--time"
        print(
            f"{args.dataset} seed {args.seed} budget {args.time} ({how}) "
            f"{' '.join(args.train_options)}"
            f"\n  train wall {seconds:.0f} s, load average {load_before:.1f} -> {load_after:.1f}"
            f"\n  val mIoU {scores['miou']:.4f}  IoU: {per_class}"
        )
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
