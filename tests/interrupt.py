"""Interrupting a running miner command at a known point: after it has committed some rows."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path


def wait_for_rows(process: subprocess.Popen, db: Path, sql: str = "SELECT count(*) FROM messages",
                  at_least: int = 1, seconds: float = 60) -> int:
    """Wait until ``sql`` on ``db`` counts ``at_least`` rows (the command committed that far), the
    process ended, or ``seconds`` passed; returns the last count."""
    deadline = time.monotonic() + seconds
    count = 0
    while time.monotonic() < deadline and process.poll() is None:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=0.1) as conn:
                    count = conn.execute(sql).fetchone()[0]
            except sqlite3.Error:
                count = 0  # being created, or its schema not yet there
            if count >= at_least:
                return count
        time.sleep(0.01)
    return count


def wait_for_first_batch(process: subprocess.Popen, db: Path) -> None:
    """Wait until a running ingest has committed its first batch to ``db`` (at most five minutes:
    on a loaded machine building the test epoch and the first batch can take over a minute)."""
    wait_for_rows(process, db, seconds=300)
