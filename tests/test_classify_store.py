"""`miner classify` on a database: stored labels and evidence, incremental re-runs (miner/classify/store.py)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import miner.classify.store as classify_store
from miner.classify.store import classify_database
from miner.cli import cli
from miner.sources.mbox import read_mbox

from conftest import SAMPLE

SEEDS = SAMPLE / "seeds"


@pytest.fixture
def seeded(store, ingest):
    ingest(SEEDS)
    classify_database(store, progress=False, workers=1)
    return store


def seed_labels(store, seed_name):
    row = store.conn.execute(
        "SELECT t.labels FROM threads t JOIN messages m ON m.thread_id = t.thread_id"
        " JOIN provenance p ON p.message_id = m.message_id WHERE p.location LIKE ? LIMIT 1",
        (f"%{seed_name}%",),
    ).fetchone()
    return set(json.loads(row[0]))


def test_seed_threads_get_their_labels(seeded):
    assert {"deadlock", "race"} <= seed_labels(seeded, "000_")
    labels_001 = seed_labels(seeded, "001_")
    assert "deadlock" in labels_001 and "ordering" not in labels_001
    assert "deadlock" in seed_labels(seeded, "002_")
    labels_003 = seed_labels(seeded, "003_")
    assert {"race", "ordering"} <= labels_003 and "deadlock" not in labels_003
    assert seed_labels(seeded, "004_") == {"deadlock", "race", "ordering"}


def test_seed_004_is_one_thread_of_six_with_authors_and_dates(seeded):
    rows = seeded.conn.execute(
        "SELECT m.from_name, m.date, m.thread_id FROM messages m JOIN provenance p ON p.message_id = m.message_id"
        " WHERE p.location LIKE '%004_%' ORDER BY m.date").fetchall()
    assert [(name, date[:10]) for name, date, _ in rows] == [
        ("Alexey Klimov", "2021-03-16"), ("Daniel Jordan", "2021-03-18"), ("Thomas Gleixner", "2021-03-27"),
        ("Qais Yousef", "2021-04-01"), ("Alexey Klimov", "2021-04-03"), ("Alexey Klimov", "2021-04-14"),
    ]
    assert len({thread for _, _, thread in rows}) == 1


def test_evidence_is_stored_for_every_label(seeded):
    rows = seeded.conn.execute(
        "SELECT l.thread_id, l.label, count(e.id) FROM labels l"
        " LEFT JOIN evidence e ON e.thread_id = l.thread_id AND e.label = l.label GROUP BY 1, 2").fetchall()
    assert rows and all(count > 0 for _, _, count in rows)
    line = seeded.conn.execute(
        "SELECT e.text, e.quoted, e.line, m.body FROM evidence e JOIN messages m ON m.message_id = e.message_id"
        " WHERE e.line > 0 LIMIT 1").fetchone()
    # the evidence line really is that line of that message's body
    assert line[3].split("\n")[line[2] - 1] == line[0]


def test_rerun_touches_only_changed_threads_and_a_new_version_retags_all(store, ingest, monkeypatch):
    thread = SAMPLE / "mail" / "io-uring" / "syzbot-possible-deadlock-in-io_sq_thread_finish.mbox"
    mails = list(read_mbox(thread))
    from miner.ingest import Ingester

    with Ingester(store, "test", progress=False, workers=1) as ingester:
        ingester.ingest_mails(mails[:5])
    ingest(SEEDS)
    first = classify_database(store, progress=False, workers=1)
    assert first.threads == 6
    assert classify_database(store, progress=False, workers=1).threads == 0
    with Ingester(store, "test", progress=False, workers=1) as ingester:
        ingester.ingest_mails(mails[5:])  # the io_uring thread grows; the seeds do not
    again = classify_database(store, progress=False, workers=1)
    assert (again.threads, again.messages, again.skipped_unchanged) == (1, 15, 5)
    monkeypatch.setattr(classify_store, "CLASSIFIER_VERSION", "rules-next")
    assert classify_database(store, progress=False, workers=1).threads == 6
    versions = {row[0] for row in store.conn.execute("SELECT classifier_version FROM labels")}
    assert versions == {"rules-next"}


def test_cli_threads_json_and_show_include_labels(seeded, tmp_path):
    db = str(seeded.path)
    runner = CliRunner()
    result = runner.invoke(cli, ["threads", "--db", db, "--format", "json"])
    assert result.exit_code == 0, result.output
    threads = json.loads(result.output)
    assert all(set(t) == {"thread_id", "root_message_id", "subject", "messages", "first_date", "last_date", "lists",
                          "labels", "lore_url"} for t in threads)
    assert any(t["labels"] == ["deadlock", "race", "ordering"] and t["messages"] == 6 for t in threads)
    deadlock = runner.invoke(cli, ["threads", "--db", db, "--label", "deadlock", "--format", "json"])
    assert {t["thread_id"] for t in json.loads(deadlock.output)} == {
        t["thread_id"] for t in threads if "deadlock" in t["labels"]}
    message_id = seeded.conn.execute(
        "SELECT message_id FROM evidence WHERE label='ordering' AND pattern='visibility'").fetchone()[0]
    shown = runner.invoke(cli, ["show", "--db", db, message_id])
    assert shown.exit_code == 0
    assert "ordering (score" in shown.output and "observable by sched_setaffinity()" in shown.output


def test_classify_stores_message_kinds_and_show_prints_them(store, ingest):
    # the cgroups sample thread: a patch, replies to it
    ingest(SAMPLE / "mail" / "cgroups")
    classify_database(store, progress=False, workers=1)
    kinds = dict(store.conn.execute("SELECT message_id, kind FROM messages WHERE ghost=0"))
    assert kinds["20240607110313.2230669-1-chenridong@huawei.com"] == "patch"
    assert kinds["300f9efa-cc15-4bee-b710-25bff796bf28@huawei.com"] == "reply"
    shown = CliRunner().invoke(cli, ["show", "--db", str(store.path), "20240607110313.2230669-1-chenridong@huawei.com"])
    assert shown.exit_code == 0
    assert "<20240607110313.2230669-1-chenridong@huawei.com> [patch]" in shown.output


def test_kind_column_is_added_to_an_older_database(store, ingest):
    ingest(SEEDS)
    with store.conn:
        store.conn.execute("ALTER TABLE messages DROP COLUMN kind")
    classify_database(store, progress=False, workers=1, force=True)
    assert store.conn.execute("SELECT count(*) FROM messages WHERE ghost=0 AND kind IS NULL").fetchone()[0] == 0


def test_skipping_replies_without_own_anchors_changes_no_label(store, ingest):
    # the io-uring sample threads: classify with and without messages.prose (the skip)
    from miner.classify.score import classify_thread
    ingest(SAMPLE / "mail")
    for (thread_id,) in store.conn.execute("SELECT thread_id FROM threads WHERE message_count > 1"):
        rows = store.conn.execute(
            "SELECT message_id, coalesce(subject, ''), coalesce(body, ''), from_email, prose FROM messages"
            " WHERE thread_id=? AND ghost=0 ORDER BY date IS NULL, date, rowid", (thread_id,)).fetchall()
        fast, full = classify_thread(rows), classify_thread([row[:4] for row in rows])
        assert fast.labels == full.labels and fast.kinds == full.kinds
        assert {label: fast.scores[label] for label in fast.labels} == {label: full.scores[label] for label in full.labels}
