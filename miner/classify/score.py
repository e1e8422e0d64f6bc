"""Turn pattern matches into per-label scores and labels, for one message or a whole thread."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace

from miner.classify.patterns import LABELS, PATTERNS
from miner.classify.scan import SCANNER, Match

THRESHOLD = 0.5
REPEAT_DECAY = 0.7  # the k-th match of the same pattern counts REPEAT_DECAY**k as much
MAX_REPEATS = 6
PATTERN_BY_NAME = {pattern.name: pattern for pattern in PATTERNS}
# Subtype recorded when a pattern also supports a second label (D3 barrier -> race, D4 wakeup).
ALSO_SUBTYPE = {"deadlock": "D5", "race": "R2", "ordering": "O1"}
REPLY_PREFIX = re.compile(r"^(?:\s*(?:re|fwd?|aw|sv)\s*:\s*)+", re.IGNORECASE)


@dataclass(frozen=True)
class Evidence:
    """One reason for a label: which pattern fired on which line of which message."""

    label: str
    subtype: str
    pattern: str
    message_id: str | None
    line: int  # 1-based line in the text; 0 means the subject
    text: str
    quoted: bool
    in_diff: bool  # an added diff line or a line of a code listing
    weight: float


@dataclass
class Result:
    """Labels at or above the threshold, a score in [0, 1] per label, and the evidence."""

    labels: list[str]
    scores: dict[str, float]
    evidence: list[Evidence]


def message_evidence(subject: str, text: str, message_id: str | None = None) -> list[Evidence]:
    """Evidence for every label found in one message (before any scoring)."""
    return [
        evidence for match in SCANNER.scan(subject, text) for evidence in _evidence(match, message_id)
    ]


def _evidence(match: Match, message_id: str | None) -> list[Evidence]:
    """One Evidence per label a match supports."""
    pattern = match.pattern
    found = [Evidence(pattern.label, pattern.subtype, pattern.name, message_id, match.line,
                      match.text, match.quoted, match.in_diff, round(match.weight, 4))]
    for label in pattern.also:
        found.append(Evidence(label, ALSO_SUBTYPE[label], pattern.name, message_id, match.line,
                              match.text, match.quoted, match.in_diff, round(match.weight, 4)))
    return found


def label_scores(evidence: list[Evidence]) -> dict[str, float]:
    """Score per label: strongest match per line, repeats of a pattern decay, noisy-OR."""
    best_per_line: dict[tuple[str, str | None, int], Evidence] = {}
    for item in evidence:
        key = (item.label, item.message_id, item.line)
        kept = best_per_line.get(key)
        if kept is None or item.weight > kept.weight:
            best_per_line[key] = item
    by_pattern: dict[tuple[str, str], list[float]] = defaultdict(list)
    for item in best_per_line.values():
        by_pattern[(item.label, item.pattern)].append(item.weight)
    missing = dict.fromkeys(LABELS, 1.0)
    for (label, _), weights in by_pattern.items():
        weights.sort(reverse=True)
        for rank, weight in enumerate(weights[:MAX_REPEATS]):
            missing[label] *= 1.0 - weight * REPEAT_DECAY**rank
    return {label: round(1.0 - missing[label], 4) for label in LABELS}


def strengthen(evidence: list[Evidence], labels: set[str]) -> list[Evidence]:
    """Raise the weight of matches whose pattern counts more next to a label already given."""
    raised: list[Evidence] = []
    for item in evidence:
        stronger = PATTERN_BY_NAME[item.pattern].stronger_with
        if stronger and stronger[0] in labels and item.label != stronger[0]:
            factor = stronger[1] / PATTERN_BY_NAME[item.pattern].weight
            item = replace(item, weight=round(min(0.97, item.weight * factor), 4))
        raised.append(item)
    return raised


def score_evidence(evidence: list[Evidence]) -> Result:
    """Labels, scores and ranked evidence from a pool of evidence (one message or a thread)."""
    scores = label_scores(evidence)
    labels = {label for label in LABELS if scores[label] >= THRESHOLD}
    if any(PATTERN_BY_NAME[item.pattern].stronger_with for item in evidence):
        evidence = strengthen(evidence, labels)
        scores = label_scores(evidence)
    order = {label: position for position, label in enumerate(LABELS)}
    ranked = sorted(evidence, key=lambda e: (order[e.label], -e.weight, e.line))
    return Result([label for label in LABELS if scores[label] >= THRESHOLD], scores, ranked)


def classify_message(subject: str, text: str, message_id: str | None = None) -> Result:
    """Labels, scores and evidence for one message (its subject, prose, quotes and diffs)."""
    return score_evidence(message_evidence(subject, text, message_id))


def classify_thread(messages: Iterable[tuple[str, str, str]]) -> Result:
    """Labels for a thread of (message_id, subject, text): replies inherit the topic (D2).

    Each message is scored with its own evidence plus the thread's first subject, and the
    thread takes, per label, the best message score.  Pooling every line of a long thread
    instead would let forty passing mentions add up to a label no message supports.
    Evidence per label comes from the message that scored it best.
    """
    thread_subject_evidence: list[Evidence] | None = None
    thread_subject = ""
    best: dict[str, tuple[float, list[Evidence]]] = {}
    for message_id, subject, text in messages:
        evidence = message_evidence(subject, text, message_id)
        if thread_subject_evidence is None:
            thread_subject = _topic(subject)
            thread_subject_evidence = [e for e in evidence if e.line == 0]
        elif thread_subject and _topic(subject) != thread_subject:
            evidence += thread_subject_evidence
        result = score_evidence(evidence)
        for label in LABELS:
            if label not in best or result.scores[label] > best[label][0]:
                best[label] = (result.scores[label], result.evidence)
    if not best:
        return score_evidence([])
    scores = {label: best[label][0] for label in LABELS}
    evidence = [e for label in LABELS for e in best[label][1] if e.label == label]
    return Result([label for label in LABELS if scores[label] >= THRESHOLD], scores, evidence)


def _topic(subject: str) -> str:
    """A subject without reply/forward prefixes, for comparing messages of one thread."""
    return REPLY_PREFIX.sub("", subject).strip().lower()
