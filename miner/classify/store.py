"""`miner classify`: tag every thread in the database and store labels with their evidence.

A thread is classified again only when it changed since (``threads.revision``) or when the
classifier version differs. Work is spread over processes that read the database themselves
(WAL allows concurrent readers); the parent writes the results in batches.
"""

from __future__ import annotations

import json
import pickle
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass

from tqdm import tqdm

from miner.workers import bounded_imap, default_workers

from miner.bugs.record import BugRecord
from miner.bugs.store import outside_evidence_of, rebuild_bugs, record_before_writing
from miner.classify import CLASSIFIER_VERSION, LABELS, classify_thread
from miner.classify.score import Result
from miner.store import Store
from miner.utc import utc_now
from miner.textstore import read_only_texts

CHUNK_THREADS = 200
PARALLEL_THRESHOLD = 2000  # messages; below this a worker pool costs more than it saves


@dataclass
class ClassifySummary:
    """What one `miner classify` run did."""

    threads: int = 0
    messages: int = 0
    labelled: dict[str, int] | None = None
    skipped_unchanged: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        """The one-line summary printed at the end of a run."""
        rate = self.messages / self.seconds if self.seconds > 0 else 0.0
        labelled = ", ".join(f"{label} {self.labelled.get(label, 0)}" for label in LABELS) if self.labelled else ""
        return (
            f"classified {self.threads} threads ({self.messages} messages) with {CLASSIFIER_VERSION}:"
            f" {labelled}; {self.skipped_unchanged} unchanged threads skipped"
            f" ({self.seconds:.1f} s, {rate:,.0f} msg/s)"
        )


def threads_to_classify(store: Store, force: bool = False) -> list[tuple[int, int, int]]:
    """(thread_id, revision, message count) of threads that are new, changed or tagged by another version."""
    condition = "" if force else (
        " AND (s.thread_id IS NULL OR s.classifier_version != ? OR s.thread_revision IS NOT t.revision)"
    )
    params = () if force else (CLASSIFIER_VERSION,)
    return store.conn.execute(
        "SELECT t.thread_id, t.revision, t.message_count FROM threads t"
        " LEFT JOIN classify_state s ON s.thread_id = t.thread_id"
        f" WHERE t.message_count > 0{condition} ORDER BY t.thread_id",
        params,
    ).fetchall()


def ensure_kind_column(store: Store) -> None:
    """Add ``messages.kind`` to a database made before the column existed (filled by this pass)."""
    columns = {row[1] for row in store.conn.execute("PRAGMA table_info(messages)")}
    if "kind" not in columns:
        with store.conn:
            store.conn.execute("ALTER TABLE messages ADD COLUMN kind TEXT")


def classify_database(store: Store, progress: bool = True, force: bool = False,
                      workers: int | None = None) -> ClassifySummary:
    """Classify every thread that needs it and store labels, evidence and the classifier state."""
    started = time.monotonic()
    ensure_kind_column(store)
    todo = threads_to_classify(store, force)
    total_threads = store.conn.execute("SELECT count(*) FROM threads WHERE message_count > 0").fetchone()[0]
    summary = ClassifySummary(skipped_unchanged=total_threads - len(todo), labelled={label: 0 for label in LABELS})
    total_messages = sum(row[2] for row in todo)
    workers = workers if workers is not None else default_workers()
    chunks = [todo[i:i + CHUNK_THREADS] for i in range(0, len(todo), CHUNK_THREADS)]
    bar = tqdm(total=total_messages, unit=" msg", desc="classify", disable=not progress, dynamic_ncols=True)
    outside: list[dict] = []  # the bug records' evidence from outside their threads, if a worker read it
    built: dict[int, bytes] = {}  # the records (pickled) the workers built of the threads they labelled
    try:
        for results in _classified_chunks(str(store.path), chunks, workers, total_messages, outside):
            written = _write_results(store, results)
            for thread_id, _, message_count, result, record in results:
                if record is not None and thread_id in written:
                    built[thread_id] = record
                summary.threads += 1
                summary.messages += message_count
                for label in result.labels:
                    summary.labelled[label] += 1
                bar.update(message_count)
    finally:
        bar.close()
    # bug records are derived from labels and evidence: kept in step with them
    rebuild_bugs(store, workers, outside[0] if outside else None,
                 {thread_id: pickle.loads(record) for thread_id, record in built.items()})
    summary.seconds = time.monotonic() - started
    return summary


