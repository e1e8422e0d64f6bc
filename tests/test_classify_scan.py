"""The fast scanner must find what a slow, obvious scan finds (on the real dev messages)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from miner.classify.patterns import PATTERNS
from miner.classify.scan import SCANNER, AnchorFinder, anchor_text
from miner.classify.score import classify_thread

DEV = [json.loads(line) for line in
       (Path(__file__).parent / "fixtures" / "labels" / "dev.jsonl").read_text().splitlines()]


def slow_anchor_offsets(lower: str, spelling: str) -> set[int]:
    """Start offsets of an anchor by plain str.find, honouring its word-boundary marks."""
    text = anchor_text(spelling)
    found = set()
    start = lower.find(text)
    while start >= 0:
        end = start + len(text)
        if not (spelling.startswith("\\b") and start > 0 and lower[start - 1].isalnum()) and not (
                spelling.endswith("\\b") and end < len(lower) and lower[end].isalnum()):
            found.add(start)
        start = lower.find(text, start + 1)
    return found


def test_anchor_finder_finds_every_anchor_occurrence() -> None:
    spellings = SCANNER.anchors
    finder = SCANNER.prose_finder
    for item in DEV[:60]:
        lower = item["text"].lower()
        fast = set(finder.find(lower))
        slow = {(start, anchor_id) for anchor_id, spelling in enumerate(spellings)
                for start in slow_anchor_offsets(lower, spelling)}
        assert fast == slow, item["id"]


def test_every_match_contains_one_of_its_anchors() -> None:
    # The anchor scan is only sound if each pattern's matches contain an anchor.
    for pattern in PATTERNS:
        regex = re.compile(pattern.regex)
        for item in DEV:
            for line in item["text"].lower().split("\n"):
                match = regex.search(line)
                if match:
                    assert any(anchor_text(a) in line for a in pattern.anchors), (
                        pattern.name, item["id"], line)


def test_anchor_with_word_marks() -> None:
    finder = AnchorFinder(["\\brace"], {"\\brace": 0})
    # dev-138 line 1 has "Trace"; dev-028 line 46 has "race".
    assert finder.find("trace new locations when hitting a referral.") == []
    assert [anchor for _, anchor in finder.find("we may still have race between")] == [0]


def test_anchor_finder_range_bounds_like_re() -> None:
    # As re's pos/endpos: the character before the range start still bounds a word, the range end
    # is the end of the text (the scanner searches the prose runs after a diff this way).
    finder = AnchorFinder(["\\brace\\b"], {"\\brace\\b": 0})
    assert finder.find("trace", 1) == []
    assert finder.find("a race", 2) == [(2, 0)]
    assert finder.find("a races", 0, 6) == [(2, 0)]
    assert finder.find("a races") == []


def test_thread_of_many_messages_is_scored_per_message() -> None:
    # Two hundred replies that each quote one passing line of dev-015 do not add up to a label
    # that no single message supports.
    line = "> 3. No concurrent transaction modifications possible during snapshot"  # dev-015
    thread = [(f"m{n}", "Re: [PATCH] btrfs: something", line) for n in range(200)]
    result = classify_thread(thread)
    assert result.labels == []
    assert 0 < result.scores["race"] < 0.5
