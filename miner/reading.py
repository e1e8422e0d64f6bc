"""Reading the database back: thread lists, thread trees, read-only SQL."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from miner.body import QUOTE, scan
from miner.errors import MinerError, raise_if_interrupted
from miner.mid import lore_url, parse_reference
from miner.search import FTS_CALL, check_search_params, fts_error, fts_query, is_raw, register_functions
from miner.store import Store, Where, database_error, is_storage_error
from miner.textstore import register_text_functions
from miner.utc import parse_utc, utc_text

THREAD_KEYS = ("thread_id", "root_message_id", "subject", "messages", "first_date", "last_date", "lists", "labels",
               "lore_url")
# --sort NAME -> ORDER BY; "score" is the best label score of the thread (unlabelled threads last)
THREAD_SORTS = {
    "last": "t.last_date DESC, t.thread_id DESC",
    "first": "t.first_date DESC, t.thread_id DESC",
    "messages": "t.message_count DESC, t.last_date DESC, t.thread_id DESC",
    "score": "best_score DESC, t.last_date DESC, t.thread_id DESC",
}
DATE_FORMS = "YYYY-MM-DD or ISO 8601 such as 2021-03-07T10:00:00+02:00"


def utc_date_bound(value: str) -> str:
    """A date bound as given to --since/--until, in the stored form of dates (UTC, ``YYYY-MM-DDTHH:MM:SSZ``).

    Accepts YYYY-MM-DD and ISO 8601 date-times with ``Z`` or any offset; a time without an offset
    is read as UTC. Stored dates compare as strings, so a bound must be in their exact form:
    ``2021-03-07T10:00:00+02:00`` compared as given would sort after ``2021-03-07T09:00:00Z``.
    """
    try:
        return utc_text(parse_utc(value))
    except ValueError as error:
        raise MinerError(f"{value!r}: not a date (expected {DATE_FORMS})") from error


def thread_filter(labels: Sequence[str] = (), since: str | None = None, until: str | None = None,
                  list_id: str | None = None, search: str | None = None, min_messages: int | None = None,
                  raw_search: bool = False) -> tuple[list[str], list]:
    """WHERE terms (on ``threads t``) and their parameters: real messages, every label, the list, the search."""
    where = Where("t.message_count > 0")
    for label in dict.fromkeys(labels):  # each --label narrows: a thread carries every one given
        where.add("EXISTS (SELECT 1 FROM labels l WHERE l.thread_id = t.thread_id AND l.label = ?)", label)
    where.add("t.last_date >= ?", since)
    where.add("t.first_date < ?", until)
    where.add("EXISTS (SELECT 1 FROM json_each(t.lists) WHERE json_each.value = ?)", list_id)
    where.add("t.message_count >= ?", int(min_messages) if min_messages else None)
    if search is not None:
        where.add("t.thread_id IN (SELECT m.thread_id FROM messages_fts JOIN messages m"
                  " ON m.rowid = messages_fts.rowid WHERE messages_fts MATCH ?)", fts_query(search, raw=raw_search),
                  given=True)
    return where.terms, where.params


def list_threads(store: Store, label: str | Sequence[str] | None = None, since: str | None = None,
                 until: str | None = None, limit: int | None = None, *, list_id: str | None = None,
                 search: str | None = None, min_messages: int | None = None, sort: str = "last",
                 raw_search: bool = False) -> list[dict]:
    """Threads with real messages (newest activity first by default), as dicts with exactly THREAD_KEYS.

    ``label`` is one label or several (a thread must carry them all); ``search`` is full-text search
    text as :func:`miner.search.fts_query` reads it (FTS5 syntax with ``raw_search``).
    """
    labels = [label] if isinstance(label, str) else list(label or ())
    where, params = thread_filter(labels, since, until, list_id, search, min_messages, raw_search)
    if sort not in THREAD_SORTS:
        raise MinerError(f"sort {sort!r}: expected one of {', '.join(THREAD_SORTS)}")
    sql = (
        "SELECT t.thread_id, t.root_message_id, t.subject, t.message_count, t.first_date, t.last_date, t.lists,"
        " t.labels, (SELECT max(score) FROM labels l WHERE l.thread_id = t.thread_id) AS best_score"
        f" FROM threads t WHERE {' AND '.join(where)} ORDER BY {THREAD_SORTS[sort]}"
    )
    if limit is not None:  # 0 means no rows, as in SQL; None means every row
        sql += " LIMIT ?"
        params.append(int(limit))
    try:
        rows = store.conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError as error:
        problem = fts_error(error, raw_search) if search is not None else None
        if problem:
            raise problem from error
        raise
    return [dict(zip(THREAD_KEYS, (r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6] or "[]"),
                                   json.loads(r[7] or "[]"), lore_url(r[1]) if r[1] else None)))
            for r in rows]


def count_threads(store: Store, label: str | Sequence[str] | None = None, since: str | None = None,
                  until: str | None = None, *, list_id: str | None = None, search: str | None = None,
                  min_messages: int | None = None, raw_search: bool = False) -> int:
    """How many threads :func:`list_threads` would return without a limit."""
    labels = [label] if isinstance(label, str) else list(label or ())
    where, params = thread_filter(labels, since, until, list_id, search, min_messages, raw_search)
    return store.conn.execute(f"SELECT count(*) FROM threads t WHERE {' AND '.join(where)}", params).fetchone()[0]


def unclassified_threads(store: Store) -> int:
    """Threads with real messages the classifier has not seen at their current revision."""
    return store.conn.execute(
        "SELECT count(*) FROM threads t LEFT JOIN classify_state c ON c.thread_id = t.thread_id"
        " WHERE t.message_count > 0 AND (c.thread_id IS NULL OR c.thread_revision IS NOT t.revision)"
    ).fetchone()[0]


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


def find_thread(store: Store, reference: str) -> tuple[int, str | None]:
    """The thread a pasted reference names (Message-ID, ``<id>``, thread number, lore URL) and its Message-ID.

    A thread number gives no Message-ID (None). A reference naming nothing is a MinerError saying
    what is accepted.
    """
    ref = parse_reference(reference)
    if ref.message_id is not None:
        thread_id = store.thread_of(ref.message_id)
        if thread_id is not None:
            return thread_id, ref.message_id
        raise MinerError(f"{ref.message_id}: no such Message-ID in the database (give a Message-ID, a thread"
                         " number from 'miner threads' or a lore.kernel.org URL)")
    row = store.conn.execute("SELECT thread_id FROM threads WHERE thread_id=? AND message_count > 0",
                             (ref.thread_id,)).fetchone()
    if row is None:
        by_id = store.thread_of(str(ref.thread_id))  # a Message-ID made of digits only
        if by_id is not None:
            return by_id, str(ref.thread_id)
        raise MinerError(f"{ref.thread_id}: no such thread number in the database (see 'miner threads')")
    return row[0], None


def thread_tree(store: Store, message_id: str) -> tuple[int, list[TreeNode]]:
    """The thread containing ``message_id``: its id and root nodes (children sorted by date)."""
    thread_id = store.thread_of(message_id)
    if thread_id is None:
        raise MinerError(f"{message_id}: no such Message-ID in the database")
    return thread_id, thread_tree_of(store, thread_id)


def thread_tree_of(store: Store, thread_id: int) -> list[TreeNode]:
    """The root nodes of thread ``thread_id`` (children sorted by date)."""
    has_kind = any(row[1] == "kind" for row in store.conn.execute("PRAGMA table_info(messages)"))
    rows = store.conn.execute(
        "SELECT message_id, ghost, parent_id, subject, from_name, from_email, date,"
        f" {'kind' if has_kind else 'NULL'} FROM messages"
        " WHERE thread_id=? ORDER BY date IS NULL, date, rowid",
        (thread_id,),
    ).fetchall()
    nodes = {r[0]: TreeNode(r[0], bool(r[1]), r[3], r[4], r[5], r[6], [], r[7]) for r in rows}
    parent_of: dict[str, str] = {}
    roots = []
    for r in rows:
        parent = r[2]
        if parent and parent in nodes and parent != r[0]:
            nodes[parent].children.append(nodes[r[0]])
            parent_of[r[0]] = parent
        else:
            roots.append(nodes[r[0]])
    return _root_every_cycle(nodes, parent_of, roots)


def _root_every_cycle(nodes: dict[str, TreeNode], parent_of: dict[str, str], roots: list[TreeNode]) -> list[TreeNode]:
    """The roots, plus one root per reply cycle (A replies to B, B to A): its earliest message.

    A message no root reaches has a parent, and so does that parent: climbing from it ends in a
    cycle. Cutting the earliest message of the cycle from its parent makes the cycle a tree, so
    every message of the thread is shown exactly once. ``nodes`` is in date order.
    """
    order = {message_id: index for index, message_id in enumerate(nodes)}
    reached: set[str] = set()

    def reach(node: TreeNode) -> None:
        stack = [node]
        while stack:
            current = stack.pop()
            if current.message_id not in reached:
                reached.add(current.message_id)
                stack.extend(current.children)

    for root in roots:
        reach(root)
    for message_id in nodes:
        if message_id in reached:
            continue
        climbed: list[str] = []
        current = message_id
        while current not in climbed:
            climbed.append(current)
            current = parent_of[current]
        cycle = climbed[climbed.index(current):]
        root = min(cycle, key=order.__getitem__)
        nodes[parent_of.pop(root)].children.remove(nodes[root])
        roots.append(nodes[root])
        reach(nodes[root])
    return sorted(roots, key=lambda node: order[node.message_id])


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


def fold_quotes(body: str) -> list[str]:
    """The lines of a body with each run of quoted lines folded into one ``> [N quoted lines]`` line.

    Which lines are quoted is decided once, by :func:`miner.body.scan`.
    """
    scanned = scan(body or "")
    lines: list[str] = []
    run = 0
    for text, kind in zip(scanned.lines, scanned.kinds):
        if kind == QUOTE:
            run += 1
            continue
        if run:
            lines.append(f"> [{run} quoted line{'s' if run > 1 else ''}]")
            run = 0
        lines.append(text)
    if run:
        lines.append(f"> [{run} quoted line{'s' if run > 1 else ''}]")
    return lines


def render_bodies(store: Store, roots: list[TreeNode], mark: str | None = None) -> list[str]:
    """Each message of the tree in reading order: a header line, then its new text with quotes folded."""
    bodies = dict(store.conn.execute(
        "SELECT message_id, body FROM messages WHERE message_id IN (SELECT value FROM json_each(?))",
        (json.dumps([node.message_id for node, _ in walk_tree(roots)]),)))
    lines: list[str] = []
    for node, depth in walk_tree(roots):
        if node.ghost:
            continue
        arrow = "-> " if node.message_id == mark else ""
        who = node.from_name or node.from_email or "?"
        when = (node.date or "?")[:16].replace("T", " ")
        lines += ["", f"{arrow}=== {when}  {who}: {node.subject or '(no subject)'}",
                  f"    <{node.message_id}>  {lore_url(node.message_id)}", ""]
        lines += fold_quotes(bodies.get(node.message_id) or "")
    return lines


def walk_tree(roots: list[TreeNode]) -> list[tuple[TreeNode, int]]:
    """Tree nodes depth-first with their depth (each once, even if the tree has a loop)."""
    ordered: list[tuple[TreeNode, int]] = []
    seen: set[str] = set()
    stack = [(root, 0) for root in reversed(roots)]
    while stack:
        node, depth = stack.pop()
        if node.message_id in seen:
            continue
        seen.add(node.message_id)
        ordered.append((node, depth))
        stack.extend((child, depth + 1) for child in reversed(node.children))
    return ordered


def tree_as_dict(node: TreeNode) -> dict:
    """A tree node and its replies as JSON-ready dicts (ghosts carry only their Message-ID)."""
    if node.ghost:
        head = {"message_id": node.message_id, "ghost": True}
    else:
        head = {"message_id": node.message_id, "ghost": False, "subject": node.subject, "from_name": node.from_name,
                "from_email": node.from_email, "date": node.date, "lore_url": lore_url(node.message_id)}
    return {**head, "replies": [tree_as_dict(child) for child in node.children]}


def thread_document(store: Store, thread_id: int, roots: list[TreeNode]) -> dict:
    """The thread as one JSON-ready dict: its row, the reply tree, labels with evidence, the bug record if any."""
    row = store.conn.execute(
        "SELECT root_message_id, subject, first_date, last_date, message_count, lists FROM threads WHERE thread_id=?",
        (thread_id,)).fetchone()
    document = {
        "thread_id": thread_id, "root_message_id": row[0], "subject": row[1], "first_date": row[2],
        "last_date": row[3], "messages": row[4], "lists": json.loads(row[5] or "[]"),
        "lore_url": lore_url(row[0]) if row[0] else None,
        "tree": [tree_as_dict(root) for root in roots],
        "labels": [{"label": item.label, "score": item.score, "classifier_version": item.classifier_version,
                    "evidence": item.evidence} for item in thread_labels(store, thread_id)],
    }
    from miner.bugs.store import bug_record

    bug = bug_record(store, thread_id)
    if bug is not None:
        document["bug"] = bug
    return document


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


DEFAULT_QUERY_TIMEOUT = 30.0  # seconds: `miner sql` and `miner query` stop a query that runs longer
MAX_SQL_CHARS = 100_000
# FTS5 ranks and snippets each row against every phrase: 400 ORed terms took 26 s on 7 messages.
MAX_FTS_TOKENS = 200
PROGRESS_STEPS = 200  # SQLite VM steps between two looks at the clock (one snippet() call is a single step)
_MATCH_PARAMETER = re.compile(r"\bMATCH\s+(?:fts_query\s*\(\s*)?:(\w+)", re.IGNORECASE)
_MATCH_LITERAL = re.compile(r"\bMATCH\s+'((?:[^']|'')*)'", re.IGNORECASE)
_FTS_TOKEN = re.compile(r'"(?:[^"]|"")*"|[^\s()"]+')


def check_query_size(sql: str, params: dict | None = None) -> None:
    """Refuse SQL text over MAX_SQL_CHARS and full-text queries (MATCH) over MAX_FTS_TOKENS terms."""
    if len(sql) > MAX_SQL_CHARS:
        raise MinerError(f"SQL of {len(sql):,} characters: at most {MAX_SQL_CHARS:,}")
    matched = [("MATCH '...'", text.replace("''", "'")) for text in _MATCH_LITERAL.findall(sql)]
    matched += [(f"parameter '{name}'", str((params or {}).get(name, ""))) for name in _MATCH_PARAMETER.findall(sql)]
    for where, text in matched:
        terms = len(_FTS_TOKEN.findall(text))
        if terms > MAX_FTS_TOKENS:
            raise MinerError(f"full-text query ({where}) of {terms} terms and operators: at most {MAX_FTS_TOKENS}"
                             " (each term multiplies the work of ranking and snippets); split it into smaller queries")


class _FileGuard:
    """SQLite authorizer denying ATTACH (and so VACUUM INTO, which attaches its target): both create files,
    even on a read-only connection with query_only on."""

    def __init__(self) -> None:
        self.denied: str | None = None

    def __call__(self, action: int, target: str | None, *_rest) -> int:
        if action == sqlite3.SQLITE_ATTACH:
            self.denied = target or "?"
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK


def run_readonly_sql(store: Store, sql: str, params: dict | None = None,
                     timeout: float | None = None) -> tuple[list[str], list[tuple]]:
    """Run ``sql`` on a read-only connection to ``store``'s file; writes are refused by SQLite itself, ATTACH by
    an authorizer.

    ``timeout`` (seconds; None or 0: no limit) stops a query that runs longer, through SQLite's
    progress handler, with a one-line error saying how to raise the limit.
    """
    path = Path(store.path)
    check_query_size(sql, params)
    check_search_params(sql, params)
    conn = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True)
    guard = _FileGuard()
    deadline = time.monotonic() + timeout if timeout else None
    if deadline is not None:
        conn.set_progress_handler(lambda: time.monotonic() > deadline, PROGRESS_STEPS)
    try:
        conn.execute("PRAGMA query_only=ON")
        register_functions(conn)
        register_text_functions(conn)
        conn.set_authorizer(guard)
        cursor = conn.execute(sql, params or {})
        columns = [d[0] for d in cursor.description] if cursor.description else []
        return columns, cursor.fetchall()
    except sqlite3.Error as error:
        raise_if_interrupted(error)  # a Ctrl-C inside a text function
        if deadline is not None and time.monotonic() > deadline and "interrupted" in str(error):
            raise MinerError(f"the query ran over {timeout:g} s and was stopped; give it longer with"
                             f" --timeout SECONDS (0: no limit)") from error
        if guard.denied is not None:
            raise MinerError(f"SQL refused: ATTACH and VACUUM INTO are not allowed (they create files;"
                             f" here {guard.denied!r})") from error
        if is_storage_error(error):
            raise database_error(path, error) from error
        if _MATCH_PARAMETER.search(sql) or _MATCH_LITERAL.search(sql):
            problem = fts_error(error, any(is_raw((params or {}).get(raw)) for _, raw in FTS_CALL.findall(sql)))
            if problem:
                raise problem from error
        raise MinerError(f"SQL refused: {error}") from error
    finally:
        conn.close()
