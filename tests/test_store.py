"""Threading and storage (miner/store.py) on real threads."""

from __future__ import annotations

import json

from miner.ingest import Ingester
from miner.store import FTS_SETTINGS, open_store
from miner.sources.mbox import read_mbox

from conftest import FIXTURES, SAMPLE

IO_URING = SAMPLE / "mail" / "io-uring" / "syzbot-possible-deadlock-in-io_sq_thread_finish.mbox"
ROOTLESS = SAMPLE / "mail" / "cgroups" / "query-deadlock-cgroup_threadgroup_rwsem-cpu_hotplug_lock.mbox"


def ingest_mails(store, mails):
    with Ingester(store, "test", progress=False, workers=1) as ingester:
        ingester.ingest_mails(mails)
        return ingester.finish()


def thread_ids(store):
    return {row[0] for row in store.conn.execute("SELECT DISTINCT thread_id FROM messages")}


def test_one_thread_with_the_syzbot_report_as_root(store, ingest):
    ingest(IO_URING)
    (thread,) = store.conn.execute(
        "SELECT thread_id, root_message_id, subject, message_count, ghost_count, first_date, last_date"
        " FROM threads WHERE message_count > 0").fetchall()
    assert thread[1] == "000000000000430bf505bcef3b00@google.com"
    assert thread[2] == "[syzbot] possible deadlock in io_sq_thread_finish"
    # 15 messages reached the list; one reply answers a message that did not (a ghost)
    assert thread[3] == 15 and thread[4] == 1
    assert (thread[5], thread[6]) == ("2021-03-07T09:49:21Z", "2021-04-08T19:43:09Z")


def test_thread_id_is_stable_when_the_parent_arrives_late(store):
    mails = list(read_mbox(IO_URING))
    ingest_mails(store, mails[1:])  # replies first: the root is a ghost
    (before,) = thread_ids(store)
    root = store.conn.execute("SELECT ghost FROM messages WHERE message_id='000000000000430bf505bcef3b00@google.com'")
    assert root.fetchone() == (1,)
    summary = ingest_mails(store, mails[:1])
    assert (summary.new, summary.updated) == (0, 1)  # the ghost was filled in
    assert thread_ids(store) == {before}
    assert store.conn.execute("SELECT message_count FROM threads WHERE thread_id=?", (before,)).fetchone() == (15,)


def test_branches_meet_when_their_common_parent_arrives(store):
    mails = list(read_mbox(IO_URING))
    # two replies that only share the (absent) root: each would thread alone without References
    ingest_mails(store, [mails[3], mails[1]])
    assert len(thread_ids(store)) == 1  # both reference the root, whose ghost joins them


def test_thread_whose_first_message_never_reached_the_list_has_a_ghost_root(store, ingest):
    ingest(ROOTLESS)
    row = store.conn.execute(
        "SELECT t.message_count, t.ghost_count, m.ghost FROM threads t"
        " JOIN messages m ON m.message_id = t.root_message_id WHERE t.message_count > 0").fetchone()
    assert row[0] == 14 and row[1] >= 1 and row[2] == 1


def test_same_message_in_two_lists_is_one_message_with_two_provenance_rows(store, ingest):
    ingest(FIXTURES / "mail" / "kcsan" / "kasan-dev.mbox", FIXTURES / "mail" / "kcsan" / "linux-arch.mbox")
    threads = store.conn.execute("SELECT thread_id, message_count, lists FROM threads WHERE message_count > 0")
    (thread,) = threads.fetchall()
    assert thread[1] == 40
    assert json.loads(thread[2]) == ["kasan-dev.googlegroups.com", "linux-arch.vger.kernel.org"]
    counts = store.conn.execute(
        "SELECT m.message_id, count(*), count(DISTINCT p.list_id) FROM messages m"
        " JOIN provenance p ON p.message_id = m.message_id WHERE m.ghost = 0 GROUP BY m.message_id").fetchall()
    assert len(counts) == 40
    assert all(rows == 2 and lists == 2 for _, rows, lists in counts)