def _classified_chunks(db_path: str, chunks: list, workers: int, total_messages: int,
                       outside: list[dict]) -> Iterator[list]:
    """The results of each chunk, in order.

    With workers, the first task is the bug records' evidence from outside their threads
    (miner.bugs.store.outside_evidence, a read of every body): it needs no label, so one worker
    reads it while the others classify, and it is put in ``outside``. The worker that labels a
    thread builds its record as well (:func:`_record`). Over the 20,000 btrfs messages the
    records were rebuilt in 1.5-1.6 s after 3.7 s of classifying; 0.55-0.8 s with this task
    and the records built by a pool of their own; 0.04-0.09 s with the records built here.
    """
    if workers <= 1 or total_messages < PARALLEL_THRESHOLD or len(chunks) < 2:
        for chunk in chunks:
            yield classify_chunk(db_path, chunk)
        return
    tasks = [(db_path, None), *((db_path, chunk) for chunk in chunks)]  # None: the outside evidence
    results = bounded_imap(_classify_task, tasks, workers, in_flight=4 * workers)
    outside.append(next(results))
    yield from results


def _classify_task(task: tuple[str, list | None]):
    db_path, chunk = task
    return outside_evidence_of(db_path) if chunk is None else classify_chunk(db_path, chunk)


def classify_chunk(db_path: str, chunk: list[tuple[int, int, int]]) -> list[tuple]:
    """Classify the threads of ``chunk`` reading their messages from ``db_path`` (read-only): for each,
    (thread_id, revision, message_count, result, the pickled bug record of a labelled thread or None)."""
    with read_only_texts(db_path) as conn:
        results = []
        for thread_id, revision, message_count in chunk:
            rows = conn.execute(
                "SELECT message_id, coalesce(subject, ''), coalesce(body, ''), from_email, prose FROM messages"
                " WHERE thread_id=? AND ghost=0 ORDER BY date IS NULL, date, rowid",
                (thread_id,),
            ).fetchall()
            result = classify_thread(rows)
            record = _record(conn, thread_id, result)
            # pickled: the parent keeps the records until every thread is tagged, and a BugRecord takes
            # about 4 KB as objects against 0.9 KB pickled (10 MB against 2 MB for scale.py's 200,000)
            results.append((thread_id, revision, message_count, result,
                            None if record is None else pickle.dumps(record, pickle.HIGHEST_PROTOCOL)))
        return results


def _record(conn: sqlite3.Connection, thread_id: int, result: Result) -> BugRecord | None:
    """The bug record of a thread ``result`` labels, as rebuild_bugs would build it from the rows
    _write_results writes (labels by rounded score, then name; subtypes by their strongest weight,
    then name), save the evidence from outside the thread. Built here, where the thread's messages
    were just read: a pool of its own would decompress the blocks of the mail again."""
    if not result.labels:
        return None
    labels = sorted(result.labels, key=lambda label: (-round(result.scores[label], 4), label))
    strongest: dict[str, float] = {}
    for evidence in result.evidence:
        if evidence.label in result.labels and evidence.subtype is not None:
            strongest[evidence.subtype] = max(strongest.get(evidence.subtype, evidence.weight), evidence.weight)
    subtypes = sorted(strongest, key=lambda subtype: (-strongest[subtype], subtype))
    return record_before_writing(conn, thread_id, labels, subtypes)


def _write_results(store: Store, results: list[tuple]) -> set[int]:
    """Store the results of one chunk; the threads written (not those changed since they were read)."""
    now = utc_now()
    conn = store.conn
    written = set()
    with conn:
        for thread_id, revision, _, result, _ in results:
            current = conn.execute("SELECT revision FROM threads WHERE thread_id=?", (thread_id,)).fetchone()
            if current is None or current[0] != revision:
                continue  # changed (or merged away) while we read it: the next run takes it
            written.add(thread_id)
            conn.execute("DELETE FROM evidence WHERE thread_id=?", (thread_id,))
            conn.execute("DELETE FROM labels WHERE thread_id=?", (thread_id,))
            conn.executemany(
                "INSERT INTO labels(thread_id, label, score, classifier_version) VALUES (?, ?, ?, ?)",
                [(thread_id, label, round(result.scores[label], 4), CLASSIFIER_VERSION) for label in result.labels],
            )
            conn.executemany(
                "INSERT INTO evidence(thread_id, label, subtype, pattern, message_id, line, text, quoted, in_diff,"
                " weight, classifier_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (thread_id, e.label, e.subtype, e.pattern, e.message_id, e.line, e.text, int(e.quoted),
                     int(e.in_diff), e.weight, CLASSIFIER_VERSION)
                    for e in result.evidence
                    if e.label in result.labels
                ],
            )
            conn.execute("UPDATE threads SET labels=? WHERE thread_id=?", (json.dumps(result.labels), thread_id))
            conn.executemany("UPDATE messages SET kind=? WHERE message_id=? AND kind IS NOT ?",
                             [(kind, message_id, kind) for message_id, kind in result.kinds.items()])
            conn.execute(
                "INSERT OR REPLACE INTO classify_state(thread_id, classifier_version, thread_revision,"
                " classified_at) VALUES (?, ?, ?, ?)",
                (thread_id, CLASSIFIER_VERSION, revision, now),
            )
    return written
