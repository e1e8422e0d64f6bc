"""Trailers (``Signed-off-by:``, ``Reviewed-by:``, ``Fixes:``...) told apart by their shape, as b4 does.

b4's ``LoreTrailer`` takes no closed list of names: a ``Name: value`` line is a *person* trailer
when its value holds an address (``Reported-and-tested-by``, ``Co-authored-by`` and misspellings
such as ``Reveiwed-by`` included), a *utility* trailer when its name is one of a few (``Fixes``,
``Link``, ``Closes``, ``BugLink``, ``Message-ID``, ``Change-Id``...) or its value is a URL. We
follow that, and keep the name as written beside a canonical spelling.

Which lines are the author's trailers (pure functions over :func:`miner.body.scan` output):

- only prose lines: never ``>`` quotes or diff lines;
- nothing below the signature separator (``-- ``), nor in the *basement* of a patch: the
  lines between the ``---`` separator and the diff (diffstat, "v2: ..." notes, ``Cc:`` lists
  git send-email reads), until another attached patch starts;
- nothing from an unquoted header block of a forwarded or Outlook-style quoted mail
  (``From:``/``Sent:``/``To:``/``Cc:``/``Subject:`` lines) down: that text is someone else's;
- ``Fixes:`` must name a commit (a hex hash, as b4 requires), ``Name-by:`` a person
  ("Reviewed-by: yet." is prose);
- other ``Name: value`` lines (``Bugzilla: <url>``, ``Addresses-Coverity:``, ``CVE:``) count
  only inside a trailer block: a paragraph whose every line is trailer-shaped and that holds at
  least one sure trailer (``Name-by:`` with a person, or a utility name); not in a first paragraph
  of several (in-body headers such as the tip bot's ``Commit-ID:``/``Author:`` block).

Unlike ``b4 am``, which reads only the last paragraph above ``---``, every such line of the
commit message is kept: trailers after a blank line, above quilt's ``Index:`` lines, and in a
second attached patch are not lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from miner.body import DIFF, PROSE, PROSE_RUN, QUOTE, ScannedBody
from miner.model import Trailer

TRAILER_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9]*(?:[-_][A-Za-z0-9]+)*):[ \t]+(\S.*?)\s*$")
UTILITY_NAMES = frozenset(("fixes", "link", "buglink", "closes", "obsoleted-by", "message-id", "change-id",
                           "base-commit", "based-on", "cc"))  # b4 LoreTrailer._utility, plus Cc
NOT_TRAILERS = frozenset(("phone", "mail", "email", "e-mail", "from", "to", "sent", "date", "subject",
                          "http", "https", "note", "notes", "index"))  # b4 find_trailers "ignores"/"headers"
HEADER_BLOCK_NAMES = frozenset(("from", "sent", "date", "to", "cc", "subject"))
FIXES_VALUE = re.compile(r"^[0-9a-f]{6,}", re.IGNORECASE)  # b4: a Fixes: value must start with a hash
WRAPPED_FIXES = re.compile(r"^[0-9a-f]+\s+\([^)]*$", re.IGNORECASE)  # "abcd123 (subject cut at the margin"
EXTINFO = re.compile(r"\s+#.*$")  # "stable@vger.kernel.org # 5.4+": the comment is no part of the address
ANGLE_ADDRESS = re.compile(r"<(?:mailto:)?([^<>\s]+@[^<>\s]+?)>?(?:\s|$)")
BARE_ADDRESS = re.compile(r"([^\s<>\"'(),;]+@[^\s<>\"'(),;]+\.[^\s<>\"'(),;]+)")
GIT_MBOX_LINE = re.compile(r"^From [0-9a-f]{40} ")
PATCH_START = re.compile(r"^(?:From [0-9a-f]{40} |Subject: .*\bPATCH\b)")  # a further format-patch file
ORIGINAL_MESSAGE = re.compile(r"^\s*-{3,}\s*(?:Original Message|Forwarded message)\s*-{3,}\s*$", re.IGNORECASE)

# The spelling of common names; anything else keeps git's convention (first letter upper case).
CANONICAL_NAMES = {name.lower(): name for name in (
    "Signed-off-by", "Reviewed-by", "Acked-by", "Tested-by", "Reported-by", "Suggested-by", "Co-developed-by",
    "Reported-and-tested-by", "Fixes", "Link", "Closes", "BugLink", "Message-ID", "Change-Id", "Cc",
    "Base-commit", "Obsoleted-by", "Based-on",
)}
MISSPELLINGS = {"reveiwed-by": "Reviewed-by", "reviewd-by": "Reviewed-by", "reviwed-by": "Reviewed-by",
                "rewieved-by": "Reviewed-by", "reviewed-off-by": "Reviewed-by", "signed-of-by": "Signed-off-by",
                "signed-off-by-by": "Signed-off-by", "singed-off-by": "Signed-off-by", "signed-off": "Signed-off-by",
                "acked-off-by": "Acked-by", "tested-off-by": "Tested-by", "reported-off-by": "Reported-by",
                "sugested-by": "Suggested-by", "suggessted-by": "Suggested-by"}


def canonical_name(written: str) -> str:
    """The usual spelling of a trailer name: ``reviewed-By`` and ``Reveiwed-by`` are ``Reviewed-by``."""
    lower = written.lower().replace("_", "-")
    return MISSPELLINGS.get(lower) or CANONICAL_NAMES.get(lower) or lower[:1].upper() + lower[1:]


def parse_person(value: str) -> tuple[str | None, str | None]:
    """Name and address of a person value (``Name <addr>``, a bare address, ``<addr`` unclosed)."""
    value = EXTINFO.sub("", value).strip()
    angle = ANGLE_ADDRESS.search(value)
    if angle:
        name = value[:angle.start()].strip().strip('"').strip() or None
        return name, angle.group(1).lower()
    bare = BARE_ADDRESS.search(value)
    if bare:
        name = value[:bare.start()].strip().strip('"').strip() or None
        return name, bare.group(1).lower()
    return None, None


def classify(written_name: str, value: str) -> Trailer | None:
    """The trailer a ``Name: value`` line is by its shape, or None when it is none (kind ``unknown`` aside)."""
    lower = written_name.lower().replace("_", "-")
    if lower in NOT_TRAILERS:
        return None
    name = canonical_name(written_name)
    person_name, person_email = parse_person(value) if "@" in value else (None, None)
    if lower == "fixes":
        return Trailer(name, value, written_name=written_name, kind="utility") if FIXES_VALUE.match(value) else None
    if lower in UTILITY_NAMES or "://" in value:
        if lower == "cc" and not person_email:
            return None
        if lower == "cc" or (person_email and "://" not in value):
            return Trailer(name, value, person_name, person_email, written_name, "person")
        return Trailer(name, value, written_name=written_name, kind="utility")
    if lower.endswith("-by"):  # "Reviewed-by: yet." is prose
        return Trailer(name, value, person_name, person_email, written_name, "person") if person_email else None
    if person_email:
        return Trailer(name, value, person_name, person_email, written_name, "unknown")
    return Trailer(name, value, written_name=written_name, kind="unknown")


# The lines author_lines and find_trailers look at one by one: every other line is kept if prose
# and passed over if not (in a basement, passed over), and is no trailer. Found in the whole text
# at once: the lines that start with "From " or "Subject: " or (after white space) "From:" or a
# trailer's shape (TRAILER_LINE's name, a colon, blanks, something), those that hold "---" and
# the "-- " lines. Possessive quantifiers: a prose word is read once, never backtracked over.
_TRAILER_SHAPE = r"[A-Za-z][A-Za-z0-9]*+(?:[-_][A-Za-z0-9]++)*+:[ \t]+\S"  # after the line's white space
LINE_TO_LOOK_AT = re.compile(r"\n(?:From |Subject: |[^\S\n]*+(?:[Ff][Rr][Oo][Mm]:|" + _TRAILER_SHAPE + r"))")
# A line after the first that TRAILER_LINE matches (LINE_TO_LOOK_AT finds them all)
TRAILER_SHAPED = re.compile(r"\n[^\S\n]*+" + _TRAILER_SHAPE)


def author_lines(scanned: ScannedBody, looked_at: list[int] | None = None) -> list[int]:
    """Indexes of the prose lines this message's author wrote above signature, basement and forwarded mail.

    ``looked_at``: :func:`lines_to_look_at` of ``scanned`` when the caller has it.
    """
    lines, kinds = scanned.lines, scanned.kinds
    has_diff = DIFF in kinds
    kept: list[int] = []
    in_basement = False
    seen_diff = False
    plain_from = 0  # the lines from here to the next one looked at follow the rule for plain lines
    for index in [*(lines_to_look_at(scanned) if looked_at is None else looked_at), len(lines)]:
        if plain_from < index:
            if in_basement:
                seen_diff = seen_diff or kinds.find(DIFF, plain_from, index) >= 0
            else:  # a range a run of prose lines, not a test a line
                for prose_run in PROSE_RUN.finditer(kinds, plain_from, index):
                    kept += range(prose_run.start(), prose_run.end())
        if index == len(lines):
            break
        plain_from = index + 1
        line, kind = lines[index], kinds[index]
        if kind == DIFF:
            seen_diff = True
            continue
        if in_basement:  # git's "-- " + version line under a patch is no signature of the mail
            if seen_diff and kind == PROSE and PATCH_START.match(line):
                in_basement = False  # a second patch attached to the same mail: its commit message
            else:
                continue
        if line == "-- " or ORIGINAL_MESSAGE.match(line):
            break
        if kind != PROSE:
            continue
        if has_diff and line.rstrip() == "---" and _diff_follows(kinds, index):
            in_basement = True
            seen_diff = False
            continue
        if _starts_header_block(lines, kinds, index):
            break
        kept.append(index)
    return kept


def lines_to_look_at(scanned: ScannedBody) -> list[int]:
    """The indexes of the lines :func:`author_lines` and :func:`find_trailers` look at one by one, in order.

    Only prose lines are searched (and line 0 and the ``-- `` lines are always in): a quote or diff line
    is no author line, and looked at one by one it changes nothing in author_lines that its run of lines
    does not (a diff line in a basement says a diff was seen either way; no quote or diff line opens or
    closes a basement or ends the author's text). A reply's quotes and a patch's diff are most of the
    text the regex would read.
    """
    text, lines, kinds = scanned.text, scanned.lines, scanned.kinds
    if QUOTE not in kinds and DIFF not in kinds:
        positions = _positions_to_look_at(text, 0, len(text))
    else:
        positions = []
        line_at = offset = 0  # offset: where line line_at starts in the text
        for run in PROSE_RUN.finditer(kinds):
            first, end = run.span()
            offset += sum(map(len, lines[line_at:first])) + first - line_at
            stop = offset + sum(map(len, lines[first:end])) + end - first - 1  # the line break after the run
            positions += _positions_to_look_at(text, offset, stop)
            line_at, offset = end, stop + 1
    found = {0, *_line_indexes(text, positions)}
    start = 0
    while True:
        try:
            start = lines.index("-- ", start) + 1
        except ValueError:
            break
        found.add(start - 1)
    return sorted(found)


def _positions_to_look_at(text: str, start: int, stop: int) -> list[int]:
    """Offsets in the lines of ``text[start:stop]`` (whole lines) that make their line one to look at: its start
    (LINE_TO_LOOK_AT), or the first "---" in it."""
    positions = [match.start() + 1 for match in LINE_TO_LOOK_AT.finditer(text, max(start - 1, 0), stop)]
    position = text.find("---", start, stop)
    while position >= 0:
        positions.append(position)
        line_end = text.find("\n", position, stop)
        position = text.find("---", line_end + 1, stop) if line_end >= 0 else -1
    return positions


def _line_indexes(text: str, positions: list[int]) -> list[int]:
    """The index of the line that holds each position of ``text``."""
    indexes = []
    line = previous = 0
    for position in sorted(positions):
        line += text.count("\n", previous, position)
        previous = position
        indexes.append(line)
    return indexes


def _diff_follows(kinds: str, index: int) -> bool:
    return DIFF in kinds[index + 1:]


def _starts_header_block(lines: list[str], kinds: str, index: int) -> bool:
    """A ``From:`` line heading a block with ``Sent:``/``Date:``/``Subject:`` too: a quoted mail's headers."""
    if not lines[index].lstrip().lower().startswith("from:"):
        return False
    names = set()
    for line in lines[index + 1:index + 8]:
        match = TRAILER_LINE.match(line) or re.match(r"^\s*([A-Za-z-]+):\s*$", line)
        if not match:
            break
        names.add(match.group(1).lower())
    if "sent" in names:  # Outlook: From / Sent / To / Cc / Subject
        return True
    earlier = [line for line in lines[:index] if line.strip()]
    if not earlier or GIT_MBOX_LINE.match(earlier[-1]):
        return False  # a patch's own in-body From:/Date:/Subject: lines (git format-patch), not a quoted mail
    return {"date", "subject", "to"} <= names


def find_trailers(scanned: ScannedBody) -> list[Trailer]:
    """Trailers written by this message's author, in body order (see the module docstring)."""
    lines = scanned.lines
    if not TRAILER_LINE.match(lines[0]) and not TRAILER_SHAPED.search(scanned.text):
        return []  # no line shaped like a trailer (half of a list's mail): no need to know the author's lines
    looked_at = lines_to_look_at(scanned)  # a superset of the prose lines shaped like a trailer
    shaped = [(index, match) for index in looked_at if (match := TRAILER_LINE.match(lines[index]))]
    candidates: list[tuple[int, Trailer]] = []
    kept = author_lines(scanned, looked_at)
    kept_set = set(kept)
    skip: set[int] = set()
    for index, match in shaped:
        if index in skip or index not in kept_set:
            continue
        written, value = match.group(1), match.group(2)
        following = lines[index + 1].strip() if index + 1 in kept_set else ""
        if WRAPPED_FIXES.match(value) and following.endswith(")"):
            value, _ = f"{value} {following}", skip.add(index + 1)
        elif "@" not in value and following.startswith("<") and following.endswith(">") and "@" in following:
            value, _ = f"{value} {following}", skip.add(index + 1)  # "Signed-off-by: Long Name" / "<addr>"
        trailer = classify(written, value)
        if trailer is not None:
            candidates.append((index, trailer))
    if all(_is_sure(trailer) for _, trailer in candidates):
        return [trailer for _, trailer in candidates]
    blocks = _TrailerBlocks(lines, kept, kept_set, {index for index, _ in candidates} | skip)
    return [trailer for index, trailer in candidates if _is_sure(trailer) or blocks.holds(index)]


class _TrailerBlocks:
    """Which author lines stand in a trailer block: a paragraph (a run of author lines, no blank one) of
    trailer-shaped lines only, with at least one sure trailer, that is not the first paragraph of several
    (in-body headers such as the tip bot's ``Commit-ID:``/``Author:`` block: b4's "githeaders").

    Asked only for the few lines that need it, so only their paragraphs are read.
    """

    def __init__(self, lines: list[str], kept: list[int], kept_set: set[int], trailer_shaped: set[int]):
        self.lines, self.kept_set, self.trailer_shaped = lines, kept_set, trailer_shaped
        # the first and last non-blank author lines (-1 if none), looked for from each end
        self.first_text = next((i for i in kept if lines[i].strip()), -1)
        self.last_text = next((i for i in reversed(kept) if lines[i].strip()), -1)
        self.known: dict[int, bool] = {}  # line index -> the answer for its paragraph

    def holds(self, index: int) -> bool:
        """Whether the (non-blank) author line ``index`` stands in a trailer block."""
        if index in self.known:
            return self.known[index]
        paragraph = self._paragraph(index)
        if paragraph[0] == self.first_text and self.last_text > paragraph[-1]:
            answer = False  # the first paragraph of several
        else:
            answer = all(i in self.trailer_shaped for i in paragraph) and any(_line_is_sure(self.lines[i])
                                                                            for i in paragraph)
        self.known.update(dict.fromkeys(paragraph, answer))
        return answer

    def _paragraph(self, index: int) -> list[int]:
        lines, kept = self.lines, self.kept_set
        start = end = index
        while start - 1 in kept and lines[start - 1].strip():
            start -= 1
        while end + 1 in kept and lines[end + 1].strip():
            end += 1
        return list(range(start, end + 1))


def _is_sure(trailer: Trailer | None) -> bool:
    """A trailer by name and shape alone: ``Name-by:`` with a person, or a utility name (Fixes, Link, Cc...)."""
    if trailer is None:
        return False
    lower = (trailer.written_name or trailer.name).lower().replace("_", "-")
    return lower in UTILITY_NAMES or (trailer.kind == "person" and lower.endswith("-by"))


def _line_is_sure(line: str) -> bool:
    match = TRAILER_LINE.match(line)
    return bool(match) and _is_sure(classify(match.group(1), match.group(2)))


# -- which patch a trailer applies to (b4's follow-up and cover-letter trailers) -----------------

FOLLOWUP_DROPS = frozenset(("cc", "base-commit", "change-id", "message-id"))  # b4: patch metadata, not a vote
REPLY_SUBJECT = re.compile(r"^\s*(?:re|aw|sv|antw|odp|fwd?)\s*(?:\[\d+\])?\s*:", re.IGNORECASE)


@dataclass(frozen=True)
class ThreadMessage:
    """What linking needs to know of one stored message."""

    message_id: str
    parent_id: str | None
    subject: str
    patch_index: int | None
    patch_total: int | None
    has_diff: bool

    @property
    def role(self) -> str:
        """``patch`` (it carries a diff), ``cover`` (``[PATCH 0/n]``, not a reply) or ``reply``.

        A reply with a diff of its own (patches attached to a review) is a patch here: its
        trailers sign that diff, where b4 would hand them to the patch it answers.
        """
        if self.has_diff:
            return "patch"
        if REPLY_SUBJECT.match(self.subject or ""):
            return "reply"
        if self.patch_index == 0 and self.patch_total:
            return "cover"
        return "reply"


def trailer_targets(messages: dict[str, ThreadMessage], writer_id: str, name: str) -> tuple[str, list[str]]:
    """(how, patch Message-IDs) a trailer named ``name`` written in ``writer_id`` applies to (``messages``:
    the thread's, by Message-ID).

    As b4 does: a patch's own trailers apply to it (``own``); a reply's apply to the nearest patch
    up its parent chain (``reply``); a reply to a cover letter gives them to every patch of that
    series (``cover``: the patches answering the cover, in patch order; the cover itself while
    none is stored). ``("", [])`` when it applies to no patch.
    """
    writer = messages.get(writer_id)
    if writer is None:
        return "", []
    if writer.role == "patch":
        return "own", [writer.message_id]
    if writer.role == "cover" or name.lower() in FOLLOWUP_DROPS:
        return "", []
    seen = {writer.message_id}
    current = messages.get(writer.parent_id or "")
    while current is not None and current.message_id not in seen:
        seen.add(current.message_id)
        if current.role == "patch":
            return "reply", [current.message_id]
        if current.role == "cover":
            patches = sorted((m for m in messages.values() if m.parent_id == current.message_id and m.role == "patch"),
                             key=lambda m: (m.patch_index is None, m.patch_index or 0, m.message_id))
            return "cover", [m.message_id for m in patches] or [current.message_id]
        current = messages.get(current.parent_id or "")
    return "", []