def test_ingesting_twice_changes_nothing(store, ingest):
    first = ingest(IO_URING, ROOTLESS)
    snapshot = store.conn.execute("SELECT count(*), sum(length(body)) FROM messages").fetchone()
    threads_before = store.conn.execute("SELECT * FROM threads ORDER BY thread_id").fetchall()
    second = ingest(IO_URING, ROOTLESS)
    assert first.new == 29 and second.new == 0 and second.updated == 0 and second.unchanged == 29
    assert store.conn.execute("SELECT count(*), sum(length(body)) FROM messages").fetchone() == snapshot
    assert store.conn.execute("SELECT * FROM threads ORDER BY thread_id").fetchall() == threads_before


def test_raw_bytes_are_kept_byte_exact(store, ingest):
    ingest(IO_URING)
    mails = list(read_mbox(IO_URING))
    for mail in mails[:5]:
        message_id = mail.raw.split(b"Message-ID: <", 1)[1].split(b">", 1)[0].decode()
        assert store.raw_message(message_id) == mail.raw
    # the mails are kept once, compressed together in blocks: far smaller than the mail
    (stored,) = store.conn.execute("SELECT sum(length(data)) FROM mail_blocks").fetchone()
    assert stored < 0.5 * sum(len(mail.raw) for mail in mails)
    # the body of plain text mail is read from the raw mail, not stored a second time
    (body_z,) = store.conn.execute("SELECT count(*) FROM messages WHERE body_z IS NOT NULL").fetchone()
    assert body_z < len(mails) / 4


def test_body_and_prose_come_back_exactly_and_each_text_is_kept_once(store, ingest):
    from miner.parse import parse_message

    ingest(IO_URING)
    mails = list(read_mbox(IO_URING))
    plain = 0
    for mail in mails:
        message = parse_message(mail.raw)
        body, prose, body_at = store.conn.execute("SELECT body, prose, body_at FROM messages WHERE message_id=?",
                                                  (message.message_id,)).fetchone()
        assert (body, prose) == (message.body, message.prose)
        plain += body_at is not None
    assert plain > len(mails) * 3 / 4  # most bodies are a slice of the raw mail


def test_prose_spans_come_from_the_parsers_runs_and_are_looked_for_when_those_do_not_give_the_prose():
    from miner.parse import parse_message_and_lines
    from miner.textstore import _prose_from_bytes, prose_spans

    quoted = spans_from_runs = 0
    for mail in read_mbox(IO_URING):
        message, lines, runs = parse_message_and_lines(mail.raw)
        body_bytes = message.body.encode("utf-8", "surrogatepass")
        found = prose_spans(message.body, message.prose)
        given = prose_spans(message.body, message.prose, runs=runs)
        assert _prose_from_bytes(body_bytes, found) == _prose_from_bytes(body_bytes, given) == message.prose
        wrong = [(0, 1)] if len(lines) > 3 and lines[0] != message.prose else [(len(lines) - 1, len(lines))]
        assert prose_spans(message.body, message.prose, runs=wrong) == found  # checked, then looked for
        quoted += any(line.startswith(">") for line in lines)
        spans_from_runs += given != found  # the runs' spans also name the blank lines strip() drops
    assert quoted >= 5 and spans_from_runs >= 1


def test_a_quoted_printable_body_is_read_from_the_raw_mail():
    from miner.textstore import encode_texts

    body = "Grüße aus Köln: a spin_lock() here = deadlock\n"
    raw = b"Subject: x\nContent-Transfer-Encoding: quoted-printable\n\nGr=C3=BC=C3=9Fe aus K=C3=B6ln: a spin=\n_lock() here =3D deadlock\n"
    texts = encode_texts(raw, body, body.strip())
    assert (texts.body_encoding, texts.body_z, texts.prose_spans, texts.prose_z) == ("quoted-printable", None,
                                                                                      f"0:{len(body.encode()) - 1}", None)
    assert raw[texts.body_at:].startswith(b"Gr=C3=BC") and texts.body_at + texts.body_length == len(raw)


