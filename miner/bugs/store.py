"""The SQLite shell of bug records: read threads, build records (``record.py``), write the ``bugs`` table.

Records are derived data: :func:`rebuild_bugs` recomputes them from messages, trailers,
patch files, labels, evidence and the ``commits``/``commit_links`` tables that
``miner link-commits`` fills, so re-running ``miner classify`` keeps what link-commits found.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from miner.bugs.record import BugRecord, build_record, with_outside
from miner.bugs.timeline import Applied, ThreadMessage, commit_notice
from miner.schema import TABLES_BY_NAME
from miner.store import Store, Where, in_chunks
from miner.textstore import BODY_ARGUMENTS, TextReader, read_only_texts
from miner.utc import utc_now
from miner.workers import bounded_imap

BUG_COLUMNS = tuple(column.name for column in TABLES_BY_NAME["bugs"].columns)
JSON_COLUMNS = ("labels", "subtypes", "locks", "functions", "tools", "files", "subsystems", "reviewers", "fixes",
                "applied")
# What `miner bugs --format json` prints for each record (the key list), in this order.
RECORD_KEYS = ("thread_id", "root_message_id", "subject", "labels", "subtypes", "locks", "functions", "tools",
               "syzbot_id", "subsystems", "first_report", "first_patch", "last_patch_version", "reviewers", "fixes",
               "applied")
RECORD_CHUNK = 25  # labelled threads a worker builds the records of at a time
PARALLEL_RECORDS = 100  # labelled threads; the records of fewer are built in this process
TABLE_KEYS = ("thread_id", "subject", "labels", "tools", "locks", "functions", "fix_status", "first_report")


@dataclass
class RebuildSummary:
    """What a rebuild of the bugs table did."""

    records: int = 0
    applied: int = 0

    def line(self) -> str:
        """One line for the terminal."""
        return f"bug records: {self.records} labelled threads, {self.applied} with evidence of a merge"


def thread_messages(store: Store, thread_id: int) -> list[ThreadMessage]:
    """The real messages of a thread with their trailers and patch files, oldest first."""
    return _thread_messages(store.conn, thread_id)


def _thread_messages(conn: sqlite3.Connection, thread_id: int) -> list[ThreadMessage]:
    rows = conn.execute(
        "SELECT message_id, parent_id, coalesce(subject, ''), from_name, from_email, date, coalesce(body, ''),"
        " patch_version, patch_index, patch_total FROM messages WHERE thread_id=? AND ghost=0"
        " ORDER BY date IS NULL, date, rowid",
        (thread_id,),
    ).fetchall()
    messages = {row[0]: ThreadMessage(*row) for row in rows}
    ids = list(messages)
    for chunk, marks in in_chunks(ids):
        for message_id, name, value, person_name, person_email in conn.execute(
            f"SELECT message_id, name, value, person_name, person_email FROM trailers"
            f" WHERE message_id IN ({marks}) ORDER BY message_id, position", chunk
        ):
            messages[message_id].trailers.append((name, value, person_name, person_email))
        for message_id, path in conn.execute(
            f"SELECT message_id, path FROM patch_files WHERE message_id IN ({marks}) ORDER BY rowid", chunk
        ):
            messages[message_id].files.append(path)
    return list(messages.values())


NOTICE_MARK = "Commit-ID:"  # what a commit notice's body holds (miner.bugs.timeline.commit_notice)


def bodies_containing(conn, needle: str) -> list[int]:
    """Rowids, ascending, of the real messages whose body contains the ASCII text ``needle``.

    The same messages as ``instr(body, needle) > 0``, read in block order and without making every
    body a string: a body that stands in its raw mail as it is (``body_at``, no encoding, no
    ``body_z``) is searched as bytes inside its decompressed block (an ASCII needle is in the UTF-8
    bytes exactly when it is in the text); the others are decoded.
    """
    pattern = needle.encode("ascii")
    reader = TextReader(conn, blocks_cached=1, shared=False)  # the blocks come in order, each read once
    found = []
    for rowid, *stored in conn.execute(f"SELECT rowid, {BODY_ARGUMENTS} FROM messages WHERE ghost=0"
                                       " ORDER BY raw_block, raw_offset"):
        raw_block, raw_offset, body_at, body_length, body_encoding, body_z = stored
        if body_z is None and body_encoding is None and body_at is not None and raw_block is not None:
            start = raw_offset + body_at
            if reader.block(raw_block).find(pattern, start, start + body_length) >= 0:
                found.append(rowid)
        else:
            body = reader.body(*stored)
            if body is not None and needle in body:
                found.append(rowid)
    return sorted(found)


def outside_evidence(store: Store) -> dict[int, list[Applied]]:
    """Applied evidence by thread from outside it: commit notices whose Link: points in, matched commits."""
    return _outside_evidence(store.conn)


def outside_evidence_of(db_path: str) -> dict[int, list[Applied]]:
    """:func:`outside_evidence` of the database at ``db_path``, read on a read-only connection of its own
    (in a worker: what the database holds must be committed)."""
    with read_only_texts(db_path) as conn:
        return _outside_evidence(conn)


def _outside_evidence(conn: sqlite3.Connection) -> dict[int, list[Applied]]:
    found: dict[int, list[Applied]] = defaultdict(list)
    rowids = bodies_containing(conn, NOTICE_MARK)
    notices = []
    for chunk, marks in in_chunks(rowids):
        notices += conn.execute(f"SELECT message_id, thread_id, date, body FROM messages WHERE rowid IN ({marks})"
                                " ORDER BY rowid", chunk).fetchall()
    for message_id, notice_thread, date, body in notices:
        notice = commit_notice(body)
        if notice is None:
            continue
        for target in notice.links:
            row = conn.execute("SELECT thread_id FROM messages WHERE message_id=?", (target,)).fetchone()
            if row and row[0] != notice_thread:
                found[row[0]].append(Applied(notice.commit, "commit-notice", "notice-link", message_id,
                                             notice.branch, date))
    for sha, message_id, match, thread_id, commit_date, release in conn.execute(
        "SELECT l.sha, l.message_id, l.match, m.thread_id, c.commit_date, c.release FROM commit_links l"
        " JOIN commits c ON c.sha = l.sha JOIN messages m ON m.message_id = l.message_id"
        " ORDER BY c.commit_date, l.sha"
    ):
        found[thread_id].append(Applied(sha, "git", match, message_id, None, commit_date, release))
    return found


def labelled_threads(store: Store) -> list[tuple[int, str | None, str | None]]:
    """(thread_id, root_message_id, subject) of every thread with a label."""
    return store.conn.execute(
        "SELECT t.thread_id, t.root_message_id, t.subject FROM threads t"
        " WHERE EXISTS (SELECT 1 FROM labels l WHERE l.thread_id = t.thread_id) ORDER BY t.thread_id"
    ).fetchall()


def _build_thread_record(conn: sqlite3.Connection, thread_id: int, root: str | None, subject: str | None,
                         outside: dict[int, list[Applied]]) -> BugRecord:
    """The bug record of one stored thread."""
    labels = [row[0] for row in conn.execute(
        "SELECT label FROM labels WHERE thread_id=? ORDER BY score DESC, label", (thread_id,))]
    subtypes = [row[0] for row in conn.execute(
        "SELECT subtype FROM evidence WHERE thread_id=? AND subtype IS NOT NULL"
        " GROUP BY subtype ORDER BY max(weight) DESC, subtype", (thread_id,))]
    return build_record(thread_id, root, subject, labels, subtypes, _thread_messages(conn, thread_id),
                        outside.get(thread_id, []))


def record_before_writing(conn: sqlite3.Connection, thread_id: int, labels: list[str],
                          subtypes: list[str]) -> BugRecord:
    """The record :func:`rebuild_bugs` will build of a thread once ``labels`` (in the order the labels
    table gives them back) and evidence of ``subtypes`` (in the order the evidence table does) are
    stored, save the evidence from outside the thread: :func:`rebuild_bugs` adds that (``built``).
    For a classifier worker, which has just read the thread's messages (their blocks are in its cache)."""
    root, subject = conn.execute("SELECT root_message_id, subject FROM threads WHERE thread_id=?",
                                 (thread_id,)).fetchone()
    return build_record(thread_id, root, subject, labels, subtypes, _thread_messages(conn, thread_id))


