"""lkml-miner at 200,000 messages: ingest rate per step, memory, disk, classify, query latency.

    python benchmarks/scale.py [--messages 200000] [--step 20000]

The messages are the two real public-inbox epochs of `../shared/corpus/bulk` (20,000 linux-btrfs
and 15,000 virtualization messages). Every step ingests the same mix of both (the first 4/7 of a
step from btrfs, the rest from virtualization: 11,429 + 8,571 for a step of 20,000), each replay
with its own Message-IDs (Message-ID, In-Reply-To and References get a `.rN` suffix), so threads
stay threads and every message is new. The same bytes in every step make the steps comparable:
a slower step is the larger database's doing, not other mail (the virtualization epoch's
messages are larger, so a stream that cycled through the epochs would mix content into the rate).
Each step is an mbox ingested by the console command into one database, as a user grows a database
list by list. Printed:

- msg/s of every step (wall, and CPU seconds of the whole process tree per 1,000 messages, which
  the other jobs of a shared machine disturb less), and the slowest step against the first (goal:
  no step more than 25% slower);
- peak memory of the whole job (PSS of the ingest or classify process, its parser processes and
  git, summed; sampled every 0.2 s) over all steps and the classify run (goal: at most 300 MB),
  and the largest single process's RSS (getrusage of the reaped children);
- database size per 1,000 messages and against the raw mail it holds;
- `miner classify` msg/s over the whole database;
- p50/p95 of `miner threads --label deadlock`, `miner query search_messages`, both as a user runs
  them (a new process each time) and as their query work alone (in this process), of starting
  Python and importing the CLI, and of the thread page of the longest thread (`miner serve`);
- `miner export --format parquet` of the whole database (time, memory, size), and one scan of
  every body in SQLite against DuckDB on that export (when duckdb is installed: the test extras).

``--keep DIR`` keeps the database (``DIR/scale.db``) for later queries or exports.
"""

from __future__ import annotations

import argparse
import itertools
import re
import resource
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, WORK, run_measured  # noqa: E402

sys.path.insert(0, str(ROOT))
from miner.export.writers import mboxrd_entry  # noqa: E402
from miner.sources.publicinbox import read_epoch  # noqa: E402
from miner.textstore import register_text_functions  # noqa: E402

BUNDLES = [ROOT.parent / "shared" / "corpus" / "bulk" / name
           for name in ("linux-btrfs-0-first20k.bundle", "virtualization-0-first15k.bundle")]
