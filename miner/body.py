"""Split a decoded mail body into prose, quoted lines and diff hunks (pure functions)."""

from __future__ import annotations

import re

from miner.model import BodyLine, PatchFile, Trailer

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
PERSON = re.compile(r"^\s*(?:\"?([^\"<]*?)\"?\s*)?<([^<>\s]+@[^<>\s]+)>")
BARE_EMAIL = re.compile(r"^\s*([^<>\s]+@[^<>\s]+)\s*$")
CANONICAL_TRAILER = {n.lower(): n for n in TRAILER_NAMES}


def split_lines(text: str) -> list[BodyLine]:
    """Classify every line of ``text`` as prose, quote or diff."""
    out: list[BodyLine] = []
    lines = text.split("\n")
    i = 0
    path: str | None = None
    remaining_old = remaining_new = 0
    in_patch_headers = False
    while i < len(lines):
        line = lines[i]
        number = i + 1
        if remaining_old > 0 or remaining_new > 0:
            first = line[:1]
            if first == "-" and remaining_old > 0:
                remaining_old -= 1
            elif first == "+" and remaining_new > 0:
                remaining_new -= 1
            elif first in (" ", "") and remaining_old > 0 and remaining_new > 0:
                remaining_old -= 1
                remaining_new -= 1
            elif first == "\\":
                pass  # "\ No newline at end of file"
            else:
                remaining_old = remaining_new = 0
                continue  # re-examine this line outside the hunk
            out.append(BodyLine(number, line, "diff", path=path))
            i += 1
            continue
        quote = QUOTE_PREFIX.match(line)
        if quote:
            depth = quote.group(1).count(">")
            out.append(BodyLine(number, line, "quote", depth=depth))
            in_patch_headers = False
            i += 1
            continue
        git = DIFF_GIT.match(line)
        if git:
            path = git.group(2)
            in_patch_headers = True
            out.append(BodyLine(number, line, "diff", path=path))
            i += 1
            continue
        if line.startswith("--- ") and i + 1 < len(lines) and DIFF_NEW.match(lines[i + 1]):
            new = DIFF_NEW.match(lines[i + 1])
            old = DIFF_OLD.match(line)
            new_path = new.group(1) if new else None
            if new_path == "/dev/null" and old:
                new_path = old.group(1)
            path = new_path
            out.append(BodyLine(number, line, "diff", path=path))
            out.append(BodyLine(number + 1, lines[i + 1], "diff", path=path))
            in_patch_headers = True
            i += 2
            continue
        hunk = HUNK.match(line)
        if hunk and (in_patch_headers or path):
            remaining_old = int(hunk.group(1)) if hunk.group(1) is not None else 1
            remaining_new = int(hunk.group(2)) if hunk.group(2) is not None else 1
            out.append(BodyLine(number, line, "diff", path=path))
            i += 1
            continue
        if in_patch_headers and DIFF_META.match(line):
            out.append(BodyLine(number, line, "diff", path=path))
            i += 1
            continue
        in_patch_headers = False
        out.append(BodyLine(number, line, "prose"))
        i += 1
    return out


def prose_text(lines: list[BodyLine]) -> str:
    """The author's new text: prose lines only, without signature or diffstat noise."""
    kept: list[str] = []
    for line in lines:
        if line.kind != "prose":
            continue
        if line.text == "-- ":
            break  # signature separator
        kept.append(line.text)
    return "\n".join(kept).strip()


def patch_files(lines: list[BodyLine]) -> list[PatchFile]:
    """Files touched by the diffs in ``lines``, in order of first appearance."""
    counts: dict[str, list[int]] = {}
    header_started: set[str] = set()
    for line in lines:
        if line.kind != "diff" or not line.path or line.path == "/dev/null":
            continue
        entry = counts.setdefault(line.path, [0, 0])
        text = line.text
        if text.startswith("+++ ") or text.startswith("--- "):
            header_started.add(line.path)
            continue
        if text.startswith("+"):
            entry[0] += 1
        elif text.startswith("-"):
            entry[1] += 1
    return [PatchFile(path, added, removed) for path, (added, removed) in counts.items()]


def parse_person(value: str) -> tuple[str | None, str | None]:
    """Split ``Name <addr>`` (or a bare address) into name and address."""
    person = PERSON.match(value)
    if person:
        name = (person.group(1) or "").strip() or None
        return name, person.group(2).lower()
    bare = BARE_EMAIL.match(value)
    if bare:
        return None, bare.group(1).lower()
    return None, None


def trailers(lines: list[BodyLine]) -> list[Trailer]:
    """Trailers written by this message's author (prose lines only, not quotes or diffs).

    Wrapped ``Fixes:`` / ``Link:`` values that continue on the next line are joined.
    """
    found: list[Trailer] = []
    prose = [line for line in lines if line.kind == "prose"]
    for index, line in enumerate(prose):
        match = TRAILER.match(line.text)
        if not match:
            continue
        name = CANONICAL_TRAILER[match.group(1).lower()]
        value = match.group(2)
        if name == "Fixes" and value.count('"') == 1 and index + 1 < len(prose):
            following = prose[index + 1]
            if following.number == line.number + 1 and following.text.strip().endswith('")'):
                value = f"{value} {following.text.strip()}"
        if name in ("Fixes", "Link", "Closes"):
            found.append(Trailer(name, value))
        else:
            person_name, person_email = parse_person(value)
            found.append(Trailer(name, value, person_name, person_email))
    return found
