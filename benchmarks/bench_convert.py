"""Speed and peak memory of ``annotool convert`` on many labelme files.

    python benchmarks/bench_convert.py                      # 300 files
    python benchmarks/bench_convert.py --files 300 3000     # both sizes of the issue
    python benchmarks/bench_convert.py --files 300 --workers 1 --repeat 3 --json out.json

The input (``--photos mixed``, the default) alternates two kinds of labelme files people
convert: the fixture ``../shared/fixtures/labelme/semantic`` (three PASCAL VOC photos of
about 500x375, 3-10 polygons each) and road frames (``road_frames.py``: six 1920x1080
frames with 20-50 polygons of some twenty classes), replicated under new names (each JSON
gets its ``imagePath`` rewritten and the JPEG bytes are copied); ``--photos voc`` uses the
VOC photos alone. ``annotool convert`` then runs as a
subprocess, once with ``--no-viz --no-objects`` ("lean") and once with the default
outputs, always with ``-q``. For each run the script reports:

- images/s: files divided by the wall time of the whole command (start-up included),
  and again without the start-up time (the best of three ``convert --help`` runs);
- CPU ms per image: user + system CPU time of the command and its workers per file,
  which other people's jobs change less than the wall time;
- peak RSS of one process: the largest ``VmHWM`` (the kernel's high-water mark of a
  process's resident memory) of the command or any of its descendants, read from
  ``/proc`` every 20 ms, i.e. the biggest single worker. ``ru_maxrss`` from ``os.wait4``
  is used only where there is no ``/proc``: on Linux it counts the peak of the process
  that started the command too (this benchmark's own, 158 MiB after painting road
  frames);
- peak RSS of the tree: the largest sum of ``VmRSS`` over the command and all of its
  descendants, sampled from ``/proc`` every 20 ms (Linux only; shared pages count once
  per process, so it overestimates).

Targets (issue 2): lean at least 300 images/s on 2 cores, default outputs at least 45
images/s, and peak memory that does not grow with the number of files. The machine's
load average is printed with every run because other people's jobs change the figures.

Against labelme's converter (issue 20)::

    python benchmarks/bench_convert.py --files 320 --repeat 3 --reference /path/to/labelme2voc.py

runs, in turn on the same files, the reference script (with ``--noviz --noobject --nonpy``
for lean, ``--nonpy`` for default: it must take labelme2voc.py's options), annotool with
``--workers 1`` and annotool with ``--workers 2``, and prints the medians and the ratios:
images/s of two workers over the reference's, and the reference's CPU ms per image over
annotool's with one worker (speed per core), and the same for user CPU time alone (the
kernel's part, mostly opening and creating files, is much the same for both). The last
two columns ("paired") are the medians of the same two ratios taken within each repeat,
whose three runs follow each other: on a shared machine whose speed drifts by a fifth
from minute to minute they move less than the ratio of medians. Targets: 2x per core,
4x lean and 5x default with two workers. The reference is not part of annotool
(labelme is GPL): rebuild it from labelme's ``labelme2voc.py`` example.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from road_frames import ROAD_CLASSES, make_road_frames

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FIXTURE = REPO_ROOT.parent / "shared" / "fixtures" / "labelme" / "semantic"
MODES = {"lean": ["--no-viz", "--no-objects"], "default": []}
REFERENCE_MODES = {"lean": ["--noviz", "--noobject", "--nonpy"], "default": ["--nonpy"]}
SAMPLE_SECONDS = 0.02
CHILDREN_LISTED = Path(f"/proc/{os.getpid()}/task/{threading.get_native_id()}/children").exists()
"""Whether the kernel lists each thread's children in /proc (see :func:`tree`)."""
COMMAND_ENVIRONMENT = {
    name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"
}
"""The timed commands run as installed software does, with Python's compiled bytecode
cached: a shell that sets PYTHONDONTWRITEBYTECODE would have every run compile annotool's
modules again (about 40 ms, a sixth of its start-up), the reference's single file alike."""


@dataclass(frozen=True)
class RunResult:
    mode: str
    files: int
    workers: int | None
    seconds: float
    images_per_second: float
    images_per_second_after_startup: float
    cpu_ms_per_image: float
    user_ms_per_image: float
    """The user part of ``cpu_ms_per_image`` (the rest is the kernel's: opening,
    creating and writing files, page faults)."""
    peak_process_rss_mib: float
    peak_tree_rss_mib: float | None
    load_average_before: float


