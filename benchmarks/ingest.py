"""Ingest speed and memory: `miner ingest` vs GrimoireLab Perceval's mbox backend, CLI against CLI.

    python benchmarks/ingest.py [--epoch btrfs|virtualization] [--runs 3] [--no-memory]

Reads a real public-inbox epoch from ../shared/corpus/bulk (20,000 linux-btrfs messages by
default), writes the same messages as one mboxrd with the project's own mbox writer (the function
`miner export --format mbox` writes with), installs Perceval from PyPI into its own venv
(benchmarks/.work/perceval-venv; not a dependency of the project) and runs, interleaved, best of
``--runs`` each, every one a new process as a user types it:

- ``perceval mbox file://bench DIR --json-line -o /dev/null`` (its mbox backend: parse to JSON);
- ``miner ingest --quiet --db NEW.db MBOX`` (the same mbox: parse, thread, trailers, FTS, raw kept);
- ``miner ingest --quiet --db NEW.db EPOCH`` (the epoch itself, as a lore mirror is read).

Printed for each: messages, wall seconds (start-up included), msg/s, and CPU seconds of the whole
process tree (user + sys of the command and every process it waited for: parser workers, git),
from ``resource.getrusage(RUSAGE_CHILDREN)``, with the orphans of terminated parser processes
adopted and reaped here (``git cat-file`` among them); then both ratios against Perceval (goals: msg/s at
least 3 times, CPU per message at most 0.4 of Perceval's). Then (unless ``--no-memory``) miner's
peak memory of the whole job for the first 5,000 and all 20,000 messages (goal: <= 300 MB and flat),
and for the last 5,000 ingested into a database that holds the first 15,000.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, WORK, bulk_epoch, grow_epoch, run_measured  # noqa: E402

sys.path.insert(0, str(ROOT))
from miner.export.writers import write_mbox  # noqa: E402
from miner.sources.publicinbox import read_epoch  # noqa: E402
from miner.store import BATCH_PRAGMAS  # noqa: E402

RSS_LIMIT_MB = 300
PAGE_CACHE_MB = next(-int(p.split("=")[1]) // 1024 for p in BATCH_PRAGMAS if p.startswith("cache_size="))
SPEED_GOAL = 3.0
CPU_GOAL = 0.4
PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h
EPOCH_BUNDLES = {"btrfs": "linux-btrfs-0-first20k.bundle", "virtualization": "virtualization-0-first15k.bundle"}


def epoch_repository(name: str) -> Path:
    """A bare clone of a bulk epoch (the btrfs one through _common, which the other benchmarks share)."""
    if name == "btrfs":
        return bulk_epoch()
    bundle = ROOT.parent / "shared" / "corpus" / "bulk" / EPOCH_BUNDLES[name]
    if not bundle.exists():
        sys.exit(f"benchmark: {bundle} not found (the shared corpus must sit beside the project)")
    repo = WORK / f"{name}-0.git"
    if not repo.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "clone", "-q", "--bare", str(bundle), str(repo)], check=True)
    return repo


def export_mbox(epoch: Path, out: Path) -> int:
    """Every message of the epoch as mboxrd, by the project's mbox writer (miner.export.writers.write_mbox)."""
    return write_mbox(out, (mail.raw for mail in read_epoch(epoch) if hasattr(mail, "raw")))  # Skipped: no mail


def perceval_command() -> Path:
    """The ``perceval`` command of a venv with Perceval installed from PyPI (created on first use)."""
    venv = WORK / "perceval-venv"
    command = venv / "bin" / "perceval"
    if not command.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "perceval"], check=True)
    return command


