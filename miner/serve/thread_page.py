"""What the thread page shows: the conversation as a tree, quoted text in folds, labels with evidence.

Pure data from a SQLite connection; the template (templates/lkml_thread.html) only lays it out,
and Jinja's autoescaping turns everything that came from mail into text.
"""

from __future__ import annotations

import json
import re
from html import escape as escape_html
from dataclasses import dataclass, field
from urllib.parse import quote

from markupsafe import Markup

from miner.body import DIFF, QUOTE, scan
from miner.body import body_lines as body_lines_of
from miner.mid import clean_message_id, escape_message_id, lore_url
from miner.reading import thread_tree, walk_tree
from miner.serve.bug_record import BugView, load_bug_view
from miner.store import Store

THREAD_PAGE_PATH = "/-/thread/{}"
RAW_MAIL_PATH = "/-/raw/{}"
OVERVIEW_MIN_MESSAGES = 6  # from this many messages on, the page opens with an overview of the reply tree


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
    patterns: list[str] = field(default_factory=list)  # every pattern of this label that fired on the line


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
    diff: str = ""  # inside a diff: "add", "del", "hunk" or "meta" (coloured on the page); else ""


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
    raw_url: str = ""
    has_evidence: bool = False
    overview_subject: str = ""  # the subject in the overview tree, empty when it is the thread's own with Re:

    @property
    def body_html(self) -> Markup:
        """The body as HTML: every line escaped, quoted runs in folds, evidence lines marked, diff lines typed."""
        return blocks_html(self.blocks)


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

    @property
    def show_overview(self) -> bool:
        """True for a thread long enough to need the overview tree at the top."""
        return len(self.messages) >= OVERVIEW_MIN_MESSAGES


def thread_page_url(message_id: str) -> str:
    """The path of the thread page of a Message-ID (URL-encoded)."""
    return THREAD_PAGE_PATH.format(quote(message_id, safe="@"))


def raw_mail_url(message_id: str) -> str:
    """The path of the raw mail of a Message-ID (URL-encoded)."""
    return RAW_MAIL_PATH.format(escape_message_id(message_id))


def _diff_kind(text: str) -> str:
    if text.startswith("@@"):
        return "hunk"
    if text.startswith("+") and not text.startswith("+++ "):
        return "add"
    if text.startswith("-") and not text.startswith("--- "):
        return "del"
    return "meta"


def split_blocks(body: str, anchor: str, evidence_at: dict[int, list[str]]) -> list[BodyBlock]:
    """Body lines grouped into quoted and new-text blocks, evidence lines marked, diff lines typed.

    Quoted, diff or prose is decided by ``miner.body.scan``, as for the classifier, so evidence
    line numbers, folds and diff colours agree with what the classifier read.
    """
    blocks: list[BodyBlock] = []
    scanned = scan(body)
    shown = len(scanned.lines) - (1 if body.endswith("\n") else 0)  # no empty line after the last "\n"
    kinds = scanned.kinds
    for number, text in enumerate(scanned.lines[:shown], start=1):
        quoted = kinds[number - 1] == QUOTE
        line = BodyLine(number, text, f"{anchor}-L{number}", evidence_at.get(number, []))
        if number <= len(kinds) and kinds[number - 1] == DIFF and not quoted:
            line.diff = _diff_kind(text)
        if blocks and blocks[-1].quoted == quoted:
            blocks[-1].lines.append(line)
        else:
            blocks.append(BodyBlock(quoted, [line]))
    return blocks


_REPLY_PREFIX = re.compile(r"^(?:\s*(?:re|fwd?|aw)\s*:\s*)+", re.IGNORECASE)


def _base(subject: str | None) -> str:
    """A subject without its Re:/Fwd: prefixes, for comparing a reply's subject with its thread's."""
    return " ".join(_REPLY_PREFIX.sub("", subject or "").split())