def main() -> int:
    args = parse_args()
    fixture_dir, labels_file, annotool = benchmark_inputs(args)
    command = [*annotool, "convert"]
    startup = startup_seconds(command)
    print_conditions(args.workers, startup)
    if args.reference is not None:
        return compare_with_reference(args, fixture_dir, labels_file, command, startup)
    results: list[RunResult] = []
    for count in args.files:
        with tempfile.TemporaryDirectory(prefix="annotool-bench-", dir=args.tmp) as scratch:
            input_dir = Path(scratch) / "labelme"
            input_labels = write_inputs(args.photos, fixture_dir, labels_file, input_dir, count)
            for mode in args.modes:
                for repeat in range(args.repeat):
                    out_dir = Path(scratch) / f"voc-{mode}-{repeat}"
                    options = [*MODES[mode], "-q", "--labels", str(input_labels)]
                    if args.workers is not None:
                        options += ["--workers", str(args.workers)]
                    command_line = [*command, str(input_dir), str(out_dir), *options]
                    result = time_checked_run(
                        command_line, out_dir, mode, count, args.workers, startup, check_output
                    )
                    results.append(result)
    print_summary(results)
    write_results_json(args.json, results)
    return 0


def parse_args() -> argparse.Namespace:
    parser = benchmark_parser(__doc__)
    add_photos_option(parser)
    parser.add_argument("--modes", nargs="+", choices=sorted(MODES), default=["lean", "default"])
    parser.add_argument(
        "--reference", type=Path, default=None, help="labelme2voc.py to compare with, same run"
    )
    return parser.parse_args()


def compare_with_reference(
    args: argparse.Namespace,
    fixture_dir: Path,
    fixture_labels: Path,
    command: list[str],
    startup: float,
) -> int:
    """Reference, annotool on one worker and on two, in turn; then medians and ratios."""
    print(f"CPU: {cpu_name()}")
    rows = []
    for count in args.files:
        with tempfile.TemporaryDirectory(prefix="annotool-bench-", dir=args.tmp) as scratch:
            input_dir = Path(scratch) / "labelme"
            labels_file = write_inputs(args.photos, fixture_dir, fixture_labels, input_dir, count)
            for mode in args.modes:
                runs: dict[str, list[RunResult]] = {"reference": [], "1": [], "2": []}
                for repeat in range(args.repeat):
                    out_dir = Path(scratch) / f"{mode}-ref-{repeat}"
                    reference = [sys.executable, str(args.reference), str(input_dir)]
                    reference += [str(out_dir), "--labels", str(labels_file)]
                    reference += REFERENCE_MODES[mode]
                    runs["reference"].append(
                        time_checked_run(
                            reference, out_dir, f"{mode}-ref", count, None, 0.0, check_reference
                        )
                    )
                    for workers in ("1", "2"):
                        out_dir = Path(scratch) / f"{mode}-w{workers}-{repeat}"
                        line = [*command, str(input_dir), str(out_dir), *MODES[mode], "-q"]
                        line += ["--labels", str(labels_file), "--workers", workers]
                        runs[workers].append(
                            time_checked_run(
                                line,
                                out_dir,
                                f"{mode}-w{workers}",
                                count,
                                int(workers),
                                startup,
                                check_output,
                            )
                        )
                rows.append((mode, count, runs))
    print()
    print(
        f"{'mode':8} {'files':>6} {'ref im/s':>9} {'w1 im/s':>8} {'w2 im/s':>8} {'w2/ref':>7} "
        f"{'ref CPUms':>9} {'w1 CPUms':>9} {'per core':>8} {'user only':>9} {'paired':>7} "
        f"{'per core':>8}"
    )
    for mode, count, runs in rows:
        # Each repeat runs the three commands back to back, so the ratio within a repeat
        # is little changed by the machine's speed drifting between repeats.
        paired = statistics.median(
            two.images_per_second / reference.images_per_second
            for reference, two in zip(runs["reference"], runs["2"], strict=True)
        )
        paired_per_core = statistics.median(
            reference.cpu_ms_per_image / one.cpu_ms_per_image
            for reference, one in zip(runs["reference"], runs["1"], strict=True)
        )
        rate = {
            key: statistics.median(r.images_per_second for r in value)
            for key, value in runs.items()
        }
        cpu = {
            key: statistics.median(r.cpu_ms_per_image for r in value) for key, value in runs.items()
        }
        user = {
            key: statistics.median(r.user_ms_per_image for r in value)
            for key, value in runs.items()
        }
        print(
            f"{mode:8} {count:6d} {rate['reference']:9.1f} {rate['1']:8.1f} {rate['2']:8.1f} "
            f"{rate['2'] / rate['reference']:6.2f}x {cpu['reference']:9.2f} {cpu['1']:9.2f} "
            f"{cpu['reference'] / cpu['1']:7.2f}x {user['reference'] / user['1']:8.2f}x "
            f"{paired:6.2f}x {paired_per_core:7.2f}x"
        )
    print(f"load average after (1, 5, 15 min): {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    write_results_json(
        args.json, [run for _, _, runs in rows for value in runs.values() for run in value]
    )
    return 0