def adopt_orphans() -> None:
    """Make this process the reaper of its descendants' orphans (Linux ``PR_SET_CHILD_SUBREAPER``).

    A parser process that the ingest's pool terminates leaves its ``git cat-file`` running until git reads
    the end of its input; git is then nobody's child but init's, and its CPU would be missing from
    RUSAGE_CHILDREN (about 1 CPU s of an epoch's 20,000 messages). Adopted, it is reaped here and counted.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit(f"benchmark: prctl(PR_SET_CHILD_SUBREAPER) failed: {os.strerror(ctypes.get_errno())}")


def reap_orphans() -> None:
    """Wait for every adopted orphan (adopt_orphans) to end, so RUSAGE_CHILDREN holds its CPU."""
    while True:
        try:
            os.wait()
        except ChildProcessError:
            return


def timed(command: list[str]) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run ``command``; (result, wall seconds, CPU seconds of it and every process it started, orphans
    included: see adopt_orphans)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.monotonic() - started
    reap_orphans()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"benchmark: {' '.join(command)} failed:\n{result.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result, wall, cpu


def miner_command() -> str:
    miner = Path(sys.executable).parent / "miner"
    return str(miner) if miner.exists() else "miner"


def run_perceval(mbox_dir: Path, out: Path) -> tuple[int, float, float]:
    _, wall, cpu = timed([str(perceval_command()), "mbox", "file://bench", str(mbox_dir), "--json-line",
                          "-o", str(out)])
    with open(out, "rb") as items:
        count = sum(1 for _ in items)
    return count, wall, cpu


def run_miner(source: Path, db: Path) -> tuple[int, float, float]:
    result, wall, cpu = timed([miner_command(), "ingest", "--quiet", "--db", str(db), str(source)])
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return int(re.search(r"(\d+) messages read", result.stdout).group(1)), wall, cpu


def report(name: str, runs: list[tuple[int, float, float]]) -> tuple[float, float]:
    """Print the best of ``runs``; returns (msg/s by wall clock, CPU seconds per message), each the best."""
    count = runs[0][0]
    best_wall = min(run[1] for run in runs)
    best_cpu = min(run[2] for run in runs)
    print(f"{name:<26} {count:>6} messages  wall {best_wall:6.2f} s = {count / best_wall:7,.0f} msg/s"
          f"  CPU {best_cpu:6.2f} s = {1000 * best_cpu / count:.3f} ms/msg  (runs: "
          + ", ".join(f"{c / w:,.0f} msg/s {u:.1f} s CPU" for c, w, u in runs) + ")")
    return count / best_wall, best_cpu / count


def measure_memory(source: Path, db: Path) -> tuple[int, tuple[int, int]]:
    """(messages, (peak tree PSS, peak process RSS) KiB) of one ingest."""
    result, _, peak = run_measured([miner_command(), "ingest", "--quiet", "--db", str(db), str(source)])
    return int(re.search(r"(\d+) messages read", result.stdout).group(1)), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epoch", choices=sorted(EPOCH_BUNDLES), default="btrfs")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-memory", action="store_true", help="skip the memory runs")
    args = parser.parse_args()
    adopt_orphans()
    epoch = epoch_repository(args.epoch)
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        mbox_dir = tmp_path / "mbox"
        mbox_dir.mkdir()
        mbox = mbox_dir / f"{args.epoch}.mbox"
        exported = export_mbox(epoch, mbox)
        print(f"epoch: {epoch} ({exported} messages, {mbox.stat().st_size:,} bytes as mboxrd for both tools)")
        perceval_command()  # installed before anything is timed

        # interleaved: on a shared machine noise only ever slows a run, so the best of each is compared
        perceval_runs, mbox_runs, epoch_runs = [], [], []
        for run in range(args.runs):
            perceval_runs.append(run_perceval(mbox_dir, tmp_path / "perceval.jsonl"))
            mbox_runs.append(run_miner(mbox, tmp_path / f"mbox-{run}.db"))
            epoch_runs.append(run_miner(epoch, tmp_path / f"epoch-{run}.db"))
        print("CLI against CLI, best of", args.runs, "interleaved runs (wall clock includes start-up):")
        perceval_rate, perceval_cpu = report("perceval mbox", perceval_runs)
        results = {}
        for name, runs in (("miner ingest (the mbox)", mbox_runs), ("miner ingest (the epoch)", epoch_runs)):
            results[name] = report(name, runs)
        for name, (rate, cpu) in results.items():
            speed, cpu_ratio = rate / perceval_rate, cpu / perceval_cpu
            print(f"{name}: {speed:.2f} x Perceval's msg/s (goal >= {SPEED_GOAL}),"
                  f" {cpu_ratio:.2f} x its CPU per message (goal <= {CPU_GOAL})")
            if speed < SPEED_GOAL:
                failures.append(f"{name}: speed ratio {speed:.2f} < {SPEED_GOAL}")
            if cpu_ratio > CPU_GOAL:
                failures.append(f"{name}: CPU ratio {cpu_ratio:.2f} > {CPU_GOAL}")
        print("json:", json.dumps({"perceval": [perceval_rate, perceval_cpu], **results}))

        if not args.no_memory and args.epoch == "btrfs":
            # memory in runs of their own (sampling it slows the processes it reads)
            _, peak_full = measure_memory(epoch, tmp_path / "full-memory.db")
            _, peak_5k = measure_memory(bulk_epoch(prefix=5000), tmp_path / "5k.db")
            growing = grow_epoch(tmp_path / "growing.git", 15000)
            measure_memory(growing, tmp_path / "15k.db")
            grow_epoch(growing, None)
            last_count, peak_last = measure_memory(growing, tmp_path / "15k.db")
            print(f"peak memory of the whole job (sum of PSS: parent, parser workers, git): "
                  f"{peak_5k[0] / 1024:.0f} MB for 5,000 messages, {peak_full[0] / 1024:.0f} MB for 20,000"
                  f" (goal <= {RSS_LIMIT_MB} MB and flat)")
            print(f"peak memory ingesting only the last {last_count:,} messages into a database of 15,000:"
                  f" {peak_last[0] / 1024:.0f} MB")
            if peak_full[0] / 1024 > RSS_LIMIT_MB:
                failures.append(f"peak memory {peak_full[0] / 1024:.0f} MB > {RSS_LIMIT_MB} MB")
            # flat: the same mail in flight at the end of both runs. The ingest's page cache (BATCH_PRAGMAS)
            # fills with the pages a run touches up to its bound and no further, so a run over more
            # mail may hold up to that much more (benchmarks/scale.py: the same peak at every step to
            # 200,000 messages)
            if peak_full[0] / 1024 > peak_last[0] / 1024 * 1.25 + PAGE_CACHE_MB:
                failures.append("memory grows with the number of messages stored")
    print("RESULT: " + ("PASS" if not failures else "FAIL: " + "; ".join(failures)))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
