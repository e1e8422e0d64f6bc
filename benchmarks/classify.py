"""`miner classify` speed on the database built from the 20,000-message linux-btrfs epoch.

    python benchmarks/classify.py

Goal: at least 5,000 messages/s. Builds the database with `miner ingest` (not timed), then
times `miner classify --force` (every thread, all messages).
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import bulk_epoch, run_measured  # noqa: E402

GOAL = 5000


def main() -> None:
    miner = Path(sys.executable).parent / "miner"
    miner_command = str(miner) if miner.exists() else "miner"
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bulk.db"
        run_measured([miner_command, "ingest", "--quiet", "--db", str(db), str(bulk_epoch())])
        result, wall, _ = run_measured([miner_command, "classify", "--quiet", "--force", "--db", str(db)],
                                       sample_memory=False)
        _, _, peak = run_measured([miner_command, "classify", "--quiet", "--force", "--db", str(db)])
    print(result.stdout.strip())
    match = re.search(r"\((\d+) messages\).*\(([\d.]+) s,", result.stdout)
    messages, seconds = int(match.group(1)), float(match.group(2))
    rate = messages / seconds
    print(f"miner classify: {messages} messages in {seconds:.2f} s = {rate:,.0f} msg/s"
          f" (wall clock {wall:.2f} s = {messages / wall:,.0f} msg/s; peak memory {peak[0] / 1024:.0f} MB)")
    print(f"RESULT: {'PASS' if rate >= GOAL else 'FAIL'} (goal >= {GOAL:,} msg/s)")
    sys.exit(0 if rate >= GOAL else 1)


if __name__ == "__main__":
    main()