def cpu_name() -> str:
    """The processor's model name (Linux), for the record of every comparison."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def check_reference(out_dir: Path, count: int) -> None:
    masks = len(list((out_dir / "SegmentationClassPNG").glob("*.png")))
    if masks != count:
        raise SystemExit(f"the reference wrote {masks} class masks for {count} files")


def benchmark_inputs(args: argparse.Namespace) -> tuple[Path, Path, list[str]]:
    """The fixture's annotation folder and labels file, and the annotool command to run."""
    fixture_dir = args.fixture / "annotations"
    labels_file = args.fixture / "labels.txt"
    if not fixture_dir.is_dir() or not labels_file.is_file():
        raise SystemExit(f"fixture not found: {args.fixture} (pass --fixture)")
    annotool = shlex.split(args.annotool) if args.annotool else [sys.executable, "-m", "annotool"]
    return fixture_dir, labels_file, annotool


def benchmark_parser(doc: str | None) -> argparse.ArgumentParser:
    """The options of every benchmark of annotool commands on the replicated fixture."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--files", type=int, nargs="+", default=[300], help="input sizes")
    parser.add_argument(
        "--workers", type=int, default=None, help="passed to the command (default: all CPUs)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per size and command")
    parser.add_argument("--fixture", type=Path, default=DEFAULT_FIXTURE)
    parser.add_argument(
        "--annotool", default=None, help="command to run instead of 'python -m annotool'"
    )
    parser.add_argument("--tmp", type=Path, default=None, help="where to build the input")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    return parser


def add_photos_option(parser: argparse.ArgumentParser) -> None:
    """``--photos``, for the benchmarks whose input :func:`write_inputs` makes."""
    parser.add_argument(
        "--photos",
        choices=("mixed", "mixed-png", "voc"),
        default="mixed",
        help="road frames and the fixture's VOC photos alternating, or the VOC photos alone",
    )


def write_results_json(path: Path | None, results: list[RunResult]) -> None:
    """Write every run's figures to ``path`` as a JSON list (nothing when None)."""
    if path is not None:
        path.write_text(json.dumps([asdict(result) for result in results], indent=2) + "\n")


def replicate_fixture(fixture_dir: Path, input_dir: Path, count: int) -> None:
    """Write ``count`` labelme JSON + JPEG pairs, cycling through the fixture's files."""
    _replicate(sorted(fixture_dir.glob("*.json")), input_dir, range(count))


def write_inputs(
    photos: str, fixture_dir: Path, labels_file: Path, input_dir: Path, count: int
) -> Path:
    """Write the ``photos`` set (``--photos``) of ``count`` labelme files; return its
    labels file.

    ``voc`` replicates the fixture's photos; ``mixed`` alternates them with road frames
    (:mod:`road_frames`: 1920x1080, 20-50 polygons of some twenty classes), like the sets
    of road frames and VOC photos people convert."""
    if photos == "voc":
        replicate_fixture(fixture_dir, input_dir, count)
        return labels_file
    suffix = ".png" if photos == "mixed-png" else ".jpg"
    frames = make_road_frames(input_dir.parent / "road-frames", count=6, seed=0, suffix=suffix)
    voc = sorted(fixture_dir.glob("*.json"))
    road = sorted(frames.glob("*.json"))
    _replicate(voc, input_dir, range(0, count, 2))
    _replicate(road, input_dir, range(1, count, 2))
    labels = labels_file.read_text(encoding="utf-8").splitlines()
    labels += [name for name in ROAD_CLASSES if name not in labels]
    mixed_labels = input_dir.parent / "labels.txt"
    mixed_labels.write_text("\n".join(labels) + "\n", encoding="utf-8")
    return mixed_labels


