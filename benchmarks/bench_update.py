"""``annotool convert --update`` against a full convert, after a few files changed.

    python benchmarks/bench_update.py                        # 320 files, 3 rounds
    python benchmarks/bench_update.py --files 320 3200 --repeat 5 --tmp benchmarks/_work

The input is ``bench_convert.py``'s (``--photos mixed``: road frames and VOC photos). Each
round edits 3 annotations (a shape moved by one pixel), deletes 1 and adds 1, then runs,
as subprocesses with the default outputs and workers:

- ``convert --update`` on the dataset of the previous round, and
- a full ``convert`` of the same files into a fresh folder,

alternating which goes first, and checks that both folders hold the same bytes. The
first convert is followed by a 2 s pause: files changed within 2 s of a manifest are
hashed again by the next update (see ``annotool.manifest.RACY_SECONDS``). Times are
wall times of the whole command, start-up included (what a person waits for). Target
(issue 20): the update at least 8x faster than the full convert at 320 files. The load
average is printed with every round, since other people's jobs change the figures.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_convert import (
    COMMAND_ENVIRONMENT,
    add_photos_option,
    benchmark_inputs,
    benchmark_parser,
    cpu_name,
    write_inputs,
)


def main() -> int:
    parser = benchmark_parser(__doc__)
    add_photos_option(parser)
    parser.set_defaults(repeat=3, files=[320])
    args = parser.parse_args()
    fixture_dir, fixture_labels, annotool = benchmark_inputs(args)
    print(
        f"CPU: {cpu_name()}, {len(os.sched_getaffinity(0))} usable; python {sys.version.split()[0]}"
    )
    records = []
    for count in args.files:
        with tempfile.TemporaryDirectory(prefix="annotool-bench-", dir=args.tmp) as scratch:
            input_dir = Path(scratch) / "labelme"
            labels_file = write_inputs(args.photos, fixture_dir, fixture_labels, input_dir, count)
            dataset, fresh = Path(scratch) / "voc", Path(scratch) / "fresh"
            convert = [*annotool, "convert", str(input_dir)]
            options = ["--labels", str(labels_file), "-q"]
            if args.workers is not None:
                options += ["--workers", str(args.workers)]
            run([*convert, str(dataset), *options])
            # Files changed less than annotool.manifest.RACY_SECONDS before a manifest are
            # read again by the next update; people annotate for longer than that.
            time.sleep(2)
            header = f"{'files':>6} {'round':>5} {'full s':>7} {'update s':>8} {'ratio':>6}"
            print(f"\n{header} {'load':>5}")
            for round_number in range(args.repeat):
                change_files(input_dir, round_number)
                load = os.getloadavg()[0]
                commands = {
                    "update": [*convert, str(dataset), *options, "--update"],
                    "full": [*convert, str(fresh), *options],
                }
                order = ["update", "full"] if round_number % 2 == 0 else ["full", "update"]
                seconds = {name: run(commands[name]) for name in order}
                if tree_digest(dataset) != tree_digest(fresh):
                    raise SystemExit("the updated dataset differs from a fresh convert")
                shutil.rmtree(fresh)
                ratio = seconds["full"] / seconds["update"]
                print(
                    f"{count:6d} {round_number:5d} {seconds['full']:7.3f} {seconds['update']:8.3f} "
                    f"{ratio:5.1f}x {load:5.2f}",
                    flush=True,
                )
                records.append({"files": count, "round": round_number, "load": load, **seconds})
    print()
    for count in args.files:
        rounds = [record for record in records if record["files"] == count]
        full = statistics.median(record["full"] for record in rounds)
        update = statistics.median(record["update"] for record in rounds)
        print(
            f"{count} files: full convert {full:.3f} s, --update {update:.3f} s (medians of "
            f"{len(rounds)}): {full / update:.1f}x"
        )
    print(f"load average after (1, 5, 15 min): {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.json is not None:
        args.json.write_text(json.dumps(records, indent=2) + "\n")
    return 0


def change_files(input_dir: Path, round_number: int) -> None:
    """Edit 3 annotations, delete 1 and add 1 (a copy of another under a new name)."""
    files = sorted(input_dir.glob("*.json"))
    step = max(1, len(files) // 5)
    for path in files[0 : 3 * step : step]:
        document = json.loads(path.read_text(encoding="utf-8"))
        document["shapes"][0]["points"][0][0] += 1
        path.write_text(json.dumps(document), encoding="utf-8")
    files[-1].unlink()
    source = files[len(files) // 2]
    document = json.loads(source.read_text(encoding="utf-8"))
    stem = f"added_{round_number:03d}"
    image = input_dir / document["imagePath"]
    shutil.copyfile(image, input_dir / f"{stem}{image.suffix}")
    (input_dir / f"{stem}.json").write_text(
        json.dumps({**document, "imagePath": f"{stem}{image.suffix}"}), encoding="utf-8"
    )


def run(command: list[str]) -> float:
    """Wall seconds of ``command``, which must succeed."""
    start = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, env=COMMAND_ENVIRONMENT)
    seconds = time.perf_counter() - start
    if completed.returncode != 0:
        sys.stderr.write(completed.stdout.decode(errors="replace"))
        sys.stderr.write(completed.stderr.decode(errors="replace"))
        raise SystemExit(f"failed with exit code {completed.returncode}: {command}")
    return seconds


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


if __name__ == "__main__":
    sys.exit(main())
