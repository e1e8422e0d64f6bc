"""Interrupting a running miner command at a known point: after it has committed some rows."""

from __future__ import annotations

import os
import signal
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


def default_sigint() -> None:
    """``preexec_fn`` of a command a test will Ctrl-C: SIGINT as a terminal delivers it. A test run
    started in the background inherits SIGINT ignored, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# On a loaded 2-core machine building the test epoch and committing the first batch can take over a minute.
FIRST_BATCH_SECONDS = 300


def signal_after_rows(process: subprocess.Popen, db: Path, sql: str = "SELECT count(*) FROM messages",
                      at_least: int = 1, seconds: float = FIRST_BATCH_SECONDS, sig: int = signal.SIGKILL,
                      group: bool = False) -> int:
    """``kill -9`` (or ``sig``; to the whole process group with ``group``, as a terminal's Ctrl-C) the
    running command once ``sql`` on ``db`` counts ``at_least`` rows; returns that count. A smaller
    count: the command ended first or time ran out, and it was not signalled."""
    count = wait_for_rows(process, db, sql, at_least, seconds)
    if count >= at_least and process.poll() is None:
        try:
            (os.killpg if group else os.kill)(process.pid, sig)
        except ProcessLookupError:
            pass  # it ended just now
    return count