def rebuild_bugs(store: Store, workers: int = 1, outside: dict[int, list[Applied]] | None = None,
                 built: dict[int, BugRecord] | None = None) -> RebuildSummary:
    """Rebuild the whole ``bugs`` table from what is stored (one transaction).

    With ``workers`` > 1 and enough labelled threads, the records are built by that many processes
    reading the database themselves (what it holds must be committed: they see nothing else).
    ``outside``: :func:`outside_evidence`, when the caller has it already. ``built``: records of
    labelled threads made by :func:`record_before_writing` from what is stored now.
    """
    summary = RebuildSummary()
    outside = outside_evidence(store) if outside is None else outside
    built = built or {}
    now = utc_now()
    threads = labelled_threads(store)
    others = dict(_record_rows(store, [thread for thread in threads if thread[0] not in built], outside, now, workers))
    rows = []
    for thread_id, _, _ in threads:
        if thread_id in built:
            record = with_outside(built[thread_id], outside.get(thread_id, []))
            row, applied = _row(record, now), bool(record.applied)
        else:
            row, applied = others[thread_id]
        rows.append(row)
        summary.records += 1
        summary.applied += applied
    columns = ", ".join(f'"{name}"' for name in BUG_COLUMNS)
    with store.conn:
        store.conn.execute("DELETE FROM bugs")
        store.conn.executemany(f"INSERT INTO bugs({columns}) VALUES ({', '.join('?' * len(BUG_COLUMNS))})", rows)
    return summary


