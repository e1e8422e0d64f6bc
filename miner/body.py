"""Split a decoded mail body into prose, quoted lines and diff hunks (pure functions)."""

from __future__ import annotations

import re
from dataclasses import dataclass

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

# lines starting with anything else are prose unless a diff header block is open
_INTERESTING_FIRST = frozenset("> \tdi-+@\\nosrcBG")
PROSE, QUOTE, DIFF = "p", "q", "d"
KIND_NAMES = {PROSE: "prose", QUOTE: "quote", DIFF: "diff"}


@dataclass
class ScannedBody:
    """A body split into lines with one kind code per line (p, q, d) and diff file paths."""

    lines: list[str]
    kinds: list[str]
    path_runs: list[tuple[int, int, str]]  # (first line index, end index, file) of diff lines
    files: dict[str, list[int]]  # file -> [added, removed]

    def path_of(self) -> dict[int, str]:
        """Line index -> file, for the diff lines that belong to a file."""
        return {index: path for start, end, path in self.path_runs for index in range(start, end)}


def scan(text: str) -> ScannedBody:
    """Give every line of ``text`` a kind: prose, quote (``>``) or diff (headers and hunks)."""
    lines = text.split("\n")
    kinds: list[str] = []
    mark = kinds.append
    path_runs: list[tuple[int, int, str]] = []
    files: dict[str, list[int]] = {}
    count = len(lines)
    i = 0
    path: str | None = None
    counter: list[int] | None = None
    in_patch_headers = False
    while i < count:
        line = lines[i]
        first = line[:1]
        if first not in _INTERESTING_FIRST:
            in_patch_headers = False
            mark(PROSE)
            i += 1
            continue
        if (first == ">" or first in " \t") and QUOTE_PREFIX.match(line):
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
        if first == "@" and (in_patch_headers or path):
            hunk = HUNK.match(line)
            if hunk:
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
        in_patch_headers = False
        mark(PROSE)
        i += 1
    return ScannedBody(lines, kinds, path_runs, files)


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


def prose_text(scanned: ScannedBody) -> str:
    """The author's new text: prose lines only, up to the signature separator."""
    kept: list[str] = []
    for line, kind in zip(scanned.lines, scanned.kinds):
        if kind != PROSE:
            continue
        if line == "-- ":
            break  # signature separator
        kept.append(line)
    return "\n".join(kept).strip()


def patch_files(scanned: ScannedBody) -> list[PatchFile]:
    """Files touched by the diffs, in order of first appearance, with added/removed counts."""
    return [PatchFile(path, added, removed) for path, (added, removed) in scanned.files.items()
            if path != "/dev/null"]