def _replicate(sources: list[Path], input_dir: Path, indexes: range) -> None:
    documents = [json.loads(path.read_text(encoding="utf-8")) for path in sources]
    input_dir.mkdir(parents=True, exist_ok=True)
    for index in indexes:
        source, document = sources[index % len(sources)], documents[index % len(sources)]
        stem = f"bench_{index:05d}_{source.stem}"
        image_source = source.parent / document["imagePath"]
        shutil.copyfile(image_source, input_dir / f"{stem}{image_source.suffix}")
        copy = {**document, "imagePath": f"{stem}{image_source.suffix}"}
        (input_dir / f"{stem}.json").write_text(json.dumps(copy), encoding="utf-8")


def startup_seconds(command: list[str]) -> float:
    """The best of three wall times of ``convert --help``: start-up and imports alone."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(
            [*command, "--help"], check=True, capture_output=True, env=COMMAND_ENVIRONMENT
        )
        times.append(time.perf_counter() - start)
    return min(times)


def time_checked_run(
    command: list[str],
    out_dir: Path,
    mode: str,
    count: int,
    workers: int | None,
    startup: float,
    check: Callable[[Path, int], None],
) -> RunResult:
    """Time one run, check what it wrote to ``out_dir``, print the figures.

    The output stays until the scratch folder goes, at the end: on ext4 without a journal
    (this machine's disk) creating files right after deleting thousands gets slower and
    slower (the allocator skips inodes deleted in the last minutes), so deleting each
    run's output before the next run made the later runs of a benchmark up to half as
    fast (two workers: 518 then 253 images/s), the fastest converter's the most.
    """
    result = time_run(command, mode, count, workers, startup)
    check(out_dir, count)
    print_result(result)
    return result


def time_run(
    command: list[str], mode: str, count: int, workers: int | None, startup: float
) -> RunResult:
    load_before = os.getloadavg()[0]
    sampler = TreeRssSampler()
    start = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=COMMAND_ENVIRONMENT
    )
    sampler.start(process.pid)
    output = process.stdout.read() if process.stdout else b""
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    sampler.stop()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.stderr.write(output.decode(errors="replace"))
        raise SystemExit(f"convert failed with exit code {process.returncode}: {command}")
    return RunResult(
        mode=mode,
        files=count,
        workers=workers,
        seconds=round(seconds, 3),
        images_per_second=round(count / seconds, 1),
        images_per_second_after_startup=round(count / max(seconds - startup, 1e-9), 1),
        cpu_ms_per_image=round(1000 * (usage.ru_utime + usage.ru_stime) / count, 2),
        user_ms_per_image=round(1000 * usage.ru_utime / count, 2),
        # Linux reports ru_maxrss in KiB.
        peak_process_rss_mib=sampler.peak_process_mib() or round(usage.ru_maxrss / 1024, 1),
        peak_tree_rss_mib=sampler.peak_mib(),
        load_average_before=round(load_before, 2),
    )


class TreeRssSampler:
    """Samples the summed resident memory of a process and its descendants from /proc,
    and the high-water mark of the largest of them."""

    def __init__(self) -> None:
        self._peak_kib = 0
        self._peak_process_kib = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, pid: int) -> None:
        if not Path("/proc").is_dir():
            return
        self._thread = threading.Thread(target=self._sample, args=(pid,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def peak_mib(self) -> float | None:
        return round(self._peak_kib / 1024, 1) if self._thread is not None else None

    def peak_process_mib(self) -> float | None:
        return round(self._peak_process_kib / 1024, 1) if self._peak_process_kib else None

    def _sample(self, root_pid: int) -> None:
        while not self._stop.is_set():
            memory = [resident_kib(pid) for pid in tree(root_pid)]
            self._peak_kib = max(self._peak_kib, sum(now for now, _ in memory))
            self._peak_process_kib = max([self._peak_process_kib, *(peak for _, peak in memory)])
            self._stop.wait(SAMPLE_SECONDS)


def tree(root_pid: int) -> list[int]:
    """``root_pid`` and all its live descendants.

    Read from each thread's ``children`` list where the kernel keeps one: scanning every
    process of /proc costs about 3 ms of CPU per sample, a seventh of a core taken from
    the command measured; following the tree costs about 0.4 ms.
    """
    if not CHILDREN_LISTED:
        return tree_by_scanning(root_pid)
    found, pending = [], [root_pid]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(child_pids(pid))
    return found


def child_pids(pid: int) -> list[int]:
    """The live children of ``pid`` (those started by any of its threads)."""
    children: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return children
    for thread in threads:
        try:
            listed = Path(f"/proc/{pid}/task/{thread}/children").read_text()
        except OSError:
            continue
        children.extend(int(child) for child in listed.split())
    return children


def tree_by_scanning(root_pid: int) -> list[int]:
    """:func:`tree` from the parent of every process in /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            parent = parent_pid(entry)
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [root_pid]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


def parent_pid(proc_entry: Path) -> int | None:
    try:
        stat = (proc_entry / "stat").read_text()
    except OSError:
        return None
    # The command name in parentheses may contain spaces; the fields after it do not.
    return int(stat.rsplit(")", 1)[1].split()[1])


def resident_kib(pid: int) -> tuple[int, int]:
    """``(VmRSS, VmHWM)`` of ``pid``: its resident memory now and at its peak, in KiB (0
    for a process that is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, 0
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return _kib(fields.get("VmRSS")), _kib(fields.get("VmHWM"))


def _kib(value: str | None) -> int:
    return int(value.split()[0]) if value else 0


def check_output(out_dir: Path, count: int) -> None:
    masks = len(list((out_dir / "SegmentationClass").glob("*.png")))
    if masks != count:
        raise SystemExit(f"convert wrote {masks} class masks for {count} files")


def print_conditions(workers: int | None, startup: float) -> None:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"CPUs available: {cpus}; --workers: {workers if workers is not None else 'default'}")
    print(f"load average (1, 5, 15 min): {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"python: {sys.version.split()[0]}; start-up ('convert --help'): {startup:.2f} s")
    print()
    print(
        f"{'mode':8} {'files':>6} {'seconds':>8} {'images/s':>9} {'-startup':>9} "
        f"{'CPU ms/im':>9} {'proc MiB':>9} {'tree MiB':>9} {'load':>5}"
    )


def print_result(result: RunResult) -> None:
    tree_mib = result.peak_tree_rss_mib
    tree_text = f"{tree_mib:9.1f}" if tree_mib is not None else f"{'n/a':>9}"
    print(
        f"{result.mode:8} {result.files:6d} {result.seconds:8.2f} "
        f"{result.images_per_second:9.1f} {result.images_per_second_after_startup:9.1f} "
        f"{result.cpu_ms_per_image:9.2f} "
        f"{result.peak_process_rss_mib:9.1f} {tree_text} "
        f"{result.load_average_before:5.2f}",
        flush=True,
    )


def print_summary(results: list[RunResult]) -> None:
    print()
    groups: dict[tuple[str, int], list[RunResult]] = {}
    for result in results:
        groups.setdefault((result.mode, result.files), []).append(result)
    for (mode, files), runs in groups.items():
        rates = [run.images_per_second for run in runs]
        tree_peaks = [run.peak_tree_rss_mib for run in runs if run.peak_tree_rss_mib is not None]
        tree_text = f", {max(tree_peaks):.1f} MiB whole tree" if tree_peaks else ""
        print(
            f"{mode} x {files}: best {max(rates):.1f} images/s, median "
            f"{statistics.median(rates):.1f} images/s over {len(runs)} run(s); peak RSS "
            f"{max(run.peak_process_rss_mib for run in runs):.1f} MiB per process{tree_text}"
        )


if __name__ == "__main__":
    sys.exit(main())
