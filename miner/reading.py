"""Reading the database back: thread lists, thread trees, read-only SQL."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from miner.errors import MinerError
from miner.store import Store

THREAD_KEYS = ("thread_id", "subject", "messages", "first_date", "last_date", "labels")


def list_threads(store: Store, label: str | None = None, since: str | None = None,
                 until: str | None = None, limit: int | None = None) -> list[dict]:
    """Threads with real messages, newest first, as dicts with exactly THREAD_KEYS."""
    where = ["t.message_count > 0"]
    params: list = []
    if label:
        where.append("EXISTS (SELECT 1 FROM labels l WHERE l.thread_id = t.thread_id AND l.label = ?)")
        params.append(label)
    if since:
        where.append("t.last_date >= ?")
        params.append(since)
    if until:
        where.append("t.first_date < ?")
        params.append(until)
    sql = (
        "SELECT t.thread_id, t.subject, t.message_count, t.first_date, t.last_date, t.labels"
        f" FROM threads t WHERE {' AND '.join(where)} ORDER BY t.last_date DESC, t.thread_id DESC"
    )
    if limit:
        sql += f" LIMIT {int(limit)}"
    rows = store.conn.execute(sql, params).fetchall()
    return [dict(zip(THREAD_KEYS, (r[0], r[1], r[2], r[3], r[4], json.loads(r[5] or "[]")))) for r in rows]


@dataclass
class TreeNode:
    """A message in a thread tree."""

    message_id: str
    ghost: bool
    subject: str | None
    from_name: str | None
    from_email: str | None
    date: str | None
    children: list["TreeNode"]
    kind: str | None = None  # messages.kind, set by `miner classify`


def thread_tree(store: Store, message_id: str) -> tuple[int, list[TreeNode]]:
    """The thread containing ``message_id``: its id and root nodes (children sorted by date)."""
    thread_id = store.thread_of(message_id)
    if thread_id is None:
        raise MinerError(f"{message_id}: no such Message-ID in the database")
    has_kind = any(row[1] == "kind" for row in store.conn.execute("PRAGMA table_info(messages)"))
    rows = store.conn.execute(
        "SELECT message_id, ghost, parent_id, subject, from_name, from_email, date,"
        f" {'kind' if has_kind else 'NULL'} FROM messages"
        " WHERE thread_id=? ORDER BY date IS NULL, date, rowid",
        (thread_id,),
    ).fetchall()
    nodes = {r[0]: TreeNode(r[0], bool(r[1]), r[3], r[4], r[5], r[6], [], r[7]) for r in rows}
    roots = []
    for r in rows:
        parent = r[2]
        if parent and parent in nodes and parent != r[0]:
            nodes[parent].children.append(nodes[r[0]])
        else:
            roots.append(nodes[r[0]])
    return thread_id, roots


def render_tree(roots: list[TreeNode], mark: str | None = None) -> list[str]:
    """Indented lines, one per message; ``mark`` flags one Message-ID with an arrow."""
    lines: list[str] = []

    def walk(node: TreeNode, depth: int, seen: set[str]) -> None:
        if node.message_id in seen:
            return
        seen.add(node.message_id)
        pointer = "-> " if node.message_id == mark else "   "
        if node.ghost:
            text = f"[not in archive] <{node.message_id}>"
        else:
            who = node.from_name or node.from_email or "?"
            kind = f" [{node.kind}]" if node.kind else ""
            text = f"{(node.date or '?')[:10]}  {who}: {node.subject or '(no subject)'}  <{node.message_id}>{kind}"
        lines.append(pointer + "  " * depth + text)
        for child in node.children:
            walk(child, depth + 1, seen)

    seen: set[str] = set()
    for root in roots:
        walk(root, 0, seen)
    return lines


@dataclass
class LabelEvidence:
    """A thread label with its score and the lines that support it."""

    label: str
    score: float
    classifier_version: str
    evidence: list[dict]


def thread_labels(store: Store, thread_id: int) -> list[LabelEvidence]:
    """The classifier's labels of a thread, each with its evidence lines."""
    labels = store.conn.execute(
        "SELECT label, score, classifier_version FROM labels WHERE thread_id=? ORDER BY label", (thread_id,)
    ).fetchall()
    out = []
    for label, score, version in labels:
        rows = store.conn.execute(
            "SELECT pattern, subtype, message_id, line, text, quoted, in_diff FROM evidence"
            " WHERE thread_id=? AND label=? ORDER BY weight DESC, id",
            (thread_id, label),
        ).fetchall()
        keys = ("pattern", "subtype", "message_id", "line", "text", "quoted", "in_diff")
        out.append(LabelEvidence(label, score, version, [dict(zip(keys, row)) for row in rows]))
    return out


def render_labels(labels: list[LabelEvidence]) -> list[str]:
    """Lines describing each label and its evidence, for ``miner show``."""
    if not labels:
        return ["", "labels: none"]
    lines = [""]
    for item in labels:
        lines.append(f"{item.label} (score {item.score:.2f}, {item.classifier_version})")
        for e in item.evidence:
            where = "quoted " if e["quoted"] else ("diff " if e["in_diff"] else "")
            text = " ".join((e["text"] or "").split())
            lines.append(f"  {e['pattern']} [{e['subtype'] or '-'}] <{e['message_id']}> {where}line {e['line']}:"
                         f" {text[:160]}")
    return lines


def run_readonly_sql(db_path: str | Path, sql: str, params: dict | None = None) -> tuple[list[str], list[tuple]]:
    """Run ``sql`` on a read-only connection; writes are refused by SQLite itself."""
    path = Path(db_path)
    if not path.exists():
        raise MinerError(f"{path}: no such database")
    conn = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True)
    try:
        conn.execute("PRAGMA query_only=ON")
        cursor = conn.execute(sql, params or {})
        columns = [d[0] for d in cursor.description] if cursor.description else []
        return columns, cursor.fetchall()
    except sqlite3.Error as error:
        raise MinerError(f"SQL refused: {error}") from error
    finally:
        conn.close()
