"""Done-when: scrape a real public-inbox-httpd on loopback; rerun fetches nothing; kill -9 and resume."""

from __future__ import annotations

import gzip
import re
import signal
import sqlite3
import subprocess
import sys
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from interrupt import signal_after_rows
from pi_server import fixture_messages, make_server

LIST = "linux-btrfs"  # used by no other test
QUERY = "s:deadlock"
MINER = [sys.executable, "-c", "from miner.cli import main; main()"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = make_server(tmp_path_factory.mktemp("pi"), LIST, fixture_messages(LIST))
    yield running
    running.stop()


def expected_message_ids(server) -> set[str]:
    """Ask the server itself, with plain requests: every message of every thread its search returns."""
    atom = requests.get(f"{server.base_url}/{LIST}/", params={"q": QUERY, "x": "A"}, timeout=30)
    assert atom.status_code == 200
    matched = [m for m in re.findall(r'<link\s+href="[^"]+/([^"/]+)/"', atom.text)]
    wanted = set()
    for message_id in matched:
        thread = requests.get(f"{server.base_url}/{LIST}/{quote(message_id, safe='@')}/t.mbox.gz", timeout=30)
        mbox = b"\n" + gzip.decompress(thread.content)
        for chunk in mbox.split(b"\nFrom mboxrd@z Thu Jan  1 00:00:00 1970\n")[1:]:
            headers = BytesParser(policy=compat32).parsebytes(chunk, headersonly=True)
            wanted.add(headers["Message-ID"].strip().strip("<>"))
    return wanted


def scrape(server, db: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*MINER, "scrape", "lore", "--db", str(db), "--base-url", server.base_url, "--list", LIST,
         "--query", QUERY, "--quiet", *extra], capture_output=True, text=True, timeout=60,
    )


def stored_ids(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {row[0] for row in conn.execute("SELECT message_id FROM messages WHERE ghost=0")}


def test_scrape_stores_every_message_of_every_matching_thread_and_rerun_fetches_nothing(server, tmp_path):
    wanted = expected_message_ids(server)
    assert len(wanted) == 38  # the two 'deadlock' threads of the fixture list: 23 + 15 messages
    db = tmp_path / "lore.db"
    first = scrape(server, db, "--rate", "0")
    assert first.returncode == 0, first.stderr
    assert stored_ids(db) == wanted
    assert "2 threads fetched" in first.stdout and "38 new" in first.stdout

    second = scrape(server, db, "--rate", "0")
    assert second.returncode == 0, second.stderr
    assert "0 threads fetched" in second.stdout and "0 new" in second.stdout
    with sqlite3.connect(db) as conn:
        fetched = conn.execute("SELECT count(*) FROM http_responses WHERE url LIKE '%/t.mbox.gz'").fetchone()[0]
        runs = conn.execute("SELECT count(*) FROM scrape_threads WHERE status='done'").fetchone()[0]
    assert (fetched, runs) == (2, 2)

    synced = subprocess.run([*MINER, "sync", "--db", str(db), "--rate", "0", "--quiet"], capture_output=True,
                            text=True, timeout=60)
    assert synced.returncode == 0, synced.stderr
    assert f"lore {LIST} '(s:deadlock) rt:" in synced.stdout and "0 threads fetched" in synced.stdout


def test_kill_9_midway_then_rerun_gives_the_same_messages(server, tmp_path):
    whole = tmp_path / "whole.db"
    assert scrape(server, whole, "--rate", "0").returncode == 0

    db = tmp_path / "killed.db"
    process = subprocess.Popen([*MINER, "scrape", "lore", "--db", str(db), "--base-url", server.base_url, "--list",
                                LIST, "--query", QUERY, "--quiet", "--rate", "3"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    killed_after = signal_after_rows(process, db, "SELECT count(*) FROM scrape_threads WHERE status='done'",
                                     seconds=30)
    process.wait()
    assert killed_after == 1, "the scrape should have been killed after its first thread"
    assert process.returncode == -signal.SIGKILL
    partial = stored_ids(db)
    assert 0 < len(partial) < len(stored_ids(whole))

    again = scrape(server, db, "--rate", "0")
    assert again.returncode == 0, again.stderr
    assert "1 threads fetched" in again.stdout  # the stored thread is not fetched again
    assert stored_ids(db) == stored_ids(whole) == expected_message_ids(server)
    with sqlite3.connect(db) as conn, sqlite3.connect(whole) as reference:
        query = "SELECT message_id, parent_id, subject, from_email, date FROM messages ORDER BY message_id"
        assert conn.execute(query).fetchall() == reference.execute(query).fetchall()
        count = "SELECT count(*), sum(message_count) FROM threads"
        assert conn.execute(count).fetchone() == reference.execute(count).fetchone()