def _record_rows(store: Store, threads: list[tuple[int, str | None, str | None]], outside: dict[int, list[Applied]],
                 now: str, workers: int) -> Iterator[tuple[int, tuple[tuple, bool]]]:
    """(thread_id, (bugs row, has applied evidence)) of each thread: here, or by ``workers`` processes."""
    if workers <= 1 or len(threads) < PARALLEL_RECORDS or store.conn.in_transaction:
        for thread_id, root, subject in threads:
            record = _build_thread_record(store.conn, thread_id, root, subject, outside)
            yield thread_id, (_row(record, now), bool(record.applied))
        return
    tasks = [(str(store.path), chunk, {thread[0]: outside[thread[0]] for thread in chunk if thread[0] in outside}, now)
             for chunk in (threads[i:i + RECORD_CHUNK] for i in range(0, len(threads), RECORD_CHUNK))]
    for rows in bounded_imap(_record_rows_of_chunk, tasks, workers, in_flight=2 * workers):
        yield from rows


def _record_rows_of_chunk(task: tuple) -> list[tuple[int, tuple[tuple, bool]]]:
    """:func:`_record_rows` of one chunk of threads, in a worker reading ``db_path`` read-only."""
    db_path, threads, outside, now = task
    with read_only_texts(db_path) as conn:
        results = []
        for thread_id, root, subject in threads:
            record = _build_thread_record(conn, thread_id, root, subject, outside)
            results.append((thread_id, (_row(record, now), bool(record.applied))))
        return results


def _row(record: BugRecord, now: str) -> tuple:
    data = asdict(record)
    data["built_at"] = now
    return tuple(json.dumps(data[name], ensure_ascii=False) if name in JSON_COLUMNS else data[name]
                 for name in BUG_COLUMNS)


def ensure_bugs(store: Store) -> None:
    """Build the records of a database that has labels but none yet (made before the bugs table existed)."""
    conn = store.conn
    if conn.execute("SELECT 1 FROM bugs LIMIT 1").fetchone() is None \
            and conn.execute("SELECT 1 FROM labels LIMIT 1").fetchone() is not None:
        rebuild_bugs(store)


def list_bugs(store: Store, label: str | None = None, since: str | None = None) -> list[dict]:
    """Bug records as dicts (JSON columns decoded), oldest first; ``since`` bounds ``first_report``."""
    ensure_bugs(store)
    where = Where()
    where.add("EXISTS (SELECT 1 FROM json_each(b.labels) WHERE value = ?)", label)
    where.add("b.first_report >= ?", since)
    columns = ", ".join(f'b."{name}"' for name in BUG_COLUMNS)
    return [_record(row) for row in store.conn.execute(
        f"SELECT {columns} FROM bugs b{where.sql()} ORDER BY b.first_report, b.thread_id", where.params)]


def bug_record(store: Store, thread_id: int) -> dict | None:
    """The stored record of one thread (JSON columns decoded), or None if it has none (or the database has
    no bugs table: one served as it is, made before bug records)."""
    if store.conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='bugs'").fetchone() is None:
        return None
    columns = ", ".join(f'"{name}"' for name in BUG_COLUMNS)
    row = store.conn.execute(f"SELECT {columns} FROM bugs WHERE thread_id=?", (thread_id,)).fetchone()
    return _record(row) if row is not None else None


def _record(row: tuple) -> dict:
    """A ``bugs`` row as a dict, its JSON columns decoded into lists."""
    record = dict(zip(BUG_COLUMNS, row))
    for name in JSON_COLUMNS:
        record[name] = json.loads(record[name] or "[]")
    return record