def test_a_body_not_in_the_raw_mail_is_compressed_against_it(store):
    from miner.model import Provenance, RawMail
    from miner.textstore import TextReader

    text = "".join(f"> line {n} of what was said, with  trailing blanks =  \n" for n in range(200))
    encoded = text.replace("=", "=3D").replace("  \n", " =20\n")
    raw = (b"From: a@b.org\nSubject: signed\nMessage-ID: <signed@b.org>\nContent-Type: multipart/signed;"
           b' boundary="XX"\n\n--XX\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding:'
           b" quoted-printable\n\n" + encoded.encode() + b"\n--XX\nContent-Type: application/pgp-signature\n\n"
           b"-----BEGIN PGP SIGNATURE-----\nxyz\n--XX--\n")
    ingest_mails(store, [RawMail(raw, Provenance("mbox", "test.mbox", "1"))])
    body, body_z, body_at = store.conn.execute(
        "SELECT body, body_z, body_at FROM messages WHERE message_id='signed@b.org'").fetchone()
    assert body == text and body_at is None
    assert len(body_z) < len(text) / 20  # the text is the raw mail's, but for its quoted-printable escapes
    # a body_z of the earlier form (the kernel-mail dictionary) reads as before
    from miner.textstore import _body_compressor
    reader = TextReader(store.conn)
    assert reader.body(None, None, None, None, None, _body_compressor.compress(text.encode())) == text


def test_full_text_search_covers_prose_not_quotes_or_diffs(store, ingest):
    ingest(SAMPLE / "mail" / "cgroups" / "patch-fix-AA-deadlock-cgroup_bpf_release.mbox")
    hits = store.conn.execute(
        "SELECT m.message_id FROM messages_fts f JOIN messages m ON m.rowid = f.rowid"
        " WHERE messages_fts MATCH 'cgroup_destroy_wq'").fetchall()
    patch = "20240607110313.2230669-1-chenridong@huawei.com"
    # the patch names cgroup_destroy_wq in its commit message, so it is found...
    assert (patch,) in hits
    # ...but a word that occurs only in its diff is not indexed
    diff_only = store.conn.execute(
        "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'DEFINE_PERCPU_RWSEM'").fetchone()[0]
    assert diff_only == 0


def test_the_full_text_index_merges_before_a_crisis_in_new_and_older_databases(tmp_path):
    db = tmp_path / "fts.db"
    with open_store(db) as store:
        config = dict(store.conn.execute("SELECT k, v FROM messages_fts_config"))
        assert {name: config.get(name) for name, _ in FTS_SETTINGS} == dict(FTS_SETTINGS)
        # a database of an earlier version: automerge 16, crisismerge left at FTS5's default
        store.conn.execute("INSERT INTO messages_fts(messages_fts, rank) VALUES ('automerge', 16)")
        store.conn.execute("DELETE FROM messages_fts_config WHERE k = 'crisismerge'")
        store.conn.commit()
    with open_store(db) as store:
        config = dict(store.conn.execute("SELECT k, v FROM messages_fts_config"))
    assert config["automerge"] == 8 and config["crisismerge"] == 16


def test_people_trailers_and_patch_files_are_tied_to_their_message(store, ingest):
    ingest(SAMPLE / "mail" / "cgroups" / "patch-fix-AA-deadlock-cgroup_bpf_release.mbox")
    patch = "20240607110313.2230669-1-chenridong@huawei.com"
    trailers = store.conn.execute(
        "SELECT name, person_email FROM trailers WHERE message_id=? ORDER BY position", (patch,)).fetchall()
    assert trailers == [("Fixes", None), ("Signed-off-by", "chenridong@huawei.com")]
    files = store.conn.execute(
        "SELECT path, subsystem FROM patch_files WHERE message_id=? ORDER BY path", (patch,)).fetchall()
    assert files[0] == ("kernel/bpf/cgroup.c", "kernel/bpf")
    # the address signs as "Chen Ridong" in the patch and as "chenridong" in later replies:
    # the name of the latest message wins, whatever order the mail is read in
    latest = store.conn.execute(
        "SELECT from_name FROM messages WHERE from_email='chenridong@huawei.com' ORDER BY date DESC").fetchone()
    person = store.conn.execute(
        "SELECT name, first_seen, last_seen FROM people WHERE email='chenridong@huawei.com'").fetchone()
    assert person[0] == latest[0] == "chenridong"
    assert person[1] == "2024-06-07T11:03:13Z" and person[2] > person[1]


