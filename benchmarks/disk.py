"""Disk: the database against the raw mail it holds, on both bulk epochs (goal: at most 0.5).

    python benchmarks/disk.py [--epoch btrfs|virtualization]

Ingests each real public-inbox epoch of ../shared/corpus/bulk with the console command into a new
database and prints: the raw mail (the sum of the sizes of the messages as stored in the epoch,
the blobs ``m``), the database file after the ingest (no write-ahead log is left), their ratio,
and what takes the room (sqlite's dbstat, per table and index). Then it checks that every stored
raw mail is byte-identical to its blob (SHA-256).
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, run_measured  # noqa: E402
from ingest import EPOCH_BUNDLES, epoch_repository, miner_command  # noqa: E402

sys.path.insert(0, str(ROOT))
from miner.store import open_store  # noqa: E402

GOAL = 0.5


def blob_hashes(repo: Path) -> tuple[int, set[str]]:
    """(total bytes, SHA-256 of each) of the messages of an epoch: the blob ``m`` of every commit."""
    commits = subprocess.run(["git", f"--git-dir={repo}", "rev-list", "--reverse", "master"],
                             capture_output=True, text=True, check=True).stdout.split()
    batch = subprocess.run(["git", f"--git-dir={repo}", "cat-file", "--batch"],
                           input="".join(f"{commit}:m\n" for commit in commits).encode(),
                           capture_output=True, check=True).stdout
    total, hashes, at = 0, set(), 0
    while at < len(batch):
        end = batch.index(b"\n", at)
        header = batch[at:end].split()
        if header[-1] == b"missing":
            at = end + 1
            continue
        size = int(header[2])
        blob = batch[end + 1:end + 1 + size]
        total += size
        hashes.add(hashlib.sha256(blob).hexdigest())
        at = end + 1 + size + 1
    return total, hashes


def measure(name: str) -> float:
    repo = epoch_repository(name)
    raw_total, hashes = blob_hashes(repo)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / f"{name}.db"
        result, wall, _ = run_measured([miner_command(), "ingest", "--quiet", "--db", str(db), str(repo)],
                                       sample_memory=False)
        print(result.stdout.strip())
        wal = Path(f"{db}-wal")
        size = db.stat().st_size
        ratio = size / raw_total
        print(f"{name}: raw mail {raw_total:,} bytes; database {size:,} bytes"
              f" (write-ahead log left: {wal.stat().st_size if wal.exists() else 0:,} bytes);"
              f" ratio {ratio:.3f} (goal <= {GOAL})")
        with open_store(db, create=False) as store:
            rows = store.conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
            print("  " + ", ".join(f"{table} {pages / 1048576:.1f} MiB" for table, pages in rows[:10]))
            exact = mismatched = 0
            for message_id, sha256 in store.conn.execute("SELECT message_id, sha256 FROM raw_messages").fetchall():
                digest = hashlib.sha256(store.raw_message(message_id)).hexdigest()
                if digest == sha256 and digest in hashes:
                    exact += 1
                else:
                    mismatched += 1
        print(f"  raw mail byte-identical to its blob: {exact:,} messages, {mismatched} not")
        if mismatched:
            sys.exit(f"benchmark: {mismatched} raw mails differ from the epoch")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epoch", choices=sorted(EPOCH_BUNDLES), action="append")
    names = parser.parse_args().epoch or sorted(EPOCH_BUNDLES)
    ratios = {name: measure(name) for name in names}
    failed = [name for name, ratio in ratios.items() if ratio > GOAL]
    print("RESULT: " + ("PASS" if not failed else "FAIL: " + ", ".join(f"{n} {ratios[n]:.3f}" for n in failed)))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
