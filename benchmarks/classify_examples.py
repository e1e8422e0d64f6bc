"""Harvest real example lines for every pattern of the table: miner/classify/examples.tsv.

    python benchmarks/classify_examples.py

For each pattern and each top-level branch of its regex, the first real line (dev.jsonl,
dev2.jsonl, the linux-btrfs epoch, the shared corpus, then the verified signature quotes of
taxonomy.md) that the branch matches *and* the scanner reports for that pattern (so one of the
pattern's anchors reaches it).  Counter-examples: real lines that hold one of the pattern's
anchors, from dev items without the pattern's label, where the pattern does not fire (lines
the regex matches but a cancel voids come first).  tests/test_classify_patterns.py runs them
all; a branch without an example fails it.  Re-run after changing a pattern, then read the
diff: the harvest is a starting point, the file is reviewed data.
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from miner.classify.patterns import PATTERNS, top_level_branches  # noqa: E402
from miner.classify.scan import SCANNER  # noqa: E402
from miner.textstore import register_text_functions  # noqa: E402

SHARED = ROOT.parent / "shared"
OUT = ROOT / "miner" / "classify" / "examples.tsv"
NATURAL_DB = ROOT / "benchmarks" / ".work" / "natural-review.db"
MAX_LINE = 160
COUNTER_EXAMPLES = 2


def sources() -> list[tuple[str, str, set[str] | None]]:
    """(source, line, gold labels or None) for every candidate line, best sources first."""
    found: list[tuple[str, str, set[str] | None]] = []
    for name in ("dev.jsonl", "dev2.jsonl"):
        for raw in (SHARED / "labels" / name).read_text().splitlines():
            item = json.loads(raw)
            for line in [item["subject"], *item["text"].split("\n")]:
                found.append((item["id"], line, set(item["labels"])))
    if NATURAL_DB.exists():
        conn = sqlite3.connect(f"file:{NATURAL_DB}?mode=ro", uri=True)
        register_text_functions(conn)  # messages.body is read through it
        for message_id, body in conn.execute("SELECT message_id, body FROM messages WHERE ghost=0"):
            for line in (body or "").split("\n"):
                found.append((f"btrfs <{message_id}>", line, None))
    for path in sorted((SHARED / "corpus" / "mail").rglob("*.eml")):
        for line in path.read_text(errors="replace").split("\n"):
            found.append((str(path.relative_to(SHARED)), line, None))
    for path in sorted((ROOT / "tests" / "fixtures" / "seeds").glob("*.txt")) + sorted(
            (ROOT / "data" / "sample").rglob("*.mbox")):
        for line in path.read_text(errors="replace").split("\n"):
            found.append((str(path.relative_to(ROOT)), line, None))
    for line in (SHARED / "taxonomy.md").read_text().split("\n"):
        # the verified splat headers (2.4) and the quoted kernel text of the subtype tables
        for quoted in re.findall(r"`([^`]{8,})`", line) + re.findall(r'"([^"]{8,})"', line):
            found.append(("taxonomy.md", quoted, None))
    return [(source, line.rstrip(), gold) for source, line, gold in found if 6 < len(line.strip()) <= MAX_LINE
            and "\t" not in line[:1]]


def fires(pattern_name: str, line: str) -> bool:
    """Whether the scanner reports ``pattern_name`` on ``line`` alone (as prose)."""
    return any(match.pattern.name == pattern_name for match in SCANNER.scan("", line))


def main() -> None:
    candidates = sources()
    rows = []
    missing = []
    for pattern in PATTERNS:
        for branch in top_level_branches(pattern.regex):
            compiled = re.compile(branch)
            example = next(((source, line) for source, line, _ in candidates
                            if compiled.search(line.lower()) and fires(pattern.name, line)), None)
            if example is None:
                missing.append(f"{pattern.name}: {branch}")
                continue
            rows.append((pattern.name, "match", *example))
        anchors = [a.replace("\\b", "") for a in pattern.anchors]
        regex = re.compile(pattern.regex)
        counters = [(source, line) for source, line, gold in candidates
                    if gold is not None and pattern.label not in gold
                    and any(a in line.lower() for a in anchors) and not fires(pattern.name, line)]
        counters.sort(key=lambda pair: not regex.search(pair[1].lower()))  # cancelled ones first
        for source, line in counters[:COUNTER_EXAMPLES]:
            rows.append((pattern.name, "no-match", source, line))
    seen = set()
    unique = [row for row in rows if not (row in seen or seen.add(row))]
    header = ("# Real lines each pattern must match (one per regex branch) and must not match.\n"
              "# Harvested by benchmarks/classify_examples.py, reviewed; run by tests/test_classify_patterns.py.\n"
              "# pattern\texpect\tsource\tline\n")
    OUT.write_text(header + "".join("\t".join(row) + "\n" for row in unique))
    print(f"wrote {OUT}: {len(unique)} lines")
    for branch in missing:
        print("no real example:", branch)


if __name__ == "__main__":
    main()
