"""lkml-miner at 200,000 messages: ingest rate per step, memory, disk, classify, query latency.

    python benchmarks/scale.py [--messages 200000] [--step 20000]

The messages are the two real public-inbox epochs of `../shared/corpus/bulk` (20,000 linux-btrfs
and 15,000 virtualization messages), replayed as often as needed, each replay with its own
Message-IDs (Message-ID, In-Reply-To and References get a `.rN` suffix), so threads stay threads
and every message is new. Each step of ``--step`` messages is an mbox ingested by the console
command into one database, as a user grows a database list by list. Printed:

- msg/s of every step, and the slowest step against the first (goal: no step more than 25% slower);
- peak memory of the whole job (parent, parser processes, git) over all steps (goal: at most 300 MB);
- database size per 1,000 messages and against the raw mail it holds;
- `miner classify` msg/s over the whole database;
- p50/p95 of `miner threads --label deadlock`, `miner query search_messages`, both as a user runs
  them (a new process each time), and of the thread page of the longest thread (`miner serve`).
"""

from __future__ import annotations

import argparse
import itertools
import re
import socket
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


def messages(total: int):
    """``total`` raw messages: the epochs in turn, replayed with new IDs until there are enough."""
    sources = epochs()
    count = 0
    for replay in itertools.count():
        for epoch in sources:
            for mail in read_epoch(epoch):
                if not hasattr(mail, "raw"):
                    continue
                yield replayed(mail.raw, replay)
                count += 1
                if count == total:
                    return


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
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--step", type=int, default=20_000)
    args = parser.parse_args()
    script = Path(sys.executable).parent / "miner"
    miner = str(script) if script.exists() else "miner"
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        db = Path(tmp) / "scale.db"
        stream = messages(args.messages)
        rates, peak_kib, raw_bytes, stored = [], 0, 0, 0
        for step in itertools.count(1):
            chunk = list(itertools.islice(stream, args.step))
            if not chunk:
                break
            mbox = Path(tmp) / "step.mbox"
            with open(mbox, "wb") as handle:
                for raw in chunk:
                    handle.write(mboxrd_entry(raw))
            raw_bytes += sum(len(raw) for raw in chunk)
            result, wall, (pss, _) = run_measured([miner, "ingest", "--quiet", "--db", str(db), str(mbox)])
            seconds = float(re.search(r"\(([\d.]+) s,", result.stdout).group(1))
            stored += len(chunk)
            rates.append(len(chunk) / seconds)
            peak_kib = max(peak_kib, pss)
            print(f"step {step}: {stored:,} messages, {rates[-1]:,.0f} msg/s, peak {pss / 1024:.0f} MB,"
                  f" database {db.stat().st_size / 2**20:,.0f} MiB")
        mbox.unlink()
        size = db.stat().st_size
        classify, _, _ = run_measured([miner, "classify", "--quiet", "--db", str(db)], sample_memory=False)
        match = re.search(r"\((\d+) messages\).*\(([\d.]+) s,", classify.stdout)
        classify_rate = int(match.group(1)) / float(match.group(2))
        threads = timed_runs([miner, "threads", "--db", str(db), "--label", "deadlock"])
        search = timed_runs([miner, "query", "--db", str(db), "search_messages", "--param", "q=deadlock"])
        import sqlite3
        with sqlite3.connect(db) as conn:
            root = conn.execute("SELECT root_message_id FROM threads ORDER BY message_count DESC LIMIT 1").fetchone()[0]
        page = page_latency(miner, db, "/-/thread/" + urllib.parse.quote(root, safe="@"))
    slowest = min(rates)
    slowdown = rates[0] / slowest
    print(f"ingest: first step {rates[0]:,.0f} msg/s, slowest {slowest:,.0f} msg/s ({slowdown:.2f}x slower;"
          f" goal <= {STEP_SLOWDOWN_GOAL})")
    print(f"peak memory of the whole job: {peak_kib / 1024:.0f} MB (goal <= {MEMORY_GOAL_MB})")
    print(f"database: {size / 2**20:,.0f} MiB for {stored:,} messages = {size / stored * 1000 / 2**20:.1f} MiB per"
          f" 1,000; {size / raw_bytes:.2f} x the raw mail ({raw_bytes / 2**20:,.0f} MiB)")
    print(f"classify: {classify_rate:,.0f} msg/s")
    print(f"miner threads --label deadlock: {percentiles(threads)}")
    print(f"miner query search_messages q=deadlock: {percentiles(search)}")
    print(f"thread page of the longest thread: {percentiles(page)}")
    ok = slowdown <= STEP_SLOWDOWN_GOAL and peak_kib / 1024 <= MEMORY_GOAL_MB
    print(f"RESULT: {'PASS' if ok else 'FAIL'} (steps within {STEP_SLOWDOWN_GOAL}x of the first,"
          f" memory <= {MEMORY_GOAL_MB} MB)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