ID_HEADER = re.compile(rb"^((?:Message-ID|In-Reply-To|References):.*(?:\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
ID = re.compile(rb"<([^>@]+)@")
STEP_SLOWDOWN_GOAL = 1.25
MEMORY_GOAL_MB = 300
LATENCY_RUNS = 20


def epochs() -> list[Path]:
    """Bare clones of both bulk epochs."""
    WORK.mkdir(parents=True, exist_ok=True)
    clones = []
    for bundle in BUNDLES:
        if not bundle.exists():
            sys.exit(f"benchmark: {bundle} not found (the shared corpus must sit beside the project)")
        clone = WORK / bundle.name.replace(".bundle", ".git")
        if not clone.exists():
            subprocess.run(["git", "clone", "-q", "--bare", str(bundle), str(clone)], check=True)
        clones.append(clone)
    return clones


def replayed(raw: bytes, replay: int) -> bytes:
    """``raw`` with every Message-ID of its threading headers suffixed for replay ``replay``."""
    if replay == 0:
        return raw
    suffix = b".r%d@" % replay
    head, sep, body = raw.partition(b"\n\n")
    head = ID_HEADER.sub(lambda m: ID.sub(lambda i: b"<" + i.group(1) + suffix, m.group(1)), head)
    return head + sep + body


def step_mix(step: int) -> list[bytes]:
    """The raw messages of one step: the first 4/7 of ``step`` from btrfs, the rest from virtualization."""
    btrfs_count = round(step * 20_000 / 35_000)
    mix = []
    for epoch, count in zip(epochs(), (btrfs_count, step - btrfs_count)):
        mails = (mail.raw for mail in read_epoch(epoch) if hasattr(mail, "raw"))
        mix.extend(itertools.islice(mails, count))
    return mix


def children_usage() -> tuple[float, int]:
    """(user + system CPU seconds, largest max RSS in KiB) of every child process reaped so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"


def timed_runs(command: list[str]) -> list[float]:
    runs = []
    for _ in range(LATENCY_RUNS):
        started = time.monotonic()
        subprocess.run(command, check=True, capture_output=True)
        runs.append(time.monotonic() - started)
    return runs


def in_process_latency(db: Path) -> tuple[list[float], list[float]]:
    """The query work alone of `miner threads --label deadlock` and of the search (no process start, no imports)."""
    from miner.queries import run_query
    from miner.reading import count_threads, list_threads, unclassified_threads
    from miner.store import open_store

    threads, search = [], []
    for _ in range(LATENCY_RUNS):
        started = time.monotonic()
        with open_store(db, create=False) as store:  # what the command does, minus starting Python
            list_threads(store, ["deadlock"], limit=50)
            count_threads(store, ["deadlock"])
            unclassified_threads(store)
        threads.append(time.monotonic() - started)
        started = time.monotonic()
        with open_store(db, create=False) as store:
            run_query(store, "search_messages", {"q": "deadlock"})
        search.append(time.monotonic() - started)
    return threads, search


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def aggregate_latency(db: Path, export: Path) -> tuple[float, float | None]:
    """Seconds of one scan of every message (count per list and year of messages saying "deadlock"):
    SQLite on the database, DuckDB on the Parquet export (None without duckdb installed)."""
    started = time.monotonic()
    with sqlite3.connect(db) as conn:
        register_text_functions(conn)  # messages.body is read through it (schema 7)
        conn.execute("SELECT list_id, substr(date, 1, 4), count(*) FROM messages WHERE ghost = 0"
                     " AND instr(body, 'deadlock') > 0 GROUP BY 1, 2").fetchall()
    sqlite_seconds = time.monotonic() - started
    try:
        import duckdb
    except ImportError:
        return sqlite_seconds, None
    started = time.monotonic()
    duckdb.connect().execute(
        f"SELECT list, year, count(*) FROM read_parquet('{export}/messages/*/*/*.parquet', hive_partitioning = true)"
        " WHERE contains(body, 'deadlock') GROUP BY 1, 2").fetchall()
    return sqlite_seconds, time.monotonic() - started


def page_latency(miner: str, db: Path, path: str) -> list[float]:
    """Latencies of ``path`` served by `miner serve` (the first request, which warms caches, not counted)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([miner, "serve", "--db", str(db), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}{path}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url, timeout=30).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        runs = []
        for _ in range(LATENCY_RUNS):
            started = time.monotonic()
            urllib.request.urlopen(url, timeout=30).read()
            runs.append(time.monotonic() - started)
        return runs
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200_000, help="messages in all (default 200,000)")
    parser.add_argument("--step", type=int, default=20_000, help="messages per ingest step (default 20,000)")
    parser.add_argument("--keep", type=Path, help="keep the database as DIR/scale.db")
    args = parser.parse_args()
    script = Path(sys.executable).parent / "miner"
    miner = str(script) if script.exists() else "miner"
    WORK.mkdir(parents=True, exist_ok=True)
    mix = step_mix(args.step)
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        db = Path(tmp) / "scale.db"
        rates, cpu_per_1k, peak_kib, raw_bytes, stored = [], [], 0, 0, 0
        for step in range(1, -(-args.messages // args.step) + 1):
            count = min(args.step, args.messages - stored)
            mbox = Path(tmp) / "step.mbox"
            with open(mbox, "wb") as handle:
                for raw in mix[:count]:
                    replay = replayed(raw, step - 1)
                    raw_bytes += len(replay)
                    handle.write(mboxrd_entry(replay))
            cpu_before, _ = children_usage()
            result, wall, (pss, _) = run_measured([miner, "ingest", "--quiet", "--db", str(db), str(mbox)],
                                                  interval=0.2)
            cpu = children_usage()[0] - cpu_before
            seconds = float(re.search(r"\(([\d.]+) s,", result.stdout).group(1))
            read, rejected = (int(re.search(pattern, result.stdout).group(1))
                              for pattern in (r"(\d+) messages read", r"(\d+) rejected"))
            if read != count or rejected:
                sys.exit(f"benchmark: step {step} read {read} of {count} messages, {rejected} rejected:"
                         f" {result.stdout}")
            stored += count
            rates.append(count / seconds)
            cpu_per_1k.append(cpu / count * 1000)
            peak_kib = max(peak_kib, pss)
            print(f"step {step}: {stored:,} messages, {rates[-1]:,.0f} msg/s ({cpu_per_1k[-1]:.2f} CPU s per 1,000),"
                  f" peak {pss / 1024:.0f} MB, database {db.stat().st_size / 2**20:,.0f} MiB", flush=True)
        mbox.unlink()
        size = db.stat().st_size
        with sqlite3.connect(db) as conn:  # the epochs hold a few copies of one Message-ID: stored once
            real = conn.execute("SELECT count(*) FROM messages WHERE ghost = 0").fetchone()[0]
        classify, _, (pss, _) = run_measured([miner, "classify", "--quiet", "--db", str(db)], interval=0.2)
        match = re.search(r"\((\d+) messages\).*\(([\d.]+) s,", classify.stdout)
        classify_rate = int(match.group(1)) / float(match.group(2))
        print(f"classify: {classify.stdout.strip()} (peak {pss / 1024:.0f} MB)", flush=True)
        peak_kib = max(peak_kib, pss)
        largest_rss = children_usage()[1]
        threads = timed_runs([miner, "threads", "--db", str(db), "--label", "deadlock"])
        search = timed_runs([miner, "query", "--db", str(db), "search_messages", "--param", "q=deadlock"])
        imports = timed_runs([sys.executable, "-c", "import miner.cli"])
        threads_work, search_work = in_process_latency(db)
        with sqlite3.connect(db) as conn:
            root, longest = conn.execute(
                "SELECT root_message_id, message_count FROM threads ORDER BY message_count DESC LIMIT 1").fetchone()
        page = page_latency(miner, db, "/-/thread/" + urllib.parse.quote(root, safe="@"))
        export = Path(tmp) / "export"
        _, export_wall, (export_pss, _) = run_measured(
            [miner, "export", "--db", str(db), "--format", "parquet", "--out", str(export)], interval=0.2)
        export_size = folder_bytes(export)
        scan_sqlite, scan_duckdb = aggregate_latency(db, export)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            shutil.move(db, args.keep / "scale.db")
    slowest = min(rates)
    slowdown = rates[0] / slowest
    print(f"ingest: first step {rates[0]:,.0f} msg/s, slowest {slowest:,.0f} msg/s ({slowdown:.2f}x slower;"
          f" goal <= {STEP_SLOWDOWN_GOAL}); CPU s per 1,000 first {cpu_per_1k[0]:.2f}, highest"
          f" {max(cpu_per_1k):.2f} ({max(cpu_per_1k) / cpu_per_1k[0]:.2f}x)")
    print(f"peak memory of the whole job: {peak_kib / 1024:.0f} MB PSS (goal <= {MEMORY_GOAL_MB});"
          f" largest single process {largest_rss / 1024:.0f} MB RSS")
    print(f"database: {size / 2**20:,.0f} MiB for {real:,} stored messages ({stored:,} ingested) ="
          f" {size / real * 1000 / 2**20:.1f} MiB per 1,000; {size / raw_bytes:.2f} x the raw mail"
          f" ({raw_bytes / 2**20:,.0f} MiB)")
    print(f"classify: {classify_rate:,.0f} msg/s")
    print(f"miner threads --label deadlock: {percentiles(threads)} (the query alone, in process:"
          f" {percentiles(threads_work)})")
    print(f"miner query search_messages q=deadlock: {percentiles(search)} (in process: {percentiles(search_work)})")
    print(f"python -c 'import miner.cli' (every command pays it): {percentiles(imports)}")
    print(f"thread page of the longest thread ({longest} messages): {percentiles(page)}")
    print(f"miner export --format parquet (everything, Hive partitions): {export_wall:.0f} s, peak"
          f" {export_pss / 1024:.0f} MB PSS, {export_size / 2**20:,.0f} MiB ({export_size / size:.2f} x the database)")
    print(f"one scan of every body (messages saying 'deadlock' per list and year): SQLite {scan_sqlite:.1f} s"
          + (f", DuckDB on the export {scan_duckdb:.1f} s" if scan_duckdb is not None else " (no duckdb to compare)"))
    ok = slowdown <= STEP_SLOWDOWN_GOAL and peak_kib / 1024 <= MEMORY_GOAL_MB
    print(f"RESULT: {'PASS' if ok else 'FAIL'} (steps within {STEP_SLOWDOWN_GOAL}x of the first,"
          f" memory <= {MEMORY_GOAL_MB} MB)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
