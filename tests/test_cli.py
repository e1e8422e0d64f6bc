"""The ``miner`` command as a user runs it: databases closed whole, one-line errors, bounded input."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BULK_BUNDLE, need_shared

MINER = [sys.executable, "-m", "miner"]
PARALLEL_COMMITS = 2500  # above the ingest's PARALLEL_THRESHOLD (2,000): the forked-worker path


def run_miner(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the console command in its own process (as a user would); text output."""
    return subprocess.run([*MINER, *map(str, args)], capture_output=True, text=True, timeout=timeout, check=False)


def bulk_epoch(directory: Path, commits: int) -> Path:
    """The first ``commits`` commits of the real linux-btrfs epoch (../shared bundle) as a bare repository."""
    bundle = need_shared(BULK_BUNDLE)
    epoch = directory / "linux-btrfs-0.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(bundle), str(epoch)], check=True)
    oldest_first = subprocess.run(["git", f"--git-dir={epoch}", "rev-list", "--reverse", "HEAD"], check=True,
                                  capture_output=True, text=True).stdout.split()
    subprocess.run(["git", f"--git-dir={epoch}", "update-ref", "HEAD", oldest_first[commits - 1]], check=True)
    return epoch


def test_a_parallel_ingest_leaves_no_write_ahead_log_and_the_db_file_alone_is_whole(tmp_path):
    epoch = bulk_epoch(tmp_path, PARALLEL_COMMITS)
    db = tmp_path / "lkml.db"
    result = run_miner("ingest", "--quiet", "--workers", "2", "--db", db, epoch)
    assert result.returncode == 0, result.stderr
    assert f"{PARALLEL_COMMITS} messages read" in result.stdout
    wal = db.with_name("lkml.db-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    copy = tmp_path / "copy" / "lkml.db"
    copy.parent.mkdir()
    shutil.copyfile(db, copy)  # the .db file only, as a user copies it
    conn = sqlite3.connect(copy)
    try:
        commits = conn.execute("SELECT count(DISTINCT position) FROM provenance").fetchone()[0]
        stored = conn.execute("SELECT count(*) FROM messages WHERE ghost = 0").fetchone()[0]
        runs = conn.execute("SELECT status, messages_read FROM ingest_runs").fetchall()
    finally:
        conn.close()
    assert commits == PARALLEL_COMMITS
    assert stored == PARALLEL_COMMITS  # measured: the first 2,500 commits carry 2,500 distinct Message-IDs
    assert runs == [("done", PARALLEL_COMMITS)]
