"""public-inbox's own threading (Debian package public-inbox) as the reference for miner's.

``public_inbox_threads`` puts messages (or a whole epoch) in a v2 inbox, runs
``public-inbox-index -L basic`` and reads the thread id of every Message-ID from its
``over.sqlite3``, the table public-inbox threads with (OverIdx.pm).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest


def require_public_inbox() -> None:
    """Skip the calling test when public-inbox is not installed."""
    for tool in ("public-inbox-init", "public-inbox-index", "git"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (Debian package public-inbox, listed in .ci/apt-packages.txt)")


def public_inbox_threads(root: Path, epoch: Path) -> dict[str, int]:
    """Message-ID -> public-inbox thread id of every real message of ``epoch`` (a bare git epoch)."""
    require_public_inbox()
    env = {**os.environ, "PI_CONFIG": str(root / "config"), "HOME": str(root), "TZ": "UTC"}
    inbox = root / "inbox"
    subprocess.run(["public-inbox-init", "-V2", "-L", "basic", "test", str(inbox), "http://127.0.0.1/test",
                    "test@example.org"], check=True, env=env, capture_output=True)
    shutil.rmtree(inbox / "git" / "0.git", ignore_errors=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(epoch), str(inbox / "git" / "0.git")], check=True)
    subprocess.run(["public-inbox-index", "-L", "basic", str(inbox)], check=True, env=env, capture_output=True)
    over = next(inbox.rglob("over.sqlite3"))
    with sqlite3.connect(over) as conn:
        rows = conn.execute("SELECT msgid.mid, over.tid FROM over JOIN id2num ON id2num.num = over.num"
                            " JOIN msgid ON msgid.id = id2num.id WHERE over.num > 0 ORDER BY over.num").fetchall()
    threads: dict[str, int] = {}
    for mid, tid in rows:
        threads.setdefault(mid, tid)
    return threads


def miner_threads(db: Path) -> dict[str, int]:
    """Message-ID -> miner thread id of every real message."""
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT message_id, thread_id FROM messages WHERE ghost = 0"))


def partition_differences(reference: dict[str, int], ours: dict[str, int]) -> tuple[int, int]:
    """(pairs of messages public-inbox puts in one thread and miner splits, pairs miner merges
    that public-inbox keeps apart), over the messages both hold."""
    common = set(reference) & set(ours)

    def pairs(threads: dict[str, int]) -> set[frozenset]:
        groups = defaultdict(list)
        for mid in common:
            groups[threads[mid]].append(mid)
        return {frozenset((a, b)) for members in groups.values() for i, a in enumerate(members)
                for b in members[i + 1:]}

    theirs, mine = pairs(reference), pairs(ours)
    return len(theirs - mine), len(mine - theirs)
