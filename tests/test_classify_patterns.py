"""Every pattern on its real example lines and counter-examples; every regex branch reached by an anchor.

miner/classify/examples.tsv holds, per pattern, real lines (dev sets, the linux-btrfs epoch, the
shared corpus, the quoted kernel text of taxonomy.md; source named on each row) that it must
match and lines that hold its anchor but must not fire.  benchmarks/classify_examples.py
harvests them; this file runs them all.  The anchor test expands every branch of every regex
into the short strings it can match and checks that each holds one of the pattern's anchors:
the scanner only looks at lines where an anchor occurs, so a branch no anchor reaches would
silently never fire.
"""

from __future__ import annotations

import re
from collections import defaultdict
from itertools import islice, product
from pathlib import Path

import pytest

from miner.classify import RULE_SOURCES, _rules_digest
from miner.classify.patterns import PATTERNS, top_level_branches
from miner.classify.scan import SCANNER, anchor_text, parse_anchor

try:  # Python 3.11+
    import re._parser as sre_parse  # type: ignore[import-not-found]
    from re._constants import (  # type: ignore[import-not-found]
        ANY, ASSERT, ASSERT_NOT, AT, BRANCH, CATEGORY, CATEGORY_DIGIT, CATEGORY_SPACE, IN,
        LITERAL, MAX_REPEAT, MIN_REPEAT, NEGATE, NOT_LITERAL, RANGE, SUBPATTERN,
    )
except ImportError:  # pragma: no cover
    import sre_parse  # type: ignore[no-redef]
    from sre_constants import (  # type: ignore[no-redef]
        ANY, ASSERT, ASSERT_NOT, AT, BRANCH, CATEGORY, CATEGORY_DIGIT, CATEGORY_SPACE, IN,
        LITERAL, MAX_REPEAT, MIN_REPEAT, NEGATE, NOT_LITERAL, RANGE, SUBPATTERN,
    )

EXAMPLES = Path(__file__).parent.parent / "miner" / "classify" / "examples.tsv"
BY_NAME = {pattern.name: pattern for pattern in PATTERNS}
MAX_STRINGS = 400  # per branch: enough to try every alternative and optional part once


def examples() -> dict[str, dict[str, list[tuple[str, str]]]]:
    table: dict[str, dict[str, list[tuple[str, str]]]] = defaultdict(lambda: defaultdict(list))
    for raw in EXAMPLES.read_text().splitlines():
        if raw.startswith("#") or not raw.strip():
            continue
        name, expect, source, line = raw.split("\t", 3)
        table[name][expect].append((source, line))
    return table


TABLE = examples()


def fired(line: str) -> set[str]:
    return {match.pattern.name for match in SCANNER.scan("", line)}


@pytest.mark.parametrize("name", [pattern.name for pattern in PATTERNS])
def test_pattern_matches_its_real_examples_and_not_its_counter_examples(name: str) -> None:
    rows = TABLE[name]
    assert rows["match"], f"{name}: no real example line in {EXAMPLES.name}"
    for source, line in rows["match"]:
        assert name in fired(line), f"{name} must match ({source}): {line!r}"
    for source, line in rows["no-match"]:
        assert name not in fired(line), f"{name} must not match ({source}): {line!r}"


def test_every_example_names_a_pattern_of_the_table() -> None:
    assert set(TABLE) <= set(BY_NAME)


def _strings(items, budget: int = MAX_STRINGS):
    """Short strings a parsed regex can match: each alternative and each optional part tried."""
    def expand(node):
        op, arg = node
        if op == LITERAL:
            return [chr(arg)]
        if op == NOT_LITERAL:
            return ["x" if chr(arg) != "x" else "y"]
        if op == ANY:
            return [" "]
        if op == IN:
            if arg and arg[0][0] == NEGATE:
                return ["x"]
            choices = []
            for kind, value in arg:
                if kind == LITERAL:
                    choices.append(chr(value))
                elif kind == RANGE:
                    choices.append(chr(value[0]))
                elif kind == CATEGORY:
                    choices.append("0" if value == CATEGORY_DIGIT else " " if value == CATEGORY_SPACE else "a")
            return choices or ["x"]
        if op == CATEGORY:
            return ["0" if arg == CATEGORY_DIGIT else " " if arg == CATEGORY_SPACE else "a"]
        if op in (AT, ASSERT, ASSERT_NOT):
            return [""]
        if op == SUBPATTERN:
            return _strings(arg[-1], budget)
        if op == BRANCH:
            return [s for alternative in arg[1] for s in _strings(alternative, budget)]
        if op in (MAX_REPEAT, MIN_REPEAT):
            low, high, sub = arg
            inner = _strings(sub, budget)
            counts = sorted({low, min(max(low, 1), high)})
            out = []
            for count in counts:
                out += ["".join(parts) for parts in islice(product(inner, repeat=count), budget)]
            return out
        return [""]

    results = [""]
    for node in items:
        options = expand(node)
        results = [prefix + option for prefix, option in islice(product(results, options), budget)]
    return results


def _anchor_in(pattern, text: str) -> bool:
    for spelling in pattern.anchors:
        anchor = parse_anchor(spelling)
        for found in re.finditer(re.escape(anchor.text), text):
            start, end = found.start(), found.end()
            if anchor.word_start and start > 0 and text[start - 1].isalnum():
                continue
            if anchor.word_end and end < len(text) and text[end].isalnum():
                continue
            return True
    return False


@pytest.mark.parametrize("name", [pattern.name for pattern in PATTERNS])
def test_every_regex_branch_is_reached_by_an_anchor(name: str) -> None:
    pattern = BY_NAME[name]
    compiled = re.compile(pattern.regex)
    for branch in top_level_branches(pattern.regex):
        strings = [s for s in _strings(sre_parse.parse(branch)) if compiled.search(s)]
        assert strings, f"{name}: could not expand branch {branch!r}"
        unreached = [s for s in strings if not _anchor_in(pattern, s)]
        assert not unreached, f"{name}: branch {branch!r} matches {unreached[0]!r}, which holds no anchor"


def test_anchor_texts_are_lower_case_literals() -> None:
    for pattern in PATTERNS:
        for spelling in pattern.anchors:
            assert anchor_text(spelling) == anchor_text(spelling).lower().strip() or anchor_text(spelling).strip()


def test_classifier_version_covers_every_classifier_file_and_table() -> None:
    package = Path(__file__).parent.parent / "miner" / "classify"
    covered = {path.name for path in RULE_SOURCES}
    assert {path.name for path in package.glob("*.py")} <= covered
    assert {"weights.tsv", "examples.tsv", "body.py"} <= covered
    assert re.fullmatch(r"[0-9a-f]{8}", _rules_digest())
