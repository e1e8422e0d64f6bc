"""Find pattern matches in one message fast: one anchor scan, then patterns on matched lines only.

Speed matters (the database command classifies thousands of messages a second), so the whole
text is never split into lines.  One automaton finds the patterns' anchors; the line of
each anchor is cut out with ``rfind``/``find``; only there do the patterns' own regexes run and
is the line's kind (prose, quote, diff) worked out.  After the first unquoted diff header only
the anchors of code patterns (barriers, READ_ONCE, data_race) are searched.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

import ahocorasick_rs

from miner import body
from miner.body import QUOTE_PREFIX
from miner.classify.kinds import KIND_POLICY, PATCH, KindPolicy
from miner.classify.patterns import (
    CPU_BARRIER_SENSE,
    DEEP_QUOTE_FACTOR,
    MAX_WEIGHT,
    PATTERNS,
    QUOTE_FACTOR,
    STORAGE_MESSAGE,
    SUBJECT_FACTOR,
    TRAILER_FACTOR,
    Pattern,
)

# Where a match sits; the scorer gives each zone its own weight (see score.py).
SUBJECT, PROSE, QUOTE, CODE, ASIDE = "subject", "prose", "quote", "code", "aside"
ZONES = (SUBJECT, PROSE, QUOTE, CODE, ASIDE)
# Prose roles that name other work (changelog bullets, patch lists, trailers): evidence aside.
ASIDE_ROLES = frozenset((body.CHANGELOG, body.LISTING, body.TRAILER_ROLE))
# Prose roles that are not a claim at all: "On ... X wrote:" and the signature.
SILENT_ROLES = frozenset((body.ATTRIBUTION, body.SIGNATURE))

DIFF_HEADERS = ("\ndiff --git ", "\n--- a/", "\nIndex: ", "\n@@ -")
TRAILER_LINE = re.compile(
    r"^\s*(?:fixes|link|closes|reported-by|cc|signed-off-by|reviewed-by|acked-by|tested-by)\s*:",
    re.IGNORECASE,
)
# "git request-pull" lists commit titles with their dates: titles of other work (D2).
PULL_REQUEST_LINE = re.compile(r"\(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\)\s*$")
# A field of a robot's report or reminder: "Title: INFO: task hung in ...", "commit: dfea9fce
# io_uring: close a small race gap ...": the name of a report or of another commit, also quoted.
REPORT_FIELD_LINE = re.compile(
    r"^\s*(?:title|head commit|commit|git tree|dashboard link|first crash|last crash|crashes|"
    r"console output|kernel config|syz repro|c reproducer|compiler|patch|fix commit)\s*:\s", re.IGNORECASE)
# A patch of a series named by its number and title, in any message: "1/3 btrfs: fix race ...",
# "[PATCH 2/5] svcrdma: ...", "patch 4/7 (btrfs: ...)": the title of other work (D2).
LISTED_PATCH_LINE = re.compile(r"^\s*[-*]?\s*(?:\[(?:patch[^\]]*)?\s*\d+/\d+\]|(?:patch )?\d+/\d+:?)\s+\(?[\w./-]+: ",
                               re.IGNORECASE)
# A line of C outside a diff (a quoted or pasted code listing): only code patterns count (D2).
CODE_LINE = re.compile(r"[;{}]\s*(?:\\\s*)?(?://.*|/\*.*)?$|^\s*#\s*(?:include|define|if)\b")
# A diff line that is a comment is a passing mention (D2): "+ * ...", "+/* ...", "+// ...".
DIFF_COMMENT = re.compile(r"^[+-]\s*(?:/\*|\*|//|#)")
SUBJECT_LINE = 0  # Evidence.line for a match in the subject
# A comment line of code in a quoted hunk: its context lines keep their leading blank.
QUOTED_COMMENT = re.compile(r"^(?:[ \t]+\*(?![*/])|[ \t]*/\*|[ \t]*//)")
# A comment line of pasted source: tab-indented " * ...", "/* ...", "// ...", or numbered
# ("37       * This is a relaxed atomic operation").  Bullets in prose start at the margin.
LISTING_COMMENT = re.compile(r"^(?:\t+ ?\*(?![*/])|\s*/\*|\s*//|\s*\d+\s{2,}(?:\*|/\*|//))")
# A commit named by its title: 'commit 04216820fe83 ("Btrfs: fix race between ...")'.  The
# title is another commit's topic (D2), also when it wraps over two lines; a quoted phrase
# ('the report "use-after-free due to dead reloc tree cleanup race"') is someone else's words.
COMMIT_TITLE = re.compile(r'\("[^"]*(?:"\)|$)|^[^"(]*"\)|"[^"]{12,}"')  # also any quoted phrase
# A line that names a CPU barrier keeps the match a mail about disks would cancel (STORAGE_MESSAGE).
CPU_BARRIER_LINE = re.compile(CPU_BARRIER_SENSE)


@dataclass(frozen=True)
class Match:
    """One pattern matched on one line, with the context that sets its weight."""

    pattern: Pattern
    line: int
    text: str
    quoted: bool
    in_diff: bool
    weight: float
    zone: str = PROSE


WORD_MARK = "\\b"  # an anchor starting/ending with \b must start/end a word: "\brace" not "trace"


@dataclass(frozen=True)
class Anchor:
    """A literal to find: its text, word-boundary flags and id."""

    text: str
    word_start: bool
    word_end: bool
    anchor_id: int


def parse_anchor(spelling: str, anchor_id: int = 0) -> Anchor:
    """An Anchor from its spelling in the pattern table (optional leading/trailing \b)."""
    word_start = spelling.startswith(WORD_MARK)
    word_end = spelling.endswith(WORD_MARK) and len(spelling) > len(WORD_MARK)
    text = spelling[len(WORD_MARK) if word_start else 0 : -len(WORD_MARK) if word_end else None]
    return Anchor(text, word_start, word_end, anchor_id)


def anchor_text(spelling: str) -> str:
    """The literal part of an anchor spelling."""
    return parse_anchor(spelling).text


class AnchorFinder:
    """Finds a set of literal anchors in lower-cased text in one pass (an Aho-Corasick automaton).

    ahocorasick_rs (the Rust aho-corasick crate) walks the text once, as a DFA, whatever the number
    of anchors; only the occurrences it reports (about three per message) are checked for word
    boundaries here.  The boundaries are those of ``re`` with ``pos``/``endpos``: a character
    before ``start`` counts, one at ``end`` or after does not.  Offsets are in characters.
    """

    def __init__(self, spellings: list[str], anchor_ids: dict[str, int]) -> None:
        by_text: dict[str, list[Anchor]] = defaultdict(list)
        for spelling in spellings:
            anchor = parse_anchor(spelling, anchor_ids[spelling])
            by_text[anchor.text].append(anchor)
        self.anchors = [tuple(anchors) for anchors in by_text.values()]  # by the index of their text
        self.automaton: ahocorasick_rs.AhoCorasick | None = None
        if by_text:
            # overlapping matches need the standard match kind (the default): every anchor at every place
            self.automaton = ahocorasick_rs.AhoCorasick(list(by_text), implementation=ahocorasick_rs.Implementation.DFA)

    def find(self, lower: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
        """(start offset, anchor id) for every anchor in lower[start:end]."""
        if self.automaton is None:
            return []
        end = len(lower) if end is None else end
        haystack = lower if start == 0 and end == len(lower) else lower[start:end]
        found: list[tuple[int, int]] = []
        for index, first, after in self.automaton.find_matches_as_indexes(haystack, overlapping=True):
            first += start
            after += start
            for anchor in self.anchors[index]:
                if anchor.word_start and first > 0 and lower[first - 1].isalnum():
                    continue
                if anchor.word_end and after < end and lower[after].isalnum():
                    continue
                found.append((first, anchor.anchor_id))
        return found


class Scanner:
    """Compiled form of a pattern table: anchor finders plus per-anchor pattern lists."""

    def __init__(self, patterns: tuple[Pattern, ...] = PATTERNS) -> None:
        self.patterns = patterns
        anchor_ids: dict[str, int] = {}
        self.anchor_patterns: list[list[int]] = []
        for index, pattern in enumerate(patterns):
            for anchor in pattern.anchors:
                if anchor != anchor.lower() or "\n" in anchor or not anchor_text(anchor).strip():
                    raise ValueError(f"anchor {anchor!r} of {pattern.name}: lower-case, one line")
                if anchor not in anchor_ids:
                    anchor_ids[anchor] = len(anchor_ids)
                    self.anchor_patterns.append([])
                self.anchor_patterns[anchor_ids[anchor]].append(index)
        self.anchors = list(anchor_ids)
        code_anchors = [a for a in self.anchors if any(
            patterns[i].in_diff > 0 for i in self.anchor_patterns[anchor_ids[a]])]
        self.prose_finder = AnchorFinder(self.anchors, anchor_ids)
        self.diff_finder = AnchorFinder(code_anchors, anchor_ids)
        self.subject_cache: dict[str, list[int]] = {}
        self.regexes = [re.compile(p.regex) for p in patterns]
        self.cancels = [re.compile(p.cancel) if p.cancel else None for p in patterns]
        self.cancels_before = [
            re.compile(p.cancel_before) if p.cancel_before else None for p in patterns
        ]
        compiled: dict[str, re.Pattern] = {}  # patterns sharing a message context share one search
        self.cancels_message = [
            compiled.setdefault(p.cancel_message, re.compile(p.cancel_message)) if p.cancel_message else None
            for p in patterns
        ]

    def scan(self, subject: str, text: str, kind: str = PATCH) -> list[Match]:
        """Every pattern match in the subject and text of one message of ``kind``.

        Which line is quoted, diff or prose is decided once, by ``miner.body.scan``; the
        anchors only say which lines to look at.
        """
        found: list[Match] = []
        lower = text.lower()
        if len(lower) != len(text):  # a few characters lower-case to two; keep offsets aligned
            lower = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
        message_cancel_cache: dict[tuple[int, str], bool] = {}
        if subject:
            self._scan_subject(subject, lower, message_cancel_cache, found)
        if not text:
            return found
        diff_start = self._diff_start(text)
        lines: dict[int, set[int]] = defaultdict(set)
        for position, anchor_id in self.prose_finder.find(lower, 0, diff_start):
            lines[lower.rfind("\n", 0, position) + 1].add(anchor_id)
        scanned: body.ScannedBody | None = None
        if diff_start < len(lower):
            tail = len(lines)
            for position, anchor_id in self.diff_finder.find(lower, diff_start):
                lines[lower.rfind("\n", 0, position) + 1].add(anchor_id)
            if PROSE_AFTER_DIFF.search(text, diff_start - 1):
                scanned = body.scan(text)
                for run_start, run_end in _prose_runs_after(scanned, diff_start):
                    for position, anchor_id in self.prose_finder.find(lower, run_start, run_end):
                        lines[lower.rfind("\n", 0, position) + 1].add(anchor_id)
            if scanned is None and len(lines) > tail:
                # a line's kind depends on the lines above it and the next one: split up to
                # the line after the last one to look at
                last = lower.find("\n", max(lines) )
                last = lower.find("\n", last + 1) if last >= 0 else -1
                scanned = body.scan(text if last < 0 else text[:last])
        if not lines:
            return found
        if scanned is None:
            # every line to look at is above the first diff header: the head decides them alike
            scanned = body.scan(text[:diff_start])
        policy = KIND_POLICY.get(kind, KIND_POLICY[PATCH])
        roles = body.ProseRoles(scanned, policy.lists_patches)
        diff_at = _first_diff(lower)
        number, previous = 1, 0
        for start in sorted(lines):
            number += text.count("\n", previous, start)
            previous = start
            end = lower.find("\n", start)
            if end < 0:
                end = len(lower)
            self._scan_line(text, lower, start, end, number, scanned, roles, policy, diff_at,
                            lines[start], message_cancel_cache, found)
        return found

    def could_match(self, prose: str) -> bool:
        """Whether any anchor occurs in ``prose`` (a message's own new text, messages.prose)."""
        return bool(prose) and bool(self.prose_finder.find(prose.lower()))

    def diff_free(self, text: str) -> bool:
        """Whether ``text`` has no unquoted diff header (so its own text is all prose)."""
        return self._diff_start(text) >= len(text)

    def _scan_subject(
        self, subject: str, text_lower: str, message_cancel_cache: dict,
        found: list[Match],
    ) -> None:
        """Matches in the subject line (weighted up: the subject names the thread's topic)."""
        lower = subject.lower()
        matching = self.subject_cache.get(lower)
        if matching is None:
            candidates: set[int] = set()
            for _, anchor_id in self.prose_finder.find(lower):
                candidates.update(self.anchor_patterns[anchor_id])
            matching = [index for index in sorted(candidates)
                        if self.patterns[index].in_subject and self._matches(index, lower)]
            if len(self.subject_cache) > SUBJECT_CACHE_SIZE:
                self.subject_cache.clear()
            self.subject_cache[lower] = matching  # replies repeat their thread's subject
        for index in matching:
            pattern = self.patterns[index]
            if self._voided_by_message(index, lower, message_cancel_cache, text_lower, lower):
                continue
            weight = min(MAX_WEIGHT, pattern.weight * SUBJECT_FACTOR)
            found.append(Match(pattern, SUBJECT_LINE, subject, False, False, weight, SUBJECT))

    def _matches(self, index: int, line_lower: str) -> bool:
        """Whether pattern ``index`` matches the line and no line-level context cancels it."""
        if not self.regexes[index].search(line_lower):
            return False
        cancel = self.cancels[index]
        return not (cancel and cancel.search(line_lower))

    def _scan_line(
        self, text: str, lower: str, start: int, end: int, number: int, scanned: body.ScannedBody,
        roles: body.ProseRoles, policy: KindPolicy, diff_at: int, anchor_ids: set[int],
        message_cancel_cache: dict, found: list[Match],
    ) -> None:
        """Run the patterns of the anchors seen on one line and record the matches."""
        line = text[start:end]
        line_lower = lower[start:end]
        factor, quoted, in_diff, content, zone = line_context(
            line, scanned.kinds[number - 1], roles.role(number - 1), policy, diff_at, start)
        if factor == 0.0:
            return
        if zone == CODE and scanned.kinds[number - 1] == body.DIFF and _in_documentation(scanned, number - 1):
            zone = PROSE  # an added line of Documentation/ or a .txt is text, not code (weighed as a diff line)
        indexes: set[int] = set()
        for anchor in anchor_ids:
            indexes.update(self.anchor_patterns[anchor])
        content_lower = line_lower[len(line) - len(content):]
        for index in sorted(indexes):
            pattern = self.patterns[index]
            if in_diff and pattern.in_diff == 0.0:
                continue
            if quoted and not pattern.in_quote:
                continue
            if not self._matches(index, content_lower):
                continue
            in_title = '"' in content_lower and not self._matches(
                index, COMMIT_TITLE.sub(" ", content_lower))
            if self.cancels_before[index] is not None:
                window_start = start
                for _ in range(3):
                    window_start = lower.rfind("\n", 0, max(0, window_start - 1)) + 1
                if self.cancels_before[index].search(lower, window_start, start):
                    continue
            if self._voided_by_message(index, content_lower, message_cancel_cache, lower):
                continue
            where = zone
            weight = pattern.weight * factor * (pattern.in_diff if in_diff else 1.0)
            if (in_title or (policy.signatures_only and not pattern.signature)) and zone == PROSE:
                where, weight = ASIDE, weight * TRAILER_FACTOR
            found.append(Match(pattern, number, line, quoted, in_diff, min(MAX_WEIGHT, weight), where))

    def _voided_by_message(self, index: int, line_lower: str, cache: dict, text_lower: str,
                           subject_lower: str | None = None) -> bool:
        """Whether the message (its text, and its subject when given) voids pattern ``index`` on a line.

        A line that names a CPU barrier keeps what a mail about disks voids (STORAGE_MESSAGE).
        """
        if not (self._cancelled_by_message(index, text_lower, cache, "text") or (
                subject_lower is not None and self._cancelled_by_message(index, subject_lower, cache))):
            return False
        return not (self.patterns[index].cancel_message == STORAGE_MESSAGE and CPU_BARRIER_LINE.search(line_lower))

    def _cancelled_by_message(self, index: int, lower: str, cache: dict, part: str = "subject") -> bool:
        """Whether ``lower`` (the message's subject or its text) holds a context voiding pattern ``index``."""
        cancel = self.cancels_message[index]
        if cancel is None:
            return False
        key = (id(cancel), part)
        if key not in cache:
            cache[key] = bool(cancel.search(lower))
        return cache[key]

    @staticmethod
    def _diff_start(text: str) -> int:
        """Offset of the first unquoted diff header, or the text length when there is none."""
        if text.startswith(("diff --git ", "--- a/")):
            return 0
        best = len(text)
        for header in DIFF_HEADERS:
            position = text.find(header, 0, best)
            if position >= 0:
                best = position + 1
        return best


# Files whose added lines are text: documentation, not code (memory-barriers.txt, a .rst, an .html).
DOCUMENTATION_PATH = re.compile(r"(?:^|/)Documentation/|\.(?:txt|rst|md|html?|tex)$|(?:^|/)README[^/]*$")


def _in_documentation(scanned: body.ScannedBody, index: int) -> bool:
    """Whether diff line ``index`` belongs to a documentation file."""
    return any(start <= index < end and bool(DOCUMENTATION_PATH.search(path))
               for start, end, path in scanned.path_runs)


def _names_other_work(text: str) -> bool:
    """A robot report's field or a listed patch title: the name of other work, quoted or not (D2)."""
    return bool(REPORT_FIELD_LINE.match(text) or LISTED_PATCH_LINE.match(text))


# A line that is only a file name: "queue-4.14/net-annotate-data-race-around-sk_ll_usec.patch"
# in a stable notice names a patch, it says nothing of its own.
FILE_NAME_LINE = re.compile(r"^[\s>]*[\w.+-]*/[\w./+-]*[\w-]\.(?:patch|diff|c|h|txt|rst|sh)\s*$")


def line_context(
    line: str, kind: str, role: str, policy: KindPolicy, diff_at: int, start: int
) -> tuple[float, bool, bool, str, str]:
    """(weight factor, quoted, in_diff, text without quote marks, zone) for one line.

    ``kind`` is the line's kind from ``miner.body.scan`` (the one decision of quoted, diff
    or prose) and ``role`` its prose role from ``miner.body.prose_roles``; ``diff_at`` is
    where the first (quoted or not) diff of the message starts, ``start`` where the line does.
    """
    if kind == body.QUOTE:
        quote = QUOTE_PREFIX.match(line)
        depth = quote.group(1).count(">")
        content = line[quote.end():]
        factor = QUOTE_FACTOR if depth == 1 else DEEP_QUOTE_FACTOR
        # a quoted patch: its removed lines and comments are no claim, its added code is code
        in_diff = content[:1] in ("+", "-") and not content.startswith(("+++", "---")) and diff_at < start
        if in_diff and (content[:1] == "-" or DIFF_COMMENT.match(content)):
            return 0.0, True, True, content, QUOTE
        if QUOTED_COMMENT.match(content) and diff_at < start:
            return 0.0, True, True, content, QUOTE  # an old code comment in a quoted hunk (D2)
        if LISTING_COMMENT.match(content):
            return 0.0, True, True, content, QUOTE  # a comment in a quoted code listing (D2)
        if _names_other_work(content):
            return factor * TRAILER_FACTOR, True, False, content, ASIDE
        code = in_diff or bool(CODE_LINE.search(content))
        return factor, True, code, content, QUOTE  # quoted: the thread's topic, not this author's claim
    if kind == body.DIFF:
        if line[:1] == "+" and not line.startswith("+++") and not DIFF_COMMENT.match(line):
            return 1.0, False, True, line[1:], CODE
        return 0.0, False, True, line, CODE
    if role in SILENT_ROLES or FILE_NAME_LINE.match(line):
        return 0.0, False, False, line, ASIDE
    if role in ASIDE_ROLES or PULL_REQUEST_LINE.search(line) or TRAILER_LINE.match(line) or _names_other_work(line):
        return TRAILER_FACTOR, False, False, line, ASIDE
    if LISTING_COMMENT.match(line):
        return 0.0, False, True, line, CODE  # a comment in a pasted code listing (D2)
    if CODE_LINE.search(line):
        return 1.0, False, True, line, CODE
    if policy.prose <= 0.0:
        return TRAILER_FACTOR, False, False, line, ASIDE
    return policy.prose, False, False, line, PROSE


# A line after the first diff header that may be prose: it starts with a letter and is no
# diff header.  Only then is the whole body split to find where the hunks end.
PROSE_AFTER_DIFF = re.compile(
    r"\n(?!diff |index |new file|deleted file|old mode|new mode|similarity|dissimilarity|"
    r"rename |copy |Binary |GIT binary|Index: )[A-Za-z][^\n]{11}")
SUBJECT_CACHE_SIZE = 4096
def _first_diff(lower: str) -> int:
    """Offset of the first diff header, quoted or not ("diff --git" or "> @@ -"); or the length."""
    found = [at for at in (lower.find("diff --git"), lower.find("\n> @@ -")) if at >= 0]
    return min(found) if found else len(lower)


MIN_PROSE_RUN = 12  # characters: shorter runs between hunks are blank lines or "2.25.1"


def _prose_runs_after(scanned: body.ScannedBody, offset: int) -> list[tuple[int, int]]:
    """(start, end) character ranges of the prose lines that begin at or after ``offset``."""
    runs: list[tuple[int, int]] = []
    position = 0
    run_start = -1
    for line, kind in zip(scanned.lines, scanned.kinds):
        if line == "-- " and kind == body.PROSE and position >= offset:
            break  # the signature: nothing after it is a claim
        if kind == body.PROSE and position >= offset:
            if run_start < 0:
                run_start = position
        elif run_start >= 0:
            if position - run_start > MIN_PROSE_RUN:
                runs.append((run_start, position))
            run_start = -1
        position += len(line) + 1
    if run_start >= 0 and position - run_start > MIN_PROSE_RUN:
        runs.append((run_start, position))
    return runs


SCANNER = Scanner()