def blocks_html(blocks: list[BodyBlock]) -> Markup:
    """HTML of body blocks; all text from mail goes through ``html.escape`` (quotes too), as autoescaping would.

    Built as one string: markupsafe's per-value escape took a third of a 150-message page's time.
    """
    out: list[str] = []
    for block in blocks:
        if block.quoted:
            out.append(f'<details class="lkml-quoted"{" open" if block.has_evidence else ""}>'
                       f"<summary>quoted text ({len(block.lines)} lines)</summary>")
        for line in block.lines:
            classes = "lkml-line" + (" lkml-hit" if line.labels else "")
            classes += f" lkml-diff-{line.diff}" if line.diff else ""
            title = f' title="evidence: {escape_html(", ".join(line.labels))}"' if line.labels else ""
            anchor, text = escape_html(line.anchor), escape_html(line.text)
            out.append(f'<span class="{classes}" id="{anchor}"{title}>{text}</span>')
        if block.quoted:
            out.append("</details>")
    return Markup("".join(out))


def _evidence_line_number(evidence: EvidenceLine, body_lines: list[str]) -> int | None:
    """The body line an evidence row points at: its line number if the text agrees, else where the text is."""
    wanted = " ".join(evidence.text.split())
    if 0 < evidence.line <= len(body_lines) and " ".join(body_lines[evidence.line - 1].split()) == wanted:
        return evidence.line
    for number, text in enumerate(body_lines, start=1):
        if wanted and wanted in " ".join(text.split()):
            return number
    return None


def load_thread_page(store: Store, message_id: str) -> ThreadPage:
    """The thread page of the thread holding ``message_id`` (MinerError if it is unknown)."""
    conn = store.conn
    message_id = clean_message_id(message_id)
    thread_id, roots = thread_tree(store, message_id)
    subject, first_date, last_date, lists = conn.execute(
        "SELECT subject, first_date, last_date, lists FROM threads WHERE thread_id=?", (thread_id,)
    ).fetchone()
    bodies = dict(conn.execute("SELECT message_id, body FROM messages WHERE thread_id=?", (thread_id,)))
    ordered = walk_tree(roots)
    anchors = {node.message_id: f"m{index}" for index, (node, _) in enumerate(ordered, start=1)}
    body_lines = {mid: body_lines_of(body or "") for mid, body in bodies.items()}

    labels: list[LabelView] = []
    evidence_at: dict[str, dict[int, list[str]]] = {}
    for label, score, version in conn.execute(
        "SELECT label, score, classifier_version FROM labels WHERE thread_id=? ORDER BY score DESC, label",
        (thread_id,),
    ).fetchall():
        lines: list[EvidenceLine] = []
        by_line: dict[tuple[str | None, int], EvidenceLine] = {}  # one entry per line, naming every pattern
        for row in conn.execute(
            "SELECT label, subtype, pattern, message_id, line, text, quoted, in_diff, weight FROM evidence"
            " WHERE thread_id=? AND label=? ORDER BY weight DESC, id",
            (thread_id, label),
        ):
            evidence = EvidenceLine(*row[:6], bool(row[6]), bool(row[7]), row[8], None, [row[2]])
            evidence.text = evidence.text or ""
            same_line = by_line.get((evidence.message_id, evidence.line))
            if same_line is not None:
                if evidence.pattern not in same_line.patterns:
                    same_line.patterns.append(evidence.pattern)
                continue
            by_line[(evidence.message_id, evidence.line)] = evidence
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
    thread_base = _base(subject)
    for node, depth in ordered:
        marks = evidence_at.get(node.message_id, {})
        messages.append(MessageView(
            node.message_id, anchors[node.message_id], depth, node.ghost, node.subject, node.from_name,
            node.from_email, node.date, sorted(set(marks.get(0, []))),
            split_blocks(bodies.get(node.message_id) or "", anchors[node.message_id], marks),
            lore_url(node.message_id), thread_page_url(node.message_id), raw_mail_url(node.message_id),
            bool(marks), "" if _base(node.subject) == thread_base else (node.subject or ""),
        ))
    return ThreadPage(thread_id, message_id, subject, first_date, last_date, json.loads(lists or "[]"),
                      labels, messages, load_bug_view(store, thread_id))