def test_merged_threads_lose_their_classifier_rows_by_cascade_and_the_survivor_is_re_tagged(store):
    """Two threads merge when a late message links them: the thread deleted takes its labels and
    evidence with it (ON DELETE CASCADE, the store never names those tables) and the surviving
    thread's revision changes, so `miner classify` tags it again."""
    from miner.classify.store import classify_database
    from miner.parse import parse_message

    mails = list(read_mbox(IO_URING))
    root_id = parse_message(mails[0].raw).message_id
    # without References, the first reply starts a thread of its own
    lone = mails[1].raw.replace(b"In-Reply-To:", b"X-Old-In-Reply-To:").replace(b"\nReferences:", b"\nX-Old-References:")
    ingest_mails(store, [mails[0], type(mails[1])(lone, mails[1].provenance)])
    assert len(thread_ids(store)) == 2
    classify_database(store, progress=False)
    threads = sorted(thread_ids(store))
    assert store.conn.execute("SELECT count(*) FROM classify_state").fetchone() == (2,)
    labelled = store.conn.execute("SELECT count(*) FROM labels").fetchone()[0]
    assert labelled >= 1
    revision = store.conn.execute("SELECT revision FROM threads WHERE thread_id=?", (threads[0],)).fetchone()[0]
    # a real reply naming both: the lone reply (via a second References entry) and the root
    bridge = mails[2].raw.replace(b"\nReferences: ", b"\nReferences: <" + parse_message(lone).message_id.encode() + b"> ", 1)
    ingest_mails(store, [type(mails[2])(bridge, mails[2].provenance)])
    assert thread_ids(store) == {threads[0]}  # the lower id survives
    assert store.conn.execute("SELECT count(*) FROM classify_state WHERE thread_id=?", (threads[1],)).fetchone() == (0,)
    assert store.conn.execute("SELECT count(*) FROM labels WHERE thread_id=?", (threads[1],)).fetchone() == (0,)
    assert store.conn.execute("SELECT count(*) FROM evidence WHERE thread_id=?", (threads[1],)).fetchone() == (0,)
    assert store.conn.execute("SELECT revision FROM threads WHERE thread_id=?", (threads[0],)).fetchone()[0] > revision
    assert classify_database(store, progress=False).threads == 1  # only the grown thread is tagged again
    assert root_id == store.conn.execute("SELECT root_message_id FROM threads").fetchone()[0]


def test_the_write_ahead_log_is_folded_while_an_ingest_goes_on(tmp_path):
    # every CHECKPOINT_BATCHES batches the checkpoint thread folds the log on its own connection;
    # closing folds the rest: no log is left, and the database reads back whole
    import time

    from miner.store import CHECKPOINT_BATCHES

    db = tmp_path / "fold.db"
    store = open_store(db)
    mails = list(read_mbox(IO_URING))
    with Ingester(store, "test", progress=False, workers=1, batch_size=1) as ingester:
        ingester.ingest_mails(mails)
        summary = ingester.finish()
    assert summary.new == len(mails) >= CHECKPOINT_BATCHES
    assert store.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0  # the writer's commits do not fold
    deadline = time.monotonic() + 10
    while store.checkpointer.folds == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.checkpointer.folds >= 1
    store.close()
    assert not store.checkpointer.is_alive()
    assert not (tmp_path / "fold.db-wal").exists() or (tmp_path / "fold.db-wal").stat().st_size == 0
    reopened = open_store(db, create=False)
    assert reopened.conn.execute("SELECT count(*) FROM messages WHERE ghost=0").fetchone()[0] == len(mails)
    reopened.close()
