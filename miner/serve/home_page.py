"""What the front page of ``miner serve`` shows: label counts, a search box, recent labelled threads, years.

Pure data from a SQLite connection; templates/lkml_home.html lays it out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from miner.classify.patterns import LABELS
from miner.queries import load_queries
from miner.store import Store
from miner.serve.thread_page import thread_page_url

RECENT_THREADS = 15
LABEL_ORDER = LABELS  # the classifier's order


@dataclass
class RecentThread:
    """A labelled thread on the front page."""

    thread_id: int
    subject: str | None
    last_date: str | None
    message_count: int
    labels: list[str]
    page_url: str


@dataclass
class HomePage:
    """Everything the front page shows."""

    thread_count: int
    message_count: int
    labelled_threads: int
    label_counts: dict[str, int]
    recent: list[RecentThread]
    years: list[int]
    per_year: dict[int, dict[str, int]]  # year -> label -> threads
    tables: list[str]  # research tables present, in the order they are linked
    queries: list[tuple[str, str]]  # (name, title) of the canned queries
    unclassified: int = 0
    labels: list[str] = field(default_factory=list)


def _ordered_labels(names) -> list[str]:
    return sorted(set(names), key=lambda name: (LABEL_ORDER.index(name) if name in LABEL_ORDER else 99, name))


def load_home_page(store: Store) -> HomePage:
    """The front page data of ``store``."""
    conn = store.conn
    present = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    thread_count = conn.execute("SELECT count(*) FROM threads WHERE message_count > 0").fetchone()[0]
    # threads.message_count counts real messages: summing it spares a scan of every message row
    message_count = conn.execute("SELECT coalesce(sum(message_count), 0) FROM threads").fetchone()[0]
    label_counts = dict(conn.execute("SELECT label, count(*) FROM labels GROUP BY label").fetchall())
    labelled = conn.execute("SELECT count(DISTINCT thread_id) FROM labels").fetchone()[0]
    recent = [
        RecentThread(row[0], row[1], row[2], row[3], json.loads(row[4] or "[]"), thread_page_url(row[5]))
        for row in conn.execute(
            "SELECT thread_id, subject, last_date, message_count, labels, root_message_id FROM threads"
            " WHERE thread_id IN (SELECT thread_id FROM labels) AND message_count > 0"
            " ORDER BY last_date DESC, thread_id DESC LIMIT ?", (RECENT_THREADS,))
    ]
    per_year: dict[int, dict[str, int]] = {}
    for year, label, count in conn.execute(
            "SELECT t.year, l.label, count(*) FROM labels l JOIN threads t ON t.thread_id = l.thread_id"
            " WHERE t.year IS NOT NULL GROUP BY t.year, l.label"):
        per_year.setdefault(year, {})[label] = count
    unclassified = 0
    if "classify_state" in present:
        unclassified = conn.execute(
            "SELECT count(*) FROM threads t LEFT JOIN classify_state c ON c.thread_id = t.thread_id"
            " WHERE t.message_count > 0 AND (c.thread_id IS NULL OR c.thread_revision IS NOT t.revision)"
        ).fetchone()[0]
    tables = [name for name in ("threads", "bugs", "labels", "evidence", "messages", "patch_files", "trailers",
                                "people") if name in present]
    queries = [(query.name, query.title) for query in load_queries().values()]
    return HomePage(thread_count, message_count, labelled, label_counts, recent, sorted(per_year, reverse=True),
                    per_year, tables, queries, unclassified, _ordered_labels(label_counts))
