"""Hostile and broken input: nothing already stored is lost, nothing hangs, errors are one line.

Each test reproduces a failure found by the fault-and-fuzz campaign (reliability issue) with the
real mail of the bundled sample as its material.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from miner.ingest import Ingester
from miner.model import Provenance, RawMail
from miner.parse import parse_message

from conftest import SAMPLE

IO_URING = SAMPLE / "mail" / "io-uring" / "syzbot-possible-deadlock-in-io_sq_thread_finish.mbox"


def real_message(index: int = 0) -> bytes:
    """One real message of the io_uring sample thread (From_ line removed)."""
    from miner.sources.mbox import read_mbox
    return list(read_mbox(IO_URING))[index].raw


def with_header(raw: bytes, name: bytes, value: bytes) -> bytes:
    """``raw`` with header ``name`` replaced by ``value`` (added if missing)."""
    head, sep, body = raw.partition(b"\n\n")
    lines = [line for line in head.split(b"\n") if not line.lower().startswith(name.lower() + b":")]
    return b"\n".join([*lines, name + b": " + value]) + sep + body


def mbox_of(*messages: bytes) -> bytes:
    return b"".join(b"From mboxrd@z Thu Jan  1 00:00:00 1970\n" + m.rstrip(b"\n") + b"\n\n" for m in messages)


def stored_ids(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {row[0] for row in conn.execute("SELECT message_id FROM messages WHERE ghost=0")}


def test_8bit_bytes_in_ids_are_stored_not_a_lost_batch(tmp_path, store, ingest):
    base = real_message()
    good = with_header(base, b"Message-ID", b"<good@x>")
    latin1 = with_header(with_header(base, b"Message-ID", b"<bad\xff@x>"), b"In-Reply-To", b"<good@x>")
    utf8 = with_header(with_header(base, b"Message-ID", "<café@x.org>".encode()),
                       b"References", b"<good@x> <bad\xff@x>")
    listed = with_header(with_header(base, b"Message-ID", b"<listed@x>"), b"List-Id", b"<l\xe9st.x.org>")
    path = tmp_path / "ids.mbox"
    path.write_bytes(mbox_of(good, latin1, utf8, listed))
    summary = ingest(path)
    assert (summary.new, summary.rejected) == (4, 0)
    assert stored_ids(tmp_path / "test.db") == {"good@x", "badÿ@x", "café@x.org", "listed@x"}
    # the same bytes give the same ID wherever they stand: the reply joins its parents' thread
    thread = store.thread_of("good@x")
    assert store.thread_of("badÿ@x") == thread and store.thread_of("café@x.org") == thread
    assert summary.threads == 2
    # a rerun changes nothing and does not die at the same place
    assert ingest(path).unchanged == 4


def test_a_message_the_database_cannot_take_is_a_reject_not_a_lost_batch(tmp_path, store):
    base = real_message()
    fine = [RawMail(with_header(base, b"Message-ID", f"<ok{i}@x>".encode()), Provenance("test", "t", str(i)))
            for i in range(3)]
    broken = parse_message(with_header(base, b"Message-ID", b"<broken@x>"))
    broken.subject = "lone surrogate \udcff"  # what a source building its own Message might hand over
    mails = [fine[0], RawMail(base, Provenance("test", "t", "b"), parsed=broken), fine[1], fine[2]]
    with Ingester(store, "test", progress=False, workers=1) as ingester:
        ingester.ingest_mails(mails)
        summary = ingester.finish()
    assert (summary.read, summary.new, summary.rejected) == (4, 3, 1)
    assert stored_ids(tmp_path / "test.db") == {"ok0@x", "ok1@x", "ok2@x"}
    reason = store.conn.execute("SELECT reason FROM rejects").fetchone()[0]
    assert reason.startswith("cannot be stored: UnicodeEncodeError")


def test_message_id_with_angle_bracket_inside_is_kept_whole():
    # public-inbox takes everything up to the next ">" (MID.pm); cutting at "<" made bogus ghosts
    raw = with_header(with_header(real_message(), b"Message-ID", b'<"odd<id"@example.org>'),
                      b"References", b'<first@example.org> <"odd<parent"@example.org>')
    message = parse_message(raw)
    assert message.message_id == '"odd<id"@example.org'
    assert message.references == ["first@example.org", '"odd<parent"@example.org']
