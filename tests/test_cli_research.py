"""A researcher's CLI day on the demo database: IDs to paste, thread lists to narrow, search as typed."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest
from demo_db import DEADLOCK_ROOT

from test_cli import assert_one_line_error, run_miner

SLASH_MESSAGE_ID = "ZQhlt/EbRf3Y+0jT@yury-ThinkPad"  # a real reply in the xarray READ_ONCE thread


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    from demo_db import build_demo_db

    return build_demo_db(tmp_path_factory.mktemp("research") / "demo.db", hostile=False)


def thread_number(db: Path, message_id: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT thread_id FROM messages WHERE message_id=?", (message_id,)).fetchone()[0]


# -- 1. IDs you can paste ----------------------------------------------------------------------

def test_threads_output_carries_root_message_id_lists_and_an_escaped_lore_link(demo_db):
    rows = json.loads(run_miner("threads", "--db", demo_db, "--format", "json").stdout)
    by_root = {row["root_message_id"]: row for row in rows}
    deadlock = by_root[DEADLOCK_ROOT]
    assert deadlock["lore_url"] == f"https://lore.kernel.org/r/{DEADLOCK_ROOT}"
    assert deadlock["lists"] == ["io-uring.vger.kernel.org"]
    xarray = next(row for row in rows if "xas_find_chunk" in row["subject"])
    # public-inbox escapes '/' in a Message-ID and leaves '+' and '@' alone
    with sqlite3.connect(demo_db) as conn:
        conn.execute("SELECT 1 FROM messages WHERE message_id=?", (SLASH_MESSAGE_ID,)).fetchone()
    table = run_miner("threads", "--db", demo_db, "--limit", "100").stdout
    assert DEADLOCK_ROOT in table and f"https://lore.kernel.org/r/{DEADLOCK_ROOT}" in table
    assert "root_message_id" in table.splitlines()[0] and "lists" in table.splitlines()[0]
    text = run_miner("threads", "--db", demo_db, "--format", "csv").stdout
    header, *records = list(csv.reader(io.StringIO(text)))
    assert {"root_message_id", "lists", "lore_url"} <= set(header)
    assert xarray["root_message_id"] in {record[header.index("root_message_id")] for record in records}


def test_lore_url_escapes_as_public_inbox_does():
    from miner.mid import lore_url

    assert lore_url(SLASH_MESSAGE_ID) == "https://lore.kernel.org/r/ZQhlt%2FEbRf3Y+0jT@yury-ThinkPad"


@pytest.mark.parametrize("reference", [
    DEADLOCK_ROOT,
    f"<{DEADLOCK_ROOT}>",
    f"https://lore.kernel.org/r/{DEADLOCK_ROOT}",
    f"https://lore.kernel.org/io-uring/{DEADLOCK_ROOT}/T/#u",
    f"https://lkml.kernel.org/r/{DEADLOCK_ROOT}",
])
def test_show_accepts_what_b4_accepts(demo_db, reference):
    result = run_miner("show", "--db", demo_db, reference)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"thread {thread_number(demo_db, DEADLOCK_ROOT)}\n")
    assert f"-> 2021-03-07  syzbot: [syzbot] possible deadlock in io_sq_thread_finish  <{DEADLOCK_ROOT}>" \
        in result.stdout


def test_show_takes_the_thread_number_that_threads_prints(demo_db):
    number = thread_number(demo_db, DEADLOCK_ROOT)
    result = run_miner("show", "--db", demo_db, str(number))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"thread {number}\n") and DEADLOCK_ROOT in result.stdout
    escaped = run_miner("show", "--db", demo_db, "https://lore.kernel.org/r/ZQhlt%2FEbRf3Y+0jT@yury-ThinkPad/")
    assert escaped.returncode == 0 and "xas_find_chunk" in escaped.stdout
    assert_one_line_error(run_miner("show", "--db", demo_db, "99999"), "99999", "no such thread number")


def test_show_body_prints_new_text_with_quotes_folded(demo_db):
    result = run_miner("show", "--db", demo_db, "--body", "824f3c6e-9ae7-af14-fac5-2448afa7446a@gmail.com")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "WARNING: possible recursive locking detected" in out  # the syzbot report, new text
    assert "-> === 2021-03-07" in out  # the message asked for is marked
    folded = [line for line in out.splitlines() if line.startswith("> [") and "quoted line" in line]
    assert folded, "no quoted run folded"
    assert not [line for line in out.splitlines() if line.startswith("> ") and not line.startswith("> [")]


def test_show_json_is_the_tree_with_labels_and_evidence_and_a_bug_record_only_when_one_exists(demo_db, tmp_path):
    result = run_miner("show", "--db", demo_db, "--format", "json", DEADLOCK_ROOT)
    document = json.loads(result.stdout)
    assert document["root_message_id"] == DEADLOCK_ROOT
    assert document["tree"][0]["message_id"] == DEADLOCK_ROOT
    assert any(reply["from_name"] == "Pavel Begunkov" for reply in document["tree"][0]["replies"])
    deadlock = next(label for label in document["labels"] if label["label"] == "deadlock")
    assert any("DEADLOCK" in evidence["text"] for evidence in deadlock["evidence"])
    # the bug record of this labelled thread (miner classify builds it), with its lock
    bug = document["bug"]
    assert bug["thread_id"] == document["thread_id"] and "&sqd->lock" in bug["locks"]
    # its list columns are JSON lists, as 'miner bugs --format json' gives them, not JSON text in strings
    assert isinstance(bug["locks"], list) and isinstance(bug["applied"], list) and bug["labels"] == ["deadlock"]
    listed_bugs = json.loads(run_miner("bugs", "--db", demo_db, "--format", "json").stdout)
    assert next(record for record in listed_bugs if record["thread_id"] == bug["thread_id"]) == \
        {key: bug[key] for key in listed_bugs[0]}

    with sqlite3.connect(demo_db) as conn:
        (quiet,) = conn.execute("SELECT root_message_id FROM threads t WHERE labels = '[]' AND message_count > 0"
                                " AND EXISTS (SELECT 1 FROM messages m WHERE m.message_id = t.root_message_id"
                                " AND m.ghost = 0) LIMIT 1").fetchone()
    unlabelled = run_miner("show", "--db", demo_db, "--format", "json", quiet)
    assert "bug" not in json.loads(unlabelled.stdout)  # no record: no key


# -- 2. miner threads for research -------------------------------------------------------------

def listed(demo_db: Path, *args: str) -> list[dict]:
    result = run_miner("threads", "--db", demo_db, "--format", "json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_repeated_labels_narrow_instead_of_the_last_one_winning(demo_db):
    deadlock = {row["thread_id"] for row in listed(demo_db, "--label", "deadlock")}
    race = {row["thread_id"] for row in listed(demo_db, "--label", "race")}
    both = listed(demo_db, "--label", "deadlock", "--label", "race")
    assert {row["thread_id"] for row in both} == deadlock & race
    assert deadlock & race and deadlock & race != race and deadlock & race != deadlock


def test_list_search_min_messages_and_sort(demo_db):
    btrfs = listed(demo_db, "--list", "linux-btrfs.vger.kernel.org")
    assert btrfs and all("linux-btrfs.vger.kernel.org" in row["lists"] for row in btrfs)
    assert len(btrfs) < len(listed(demo_db))
    found = listed(demo_db, "--search", "io_sq_thread_finish")
    assert [row["root_message_id"] for row in found] == [DEADLOCK_ROOT]
    big = listed(demo_db, "--min-messages", "12", "--sort", "messages")
    counts = [row["messages"] for row in big]
    assert counts and min(counts) >= 12 and counts == sorted(counts, reverse=True)
    first = [row["first_date"] for row in listed(demo_db, "--sort", "first")]
    assert first == sorted(first, reverse=True)
    scored = listed(demo_db, "--sort", "score")
    assert scored[-1]["labels"] == [] and scored[0]["labels"]


def test_jsonl_csv_lists_as_json_and_the_default_table_limit(demo_db, tmp_path):
    lines = run_miner("threads", "--db", demo_db, "--format", "jsonl").stdout.splitlines()
    assert len(lines) == 17 and all(json.loads(line)["thread_id"] for line in lines)
    text = run_miner("threads", "--db", demo_db, "--format", "csv", "--label", "deadlock").stdout
    header, *records = list(csv.reader(io.StringIO(text)))
    labels = [json.loads(record[header.index("labels")]) for record in records]
    assert all("deadlock" in value for value in labels)  # JSON, not Python's ['deadlock']
    limited = run_miner("threads", "--db", demo_db, "--limit", "3")
    assert len(limited.stdout.splitlines()) == 2 + 3 and limited.stderr == ""


def test_a_table_stops_at_the_default_limit_and_says_how_many_more(tmp_path):
    from conftest import BULK_BUNDLE, need_shared
    from epochs import bulk_epoch

    need_shared(BULK_BUNDLE)
    db = tmp_path / "btrfs.db"
    ingest = run_miner("ingest", "--workers", "1", "--db", db, bulk_epoch(tmp_path, 400))
    assert ingest.returncode == 0
    bars = ingest.stderr.replace("\r", "\n")
    assert "400/400" in bars and " 0/400" in bars  # an epoch's bar knows its commit count from the start
    with sqlite3.connect(db) as conn:
        total = conn.execute("SELECT count(*) FROM threads WHERE message_count > 0").fetchone()[0]
    assert total > 50
    table = run_miner("threads", "--db", db)
    assert len(table.stdout.splitlines()) == 2 + 50
    assert f"{total - 50:,} more threads; use --limit {total} to see them all" in table.stderr
    assert len(run_miner("threads", "--db", db, "--format", "jsonl").stdout.splitlines()) == total


def on_a_terminal(*args: str, columns: int) -> str:
    """The output of ``miner ARGS`` written to a pseudo-terminal COLUMNS wide (as a user sees it)."""
    import os
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": str(columns)}
    process = subprocess.Popen([sys.executable, "-m", "miner", *map(str, args)], stdout=follower,
                               stderr=subprocess.DEVNULL, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the command is done
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=60)
    os.close(leader)
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_table_fits_the_terminal_width_and_keeps_ids_whole(demo_db):
    narrow = on_a_terminal("threads", "--db", demo_db, columns=150)
    wide = on_a_terminal("threads", "--db", demo_db, columns=1000)
    assert max(map(len, narrow.splitlines())) < max(map(len, wide.splitlines()))
    assert "…" in narrow and f"https://lore.kernel.org/r/{DEADLOCK_ROOT}" in narrow
    piped = run_miner("threads", "--db", demo_db).stdout  # a pipe or a file: every cell whole
    assert "[syzbot] possible deadlock in io_sq_thread_finish" in piped
    longest = max((row["lore_url"] for row in json.loads(
        run_miner("threads", "--db", demo_db, "--format", "json").stdout)), key=len)
    assert longest in narrow and longest in piped  # links are never shortened


def test_a_list_command_says_when_threads_are_not_classified(tmp_path):
    from conftest import SAMPLE

    db = tmp_path / "raw.db"
    mbox = SAMPLE / "mail" / "cgroups" / "patch-fix-AA-deadlock-cgroup_bpf_release.mbox"
    assert run_miner("ingest", "--quiet", "--db", db, mbox).returncode == 0
    result = run_miner("threads", "--db", db, "--label", "deadlock")
    assert result.returncode == 0 and result.stdout.splitlines()[2:] == []
    assert f"1 threads not classified yet: run miner classify --db {db}" in result.stderr


# -- 5. search syntax a kernel person types ----------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("lock-order", "order"),
    ("READ_ONCE(", "READ_ONCE"),
    ("sk->sk_cgrp_data", "sk_cgrp_data"),
    ('"circular locking"', "circular"),
    ("io_sq_thread_finish", "io_sq_thread_finish"),
])
def test_search_messages_takes_identifiers_and_phrases_as_typed(demo_db, text, expected):
    result = run_miner("query", "search_messages", "--db", demo_db, "--param", f"q={text}", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert rows, f"nothing found for {text!r}"
    assert all(expected.lower() in (row["snippet"] + row["subject"]).lower() for row in rows)


def test_raw_fts5_is_explicit_and_its_errors_say_what_to_type(demo_db):
    near = run_miner("query", "search_messages", "--db", demo_db, "--param", "q=NEAR(lock order, 2)",
                     "--param", "raw=1", "--format", "json")
    assert near.returncode == 0 and json.loads(near.stdout)
    broken = run_miner("query", "search_messages", "--db", demo_db, "--param", "q=READ_ONCE(", "--param", "raw=1")
    assert_one_line_error(broken, "not valid FTS5 syntax", "drop raw=1")
    assert "SQL refused" not in broken.stderr
    empty = run_miner("query", "search_messages", "--db", demo_db, "--param", "q=->")
    assert_one_line_error(empty, "nothing to search for")
    assert "SQL refused" not in empty.stderr
    threads = run_miner("threads", "--db", demo_db, "--search", "lock-order(", "--fts5")
    assert_one_line_error(threads, "not valid FTS5 syntax")


def test_fts_query_quotes_terms_and_keeps_phrases_prefixes_and_operators():
    from miner.search import fts_query

    assert fts_query("lock-order") == '"lock-order"'
    assert fts_query('READ_ONCE( "circular locking" mutex*') == '"READ_ONCE(" "circular locking" "mutex"*'
    assert fts_query("deadlock OR race") == '"deadlock" OR "race"'
    assert fts_query("OR deadlock AND") == '"deadlock"'
    assert fts_query('say "hi"there') == '"say" "hi" "there"'


# -- 7. commands that read never write -----------------------------------------------------------

def test_readers_leave_an_empty_or_foreign_file_alone(tmp_path):
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    for command in (["threads"], ["show", "1"], ["query", "threads_per_label_year"], ["serve", "--port", "1"]):
        result = run_miner(*command, "--db", empty)
        assert_one_line_error(result, str(empty), "empty file, not a database")
        assert empty.stat().st_size == 0, command
    foreign = tmp_path / "other.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    before = foreign.read_bytes()
    for command in (["threads"], ["serve", "--port", "1"]):
        assert_one_line_error(run_miner(*command, "--db", foreign), "without lkml-miner's tables")
    assert foreign.read_bytes() == before
    assert_one_line_error(run_miner("threads", "--db", tmp_path / "missing.db"), "no such database")
    assert not (tmp_path / "missing.db").exists()


def test_serve_checks_the_port_before_announcing(demo_db):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_miner("serve", "--db", demo_db, "--port", str(port), timeout=60)
    assert_one_line_error(result, f"cannot listen on 127.0.0.1:{port}", "--port")
    assert "Serving" not in result.stdout


def test_report_into_an_unwritable_place_is_one_line(demo_db):
    assert_one_line_error(run_miner("report", "--db", demo_db, "--out", "/proc/nope"), "/proc/nope")


# -- 6. summary lines that read right on an empty database -------------------------------------

def test_a_first_demo_run_counts_every_message_new(tmp_path):
    first = run_miner("demo", "--quiet", "--db", tmp_path / "demo.db")
    assert first.returncode == 0, first.stderr
    line = first.stdout.splitlines()[0]
    assert line.startswith("173 messages read: 173 new, 0 updated, 0 unchanged"), line
    again = run_miner("demo", "--quiet", "--db", tmp_path / "demo.db").stdout.splitlines()[0]
    assert again.startswith("173 messages read: 0 new, 0 updated, 173 unchanged"), again
