"""Split a decoded mail body into prose, quoted lines and diff hunks (pure functions)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import repeat

from miner.model import BodyLine, PatchFile

QUOTE_PREFIX = re.compile(r"^((?:[ \t]?>)+)[ \t]?")
DIFF_GIT = re.compile(r"^diff --git a/(\S+) b/(\S+)")
DIFF_OLD = re.compile(r"^--- (?:a/)?(\S+)")
DIFF_NEW = re.compile(r"^\+\+\+ (?:b/)?(\S+)")
HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")
DIFF_META = re.compile(
    r"^(?:index [0-9a-f]+\.\.[0-9a-f]+|new file mode|deleted file mode|old mode|new mode|"
    r"similarity index|dissimilarity index|rename from|rename to|copy from|copy to|"
    r"Binary files|GIT binary patch)"
)

TRAILER_NAMES = (
    "Signed-off-by",
    "Reviewed-by",
    "Acked-by",
    "Tested-by",
    "Reported-by",
    "Suggested-by",
    "Co-developed-by",
    "Fixes",
    "Link",
    "Closes",
    "Cc",
)
TRAILER = re.compile(
    r"^\s*(" + "|".join(re.escape(n) for n in TRAILER_NAMES) + r"):[ \t]*(\S.*?)\s*$",
    re.IGNORECASE,
)


MANGLED_HUNK_LINE = re.compile(r"^[+-](?:\t| {2,}|[{}();]|$)")
# lines starting with anything else are prose unless a diff header block is open
_INTERESTING_FIRST = frozenset("> \tdi-+@\\nosrcBG")
PROSE, QUOTE, DIFF = "p", "q", "d"
KIND_NAMES = {PROSE: "prose", QUOTE: "quote", DIFF: "diff"}


@dataclass
class ScannedBody:
    """A body split into lines with one kind letter per line (p, q, d) and diff file paths."""

    lines: list[str]
    kinds: str  # kinds[i]: the kind of lines[i] (a string: "p" in kinds[a:b] and its kin run in C)
    path_runs: list[tuple[int, int, str]]  # (first line index, end index, file) of diff lines
    files: dict[str, list[int]]  # file -> [added, removed]
    text: str  # the lines joined by newlines

    def path_of(self) -> dict[int, str]:
        """Line index -> file, for the diff lines that belong to a file."""
        return {index: path for start, end, path in self.path_runs for index in range(start, end)}


def body_lines(text: str) -> list[str]:
    """The lines of a body as every reader numbers them (classifier evidence, thread page)."""
    return text.split("\n")


QUOTE_STARTS = (">", " >", "\t>")  # what QUOTE_PREFIX matches at the start of a line
# a line that may open a diff: one regex search over the body, not three substring tests (0.10 -> 0.04 s
# of CPU over the btrfs bodies)
DIFF_CAN_OPEN = re.compile(r"\n(?:--- |diff --git |@@ -)")


_BOOL_TO_KIND = bytes.maketrans(b"\x00\x01", (PROSE + QUOTE).encode("ascii"))


def _quote_or_prose(lines: list[str]) -> str:
    """The kinds of lines none of which is a diff's: QUOTE where a line starts with QUOTE_STARTS, else PROSE
    (the tests run in C, a bool a line made into a byte, no Python step a line)."""
    return bytes(map(str.startswith, lines, repeat(QUOTE_STARTS))).translate(_BOOL_TO_KIND).decode("ascii")


def scan(text: str) -> ScannedBody:
    """Give every line of ``text`` a kind: prose, quote (``>``) or diff (headers and hunks)."""
    lines = body_lines(text)
    if not DIFF_CAN_OPEN.search(text) and not text.startswith(("--- ", "diff --git ", "@@ -")):
        # no diff header can open: every line is a quote or prose
        return ScannedBody(lines, _quote_or_prose(lines), [], {}, text)
    kinds: list[str] = []
    mark = kinds.append
    path_runs: list[tuple[int, int, str]] = []
    files: dict[str, list[int]] = {}
    count = len(lines)
    i = 0
    path: str | None = None
    counter: list[int] | None = None
    in_patch_headers = False
    seen_hunk = False
    while i < count:
        line = lines[i]
        first = line[:1]
        if first not in _INTERESTING_FIRST:
            in_patch_headers = False
            mark(PROSE)
            i += 1
            continue
        if (first == ">" or first in " \t") and line.startswith(QUOTE_STARTS):  # where QUOTE_PREFIX matches
            mark(QUOTE)
            in_patch_headers = False
            i += 1
            continue
        if first == "d" and line.startswith("diff --git "):
            git = DIFF_GIT.match(line)
            if git:
                path = git.group(2)
                counter = files.setdefault(path, [0, 0])
                in_patch_headers = True
                mark(DIFF)
                path_runs.append((i, i + 1, path))
                i += 1
                continue
        if first == "-" and line.startswith("--- ") and i + 1 < count and lines[i + 1].startswith("+++ "):
            new = DIFF_NEW.match(lines[i + 1])
            old = DIFF_OLD.match(line)
            if new:
                path = new.group(1)
                if path == "/dev/null" and old:
                    path = old.group(1)
                counter = files.setdefault(path, [0, 0])
                kinds += (DIFF, DIFF)
                path_runs.append((i, i + 2, path))
                in_patch_headers = True
                i += 2
                continue
        if first == "@":  # a hunk header is unmistakable, even in a pasted fragment without file headers
            hunk = HUNK.match(line)
            if hunk:
                seen_hunk = True
                end = _hunk_end(lines, i + 1, hunk, counter)
                kinds += [DIFF] * (end - i)
                if path:
                    path_runs.append((i, end, path))
                i = end
                continue
        if in_patch_headers and DIFF_META.match(line):
            mark(DIFF)
            if path:
                path_runs.append((i, i + 1, path))
            i += 1
            continue
        if seen_hunk and (first == "+" or first == "-") and MANGLED_HUNK_LINE.match(line):
            # a hunk whose line counts a mailer broke (rewrapped lines, a lost blank of an
            # empty context line): its code lines still start with +/- and a tab or indent
            mark(DIFF)
            i += 1
            continue
        in_patch_headers = False
        mark(PROSE)
        i += 1
    return ScannedBody(lines, "".join(kinds), path_runs, files, text)


def _hunk_end(lines: list[str], start: int, hunk: re.Match, counter: list[int] | None) -> int:
    """Index of the first line after a hunk whose header promised old/new line counts."""
    remaining_old = int(hunk.group(1)) if hunk.group(1) is not None else 1
    remaining_new = int(hunk.group(2)) if hunk.group(2) is not None else 1
    added = removed = 0
    index, count = start, len(lines)
    while index < count and (remaining_old or remaining_new):
        first = lines[index][:1]
        if first == "-" and remaining_old:
            remaining_old -= 1
            removed += 1
        elif first == "+" and remaining_new:
            remaining_new -= 1
            added += 1
        elif (first == " " or not first) and remaining_old and remaining_new:
            remaining_old -= 1
            remaining_new -= 1
        elif first != "\\":  # "\ No newline at end of file" stays in the hunk
            break
        index += 1
    if counter is not None:
        counter[0] += added
        counter[1] += removed
    return index


def split_lines(text: str) -> list[BodyLine]:
    """Classify every line of ``text`` as prose, quote or diff (one BodyLine per line)."""
    scanned = scan(text)
    path_of = scanned.path_of()
    out: list[BodyLine] = []
    for index, (line, kind) in enumerate(zip(scanned.lines, scanned.kinds)):
        if kind == QUOTE:
            depth = QUOTE_PREFIX.match(line).group(1).count(">")
            out.append(BodyLine(index + 1, line, "quote", depth))
        elif kind == DIFF:
            out.append(BodyLine(index + 1, line, "diff", 0, path_of.get(index)))
        else:
            out.append(BodyLine(index + 1, line, "prose"))
    return out


def signature_at(scanned: ScannedBody) -> int:
    """Index of the signature separator: the first ``-- `` line that is prose (else the number of lines)."""
    lines, kinds = scanned.lines, scanned.kinds
    start = 0
    while True:  # list.index runs in C
        try:
            found = lines.index("-- ", start)
        except ValueError:
            return len(lines)
        if kinds[found] == PROSE:
            return found
        start = found + 1


PROSE_RUN = re.compile(PROSE + "+")  # in ScannedBody.kinds: a run of prose lines


def prose_runs(scanned: ScannedBody) -> list[tuple[int, int]]:
    """The runs of prose lines above the signature separator, as [first, end) line indexes: what prose_text
    joins (and what the store's prose spans name, miner.textstore.prose_spans)."""
    return [run.span() for run in PROSE_RUN.finditer(scanned.kinds, 0, signature_at(scanned))]


def prose_text(scanned: ScannedBody, runs: list[tuple[int, int]] | None = None) -> str:
    """The author's new text: prose lines only, up to the signature separator (``runs``: its prose_runs)."""
    lines, prose_lines = scanned.lines, []
    for start, end in prose_runs(scanned) if runs is None else runs:  # a slice a run, not a test a line
        prose_lines += lines[start:end]
    return "\n".join(prose_lines).strip()


def patch_files(scanned: ScannedBody) -> list[PatchFile]:
    """Files touched by the diffs, in order of first appearance, with added/removed counts."""
    return [PatchFile(path, added, removed) for path, (added, removed) in scanned.files.items()
            if path != "/dev/null"]


# --- roles of the author's own lines ------------------------------------------------------
# Prose is not all the author's own claim.  These roles mark prose lines that name other
# work or other people: a changelog ("Changes in v3:", "v2: ..."), a list of patches or a
# diffstat (cover letters, pull requests), trailers, "On ... X wrote:" attributions and the
# signature after "-- ".  The classifier weighs evidence by role (a surname "Hung" in an
# attribution is not a hang; "- Fix deadlock of direct IO writing" in a v9 changelog is not
# the thread's topic).
TEXT, CHANGELOG, LISTING, TRAILER_ROLE, ATTRIBUTION, SIGNATURE = (
    "text", "changelog", "listing", "trailer", "attribution", "signature")
CHANGELOG_HEADER = re.compile(
    r"^\s*(?:[-*]\s*)?(?:(?:(?:main |notable )?changes?|changelog|change ?log|history|revisions?)"
    r"\s*(?:(?:in|since|from|for|vs\.?|to|between|of|over)\s+\S[^.!?]{0,50})?:\s*$|"
    r"(?:changelog|change ?log)\s*$|"
    r"(?:changes?|differences?) (?:in|since|from|for|vs\.?|to|between|over) (?:v|rfc ?v?)?\d[\w.-]*"
    r"(?:\s*(?:->|-+>|to|and|\.\.)\s*v?\d[\w.-]*)?\s*:?\s*$|"
    r"(?:changes? (?:in|since|from|for|vs\.?|to|between|over) (?:v\d|rfc|the |last |previous )[^.!?]{0,60}:)|"
    r"\[?(?:v\d+(?:\.\d+)?|rfc(?: v\d+)?)(?:\s*(?:->|-+>|-|to|vs\.?|\.\.)\s*v?\d+)?\]?\s*:|"
    r"\[?v\d+\]?\s*$)",
    re.IGNORECASE,
)
BULLET = re.compile(r"^\s*(?:[-*+o•]\s|\d+[.)]\s|\(\d+\)\s|\[\d+/\d+\]|patch \d+)", re.IGNORECASE)
ATTRIBUTION_LINE = re.compile(
    r"^\s*(?:on\b.{0,160}\b(?:wrote|writes|said)\s*:?\s*$|.{0,120}\b(?:wrote|writes)\s*:\s*$|"
    r"-+\s*original message\s*-+:?|from:\s.*@)",
    re.IGNORECASE,
)
SHORTLOG_AUTHOR = re.compile(r"^\S.{0,60}\(\d+\):\s*$")
DIFFSTAT = re.compile(r"^\s*\S+\s+\|\s+(?:\d+|bin)\b|^\s*\d+ files? changed\b")
LISTED_TITLE = re.compile(r"^\s+[\w./,{}*-]+(?:: | - )\S")  # "  btrfs: fix ..." in a shortlog


def prose_roles(scanned: ScannedBody, lists_patches: bool = False) -> list[str]:
    """A role per line (TEXT, CHANGELOG, LISTING, TRAILER_ROLE, ATTRIBUTION, SIGNATURE).

    Only prose lines get a role other than TEXT.  ``lists_patches`` is true for a cover
    letter or pull request, whose indented "subsys: title" lines name other patches.
    """
    roles = ProseRoles(scanned, lists_patches)
    return [roles.role(index) for index in range(len(scanned.lines))]


CHANGELOG_REACH = 40  # lines a changelog block may run above a line and still hold it


class ProseRoles:
    """The role of any prose line, worked out on demand from the lines around it.

    The classifier asks for the few lines where a pattern matched, so nothing walks the
    whole body: a line's own text, the signature separator above it, and the changelog or
    shortlog block it may sit in decide.
    """

    def __init__(self, scanned: ScannedBody, lists_patches: bool = False) -> None:
        self.lines, self.kinds = scanned.lines, scanned.kinds
        self.lists_patches = lists_patches
        self.in_changelog: dict[int, bool] = {}  # line index -> inside a changelog block
        self.signature_at = signature_at(scanned)

    def role(self, index: int) -> str:
        """The role of line ``index`` (TEXT for quotes and diffs)."""
        lines, kinds = self.lines, self.kinds
        if kinds[index] != PROSE:
            return TEXT
        if index >= self.signature_at:
            return SIGNATURE
        line = lines[index]
        stripped = line.strip()
        if not stripped:
            return TEXT
        own = self._own_role(index, line, stripped)
        if own is not None:
            return own
        if self._in_changelog(index):
            return CHANGELOG
        if self.lists_patches and (BULLET.match(line) or (line[:1] in " \t" and self._in_shortlog(index))):
            return LISTING  # a cover letter's or pull request's list names other patches
        return TEXT

    def _own_role(self, index: int, line: str, stripped: str) -> str | None:
        """The role a line has by its own text, or None."""
        colon = ":" in line  # cheap tests first: most prose lines have no colon and no bar
        if (colon or "original message" in line.lower()) and ATTRIBUTION_LINE.match(line) and \
                _attribution_ends(self.lines, self.kinds, index):
            return ATTRIBUTION
        if colon and (TRAILER.match(line) or stripped.lower().startswith("link:")):
            return TRAILER_ROLE
        if (colon or stripped[:1] in "vVcC[") and CHANGELOG_HEADER.match(line):
            return CHANGELOG
        if ("|" in line or "changed" in line) and DIFFSTAT.match(line):
            return LISTING
        if self.lists_patches and colon and (SHORTLOG_AUTHOR.match(line) or LISTED_TITLE.match(line)):
            return LISTING
        return None

    def _in_changelog(self, index: int) -> bool:
        """Whether a changelog header opens the block of lines that holds line ``index``.

        A block runs down from its header through non-blank lines; a blank line ends it
        unless the next line is a bullet, indented, or another version header.  Lines of one
        block share the answer, so it is remembered for the next line asked about.
        """
        lines, kinds, known = self.lines, self.kinds, self.in_changelog
        answer = False
        for above in range(index - 1, max(-1, index - CHANGELOG_REACH), -1):
            if above in known:
                answer = known[above]
                break
            if kinds[above] != PROSE:
                break
            line = lines[above]
            stripped = line.strip()
            if not stripped:
                following = lines[above + 1]
                if not (BULLET.match(following) or following[:1] in " \t" or
                        CHANGELOG_HEADER.match(following)):
                    break
                continue
            if (":" in line or stripped[:1] in "vVcC[") and CHANGELOG_HEADER.match(line):
                answer = True
                break
        known[index] = answer
        return answer

    def _in_shortlog(self, index: int) -> bool:
        """Whether an indented line sits under a git shortlog "Author Name (N):" line."""
        for above in range(index - 1, max(-1, index - CHANGELOG_REACH), -1):
            line = self.lines[above]
            if self.kinds[above] != PROSE or not line.strip():
                return False
            if line[:1] not in " \t":
                return bool(SHORTLOG_AUTHOR.match(line))
        return False


def _next_nonblank(lines: list[str], kinds: str, index: int) -> str | None:
    """The next non-blank prose line after ``index`` (None at a quote, diff or the end)."""
    for following in range(index + 1, min(len(lines), index + 4)):
        if kinds[following] != PROSE:
            return None
        if lines[following].strip():
            return lines[following]
    return None


def _attribution_ends(lines: list[str], kinds: str, index: int) -> bool:
    """An attribution line introduces a quote: the next non-blank line is quoted (or it says wrote:)."""
    if lines[index].rstrip().endswith(":"):
        return True
    for following in range(index + 1, min(len(lines), index + 3)):
        if kinds[following] == QUOTE:
            return True
        if lines[following].strip():
            return lines[following].rstrip().endswith(("wrote:", "writes:"))
    return False
