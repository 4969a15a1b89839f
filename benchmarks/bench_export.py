"""Speed of ``annotool export coco`` and ``export yolo`` next to ``annotool convert``.

    python benchmarks/bench_export.py                       # 300 files, each command once
    python benchmarks/bench_export.py --files 300 --repeat 3 --workers 2 --json out.json

The input is ``bench_convert.py``'s: the labelme fixture ``../shared/fixtures/labelme/
semantic`` (three PASCAL VOC photos of about 500x375, polygons, ``__ignore__`` regions,
objects painted over by later shapes) replicated under new names. On the same files, in
turn, as subprocesses with ``-q``:

- ``convert --no-viz --no-objects`` (images and class masks: the least convert writes),
- ``convert --no-viz`` (adds SegmentationObject, the masks the export is built from),
- ``export coco`` (images, one annotations.json; RLE for objects polygons cannot hold),
- ``export yolo`` (images and label files in train/val folders, outlines traced where
  needed).

Each run reports images/s (wall time of the whole command, then without start-up, the best
of three ``--help`` runs of that command), CPU ms per image (the command and its workers)
and peak memory, as ``bench_convert.py`` measures them. Runs alternate between the
commands, so load from other people's jobs spreads over all of them; compare the ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from functools import partial
from pathlib import Path

from bench_convert import (
    RunResult,
    benchmark_inputs,
    benchmark_parser,
    print_conditions,
    replicate_fixture,
    startup_seconds,
    time_checked_run,
    write_results_json,
)

COMMANDS = {
    "convert-lean": (["convert"], ["--no-viz", "--no-objects"]),
    "convert-objects": (["convert"], ["--no-viz"]),
    "export-coco": (["export", "coco"], []),
    "export-yolo": (["export", "yolo"], []),
}


def main() -> int:
    args = parse_args()
    fixture_dir, labels_file, annotool = benchmark_inputs(args)
    startups = {
        name: startup_seconds([*annotool, *command]) for name, (command, _) in COMMANDS.items()
    }
    print_conditions(args.workers, max(startups.values()))
    results: list[RunResult] = []
    for count in args.files:
        with tempfile.TemporaryDirectory(prefix="annotool-bench-", dir=args.tmp) as scratch:
            input_dir = Path(scratch) / "labelme"
            replicate_fixture(fixture_dir, input_dir, count)
            for repeat in range(args.repeat):
                for name, (command, options) in COMMANDS.items():
                    out_dir = Path(scratch) / f"{name}-{repeat}"
                    arguments = [*options, "-q", "--labels", str(labels_file)]
                    if args.workers is not None:
                        arguments += ["--workers", str(args.workers)]
                    command_line = [*annotool, *command, str(input_dir), str(out_dir), *arguments]
                    check = partial(check_output, name)
                    results.append(
                        time_checked_run(
                            command_line, out_dir, name, count, args.workers, startups[name], check
                        )
                    )
    print_ratios(results)
    write_results_json(args.json, results)
    return 0


def parse_args() -> argparse.Namespace:
    return benchmark_parser(__doc__).parse_args()


def check_output(name: str, out_dir: Path, count: int) -> None:
    """Fail loudly when a command wrote fewer images than it was given files."""
    images = [path for path in out_dir.rglob("*.jpg") if "Visualization" not in path.parent.name]
    if len(images) != count:
        raise SystemExit(f"{name} wrote {len(images)} images for {count} files")
    if name == "export-coco":
        document = json.loads((out_dir / "annotations.json").read_text(encoding="utf-8"))
        if len(document["images"]) != count:
            raise SystemExit(f"export coco listed {len(document['images'])} of {count} images")


def print_ratios(results: list[RunResult]) -> None:
    print()
    for files in sorted({result.files for result in results}):
        runs = [result for result in results if result.files == files]
        median = {
            name: statistics.median(r.images_per_second for r in runs if r.mode == name)
            for name in COMMANDS
        }
        cpu = {
            name: statistics.median(r.cpu_ms_per_image for r in runs if r.mode == name)
            for name in COMMANDS
        }
        print(f"{files} files: median images/s and CPU ms per image, and CPU next to convert-lean")
        for name in COMMANDS:
            print(
                f"  {name:16} {median[name]:7.1f} images/s  {cpu[name]:7.2f} CPU ms/image  "
                f"x{cpu[name] / cpu['convert-lean']:.2f}"
            )


if __name__ == "__main__":
    sys.exit(main())
