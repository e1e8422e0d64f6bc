"""What the thread page shows: the conversation as a tree, quoted text in folds, labels with evidence.

Pure data from a SQLite connection; the template (templates/lkml_thread.html) only lays it out,
and Jinja's autoescaping turns everything that came from mail into text.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from urllib.parse import quote

import sqlite_utils

from miner.reading import TreeNode, thread_tree
from miner.serve.bug_record import BugView, load_bug_view
from miner.store import Store

LORE_URL = "https://lore.kernel.org/r/{}"
THREAD_PAGE_PATH = "/-/thread/{}"


@dataclass
class EvidenceLine:
    """One evidence row, with the anchor of the line it points to."""

    label: str
    subtype: str | None
    pattern: str
    message_id: str | None
    line: int
    text: str
    quoted: bool
    in_diff: bool
    weight: float | None
    anchor: str | None


@dataclass
class LabelView:
    """A label of the thread, its score and its evidence."""

    label: str
    score: float | None
    classifier_version: str | None
    evidence: list[EvidenceLine]


@dataclass
class BodyLine:
    """A line of a message body; ``labels`` are the labels whose evidence points at it."""

    number: int
    text: str
    anchor: str
    labels: list[str] = field(default_factory=list)


@dataclass
class BodyBlock:
    """Consecutive body lines that are all quoted (folded on the page) or all new text."""

    quoted: bool
    lines: list[BodyLine]

    @property
    def has_evidence(self) -> bool:
        """True if a line of this block is evidence (its fold starts open)."""
        return any(line.labels for line in self.lines)


@dataclass
class MessageView:
    """A message in display order, with its depth in the reply tree."""

    message_id: str
    anchor: str
    depth: int
    ghost: bool
    subject: str | None
    from_name: str | None
    from_email: str | None
    date: str | None
    subject_labels: list[str]
    blocks: list[BodyBlock]
    lore_url: str
    page_url: str


@dataclass
class ThreadPage:
    """Everything the thread page shows."""

    thread_id: int
    requested_message_id: str
    subject: str | None
    first_date: str | None
    last_date: str | None
    lists: list[str]
    labels: list[LabelView]
    messages: list[MessageView]
    bug: "BugView | None" = None  # the thread's bug record (miner/serve/bug_record.py)


def lore_url(message_id: str) -> str:
    """The lore.kernel.org redirect for a Message-ID."""
    return LORE_URL.format(quote(message_id, safe="@"))


def thread_page_url(message_id: str) -> str:
    """The path of the thread page of a Message-ID (URL-encoded)."""
    return THREAD_PAGE_PATH.format(quote(message_id, safe="@"))


def split_blocks(body: str, anchor: str, evidence_at: dict[int, list[str]]) -> list[BodyBlock]:
    """Body lines grouped into quoted ('>' lines) and new-text blocks, evidence lines marked."""
    blocks: list[BodyBlock] = []
    for number, text in enumerate(body.splitlines(), start=1):
        quoted = text.lstrip().startswith(">")
        line = BodyLine(number, text, f"{anchor}-L{number}", evidence_at.get(number, []))
        if blocks and blocks[-1].quoted == quoted:
            blocks[-1].lines.append(line)
        else:
            blocks.append(BodyBlock(quoted, [line]))
    return blocks


def _ordered(roots: list[TreeNode]) -> list[tuple[TreeNode, int]]:
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


def _evidence_line_number(evidence: EvidenceLine, body_lines: list[str]) -> int | None:
    """The body line an evidence row points at: its line number if the text agrees, else where the text is."""
    wanted = " ".join(evidence.text.split())
    if 0 < evidence.line <= len(body_lines) and " ".join(body_lines[evidence.line - 1].split()) == wanted:
        return evidence.line
    for number, text in enumerate(body_lines, start=1):
        if wanted and wanted in " ".join(text.split()):
            return number
    return None


def load_thread_page(conn: sqlite3.Connection, message_id: str) -> ThreadPage:
    """The thread page of the thread holding ``message_id`` (MinerError if it is unknown)."""
    store = Store(sqlite_utils.Database(conn), None)
    message_id = message_id.strip().strip("<>")
    thread_id, roots = thread_tree(store, message_id)
    subject, first_date, last_date, lists = conn.execute(
        "SELECT subject, first_date, last_date, lists FROM threads WHERE thread_id=?", (thread_id,)
    ).fetchone()
    bodies = dict(conn.execute("SELECT message_id, body FROM messages WHERE thread_id=?", (thread_id,)))
    ordered = _ordered(roots)
    anchors = {node.message_id: f"m{index}" for index, (node, _) in enumerate(ordered, start=1)}
    body_lines = {mid: (body or "").splitlines() for mid, body in bodies.items()}

    labels: list[LabelView] = []
    evidence_at: dict[str, dict[int, list[str]]] = {}
    for label, score, version in conn.execute(
        "SELECT label, score, classifier_version FROM labels WHERE thread_id=? ORDER BY score DESC, label",
        (thread_id,),
    ).fetchall():
        lines = []
        for row in conn.execute(
            "SELECT label, subtype, pattern, message_id, line, text, quoted, in_diff, weight FROM evidence"
            " WHERE thread_id=? AND label=? ORDER BY weight DESC, id",
            (thread_id, label),
        ):
            evidence = EvidenceLine(*row[:6], bool(row[6]), bool(row[7]), row[8], None)
            evidence.text = evidence.text or ""
            anchor = anchors.get(evidence.message_id or "")
            if anchor and evidence.line == 0:
                evidence.anchor = anchor
                evidence_at.setdefault(evidence.message_id, {}).setdefault(0, []).append(label)
            elif anchor:
                number = _evidence_line_number(evidence, body_lines.get(evidence.message_id, []))
                if number:
                    evidence.anchor = f"{anchor}-L{number}"
                    evidence_at.setdefault(evidence.message_id, {}).setdefault(number, []).append(label)
            lines.append(evidence)
        labels.append(LabelView(label, score, version, lines))

    messages = []
    for node, depth in ordered:
        marks = evidence_at.get(node.message_id, {})
        messages.append(MessageView(
            node.message_id, anchors[node.message_id], depth, node.ghost, node.subject, node.from_name,
            node.from_email, node.date, sorted(set(marks.get(0, []))),
            split_blocks(bodies.get(node.message_id) or "", anchors[node.message_id], marks),
            lore_url(node.message_id), thread_page_url(node.message_id),
        ))
    return ThreadPage(thread_id, message_id, subject, first_date, last_date, json.loads(lists or "[]"),
                      labels, messages, load_bug_view(conn, thread_id))
