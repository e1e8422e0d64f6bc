"""Ingest speed and memory: miner vs GrimoireLab Perceval's mbox backend on the same 20,000 messages.

    python benchmarks/ingest.py

Reads the real linux-btrfs public-inbox epoch from ../shared/corpus/bulk, exports the same
messages as an mboxrd for Perceval, installs Perceval from PyPI into its own venv
(benchmarks/.work/perceval-venv), and measures in one run: Perceval's messages/s over its
``fetch()``, miner's messages/s ingesting the epoch (parse, thread, store, FTS), each the best of
three interleaved runs, their ratio (goal: >= 2), and miner's peak RSS (whole process tree, workers included) for the first 5,000
and for all 20,000 messages (goal: <= 300 MB and flat); and, to tell growth with the number of messages from growth with
their size, the peak when only the last 5,000 messages are ingested into a database that
already holds the first 15,000.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, WORK, bulk_epoch, grow_epoch, run_measured  # noqa: E402

PERCEVAL_SCRIPT = """
import sys, time
from perceval.backends.core.mbox import MBox
backend = MBox("file://bench", sys.argv[1])
started = time.monotonic()
count = sum(1 for _ in backend.fetch())
print(count, time.monotonic() - started)
"""
RSS_LIMIT_MB = 300
RUNS = 3


def export_mbox(epoch: Path, out: Path) -> int:
    """Write every message of the epoch as mboxrd (what lore's mbox downloads look like), as
    `miner export --format mbox` writes it."""
    sys.path.insert(0, str(ROOT))
    from miner.export.writers import mboxrd_entry
    from miner.sources.publicinbox import read_epoch

    count = 0
    with open(out, "wb") as handle:
        for mail in read_epoch(epoch):
            if hasattr(mail, "raw"):  # commits without a message are Skipped
                handle.write(mboxrd_entry(mail.raw))
                count += 1
    return count


def perceval_python() -> Path:
    """The Python of a venv with Perceval installed (created on first use)."""
    venv = WORK / "perceval-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "perceval"], check=True)
    return python


def measure_perceval(mbox_dir: Path) -> tuple[int, float]:
    result, _, _ = run_measured([str(perceval_python()), "-c", PERCEVAL_SCRIPT, str(mbox_dir)], sample_memory=False)
    count, seconds = result.stdout.split()
    return int(count), float(seconds)


def measure_miner(epoch: Path, db: Path, sample_memory: bool = True) -> tuple[int, float, float, tuple[int, int]]:
    """(messages, seconds inside ingest, wall seconds, (peak tree PSS, peak process RSS) KiB)."""
    miner = Path(sys.executable).parent / "miner"
    command = [str(miner) if miner.exists() else "miner", "ingest", "--quiet", "--db", str(db), str(epoch)]
    result, wall, peak = run_measured(command, sample_memory=sample_memory)
    match = re.search(r"(\d+) messages read: .*\(([\d.]+) s,", result.stdout)
    return int(match.group(1)), float(match.group(2)), wall, peak


def main() -> None:
    epoch = bulk_epoch()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        mbox_dir = tmp_path / "mbox"
        mbox_dir.mkdir()
        exported = export_mbox(epoch, mbox_dir / "linux-btrfs.mbox")
        print(f"epoch: {epoch} ({exported} messages exported as mboxrd for Perceval)")

        # Best of RUNS for each tool, interleaved: on a shared machine noise only ever slows a run.
        perceval_runs, miner_runs = [], []
        for run in range(RUNS):
            perceval_runs.append(measure_perceval(mbox_dir))
            database = tmp_path / f"full-{run}.db"
            miner_runs.append(measure_miner(epoch, database, sample_memory=False)[:3])
            database.unlink()
        perceval_count, perceval_seconds = min(perceval_runs, key=lambda run: run[1])
        perceval_rate = perceval_count / perceval_seconds
        print(f"perceval mbox backend: {perceval_count} messages in {perceval_seconds:.2f} s"
              f" = {perceval_rate:,.0f} msg/s (best of {RUNS}: "
              + ", ".join(f"{c / s:,.0f}" for c, s in perceval_runs) + ")")
        count, seconds, wall = min(miner_runs, key=lambda run: run[1])
        miner_rate = count / seconds
        print(f"miner ingest:          {count} messages in {seconds:.2f} s = {miner_rate:,.0f} msg/s (best of {RUNS}: "
              + ", ".join(f"{c / s:,.0f}" for c, s, _ in miner_runs)
              + f"; wall clock with interpreter start-up: {wall:.2f} s = {count / wall:,.0f} msg/s)")
        ratio = miner_rate / perceval_rate
        print(f"ratio miner / perceval: {ratio:.2f} (goal >= 2)")

        # memory, in runs of their own (sampling it slows the processes it reads)
        _, _, _, peak_full = measure_miner(epoch, tmp_path / "full-memory.db")
        _, _, _, peak_5k = measure_miner(bulk_epoch(prefix=5000), tmp_path / "5k.db")
        # the last 5,000 messages on top of a database that already holds the first 15,000: one
        # repository whose branch is moved from commit 15,000 to the end between two ingests
        growing = grow_epoch(tmp_path / "growing.git", 15000)
        measure_miner(growing, tmp_path / "15k.db")
        grow_epoch(growing, None)
        last_count, _, _, peak_last = measure_miner(growing, tmp_path / "15k.db")
        print(f"peak memory of the whole job (sum of PSS: parent, parser workers, git): "
              f"{peak_5k[0] / 1024:.0f} MB for 5,000 messages, {peak_full[0] / 1024:.0f} MB for 20,000"
              f" (goal <= {RSS_LIMIT_MB} MB and flat)")
        print(f"peak RSS of the largest single process: {peak_5k[1] / 1024:.0f} MB for 5,000,"
              f" {peak_full[1] / 1024:.0f} MB for 20,000")
        print(f"peak memory ingesting only the last {last_count:,} messages into a database of 15,000:"
              f" {peak_last[0] / 1024:.0f} MB (the last messages of the epoch are the largest: memory follows"
              " the mail in flight, not the number of messages stored)")

    failures = []
    if ratio < 2:
        failures.append(f"ratio {ratio:.2f} < 2")
    if peak_full[0] / 1024 > RSS_LIMIT_MB:
        failures.append(f"peak memory {peak_full[0] / 1024:.0f} MB > {RSS_LIMIT_MB} MB")
    # Flat means: not growing with the number of messages stored. The run that stores only the last
    # 5,000 messages (on top of 15,000) has the same mail in flight at its end as the full run.
    if peak_full[0] > peak_last[0] * 1.25:
        failures.append("memory grows with the number of messages stored")
    print("RESULT: " + ("PASS" if not failures else "FAIL: " + "; ".join(failures)))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
