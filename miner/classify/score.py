"""Turn pattern matches into per-label scores and labels, for one message or a whole thread."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from miner.classify.kinds import (
    COVER_LETTER,
    KIND_POLICY,
    PATCH,
    STABLE_BACKPORT,
    TIP_COMMIT,
    message_kind,
)
from miner.classify.calibrate import Weights, features, load_weights, noisy_or, probability
from miner.classify.patterns import LABELS, PATTERNS, SUBTYPE_NAMES
from miner.classify.scan import SCANNER, SUBJECT_LINE, Match

THRESHOLD = 0.5  # a message label when more likely than not: 13 of the 14 held-out 0.5-0.6 scores are right
# A thread label (what `miner threads --label` lists) asks more than a message tag:
# in natural traffic few threads carry a label, and a wrong thread costs a researcher more.
THREAD_THRESHOLD = 0.6
RULE_THRESHOLD = 0.5  # a rule score from which a co-label pattern counts more (D3, D5)
WEIGHTS = load_weights()
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
    zone: str = "prose"  # subject, prose, quote, code or aside (changelog, patch list, trailer)


@dataclass
class Result:
    """Labels at or above the threshold, a score in [0, 1] per label, and the evidence."""

    labels: list[str]
    scores: dict[str, float]
    evidence: list[Evidence]
    kinds: dict[str, str] = field(default_factory=dict)  # message_id -> kind (threads only)


def message_evidence(subject: str, text: str, message_id: str | None = None,
                     kind: str | None = None) -> list[Evidence]:
    """Evidence for every label found in one message of ``kind`` (detected when None)."""
    if kind is None:
        kind = message_kind(subject, text)
    return [
        evidence for match in SCANNER.scan(subject, text, kind) for evidence in _evidence(match, message_id)
    ]


def _evidence(match: Match, message_id: str | None) -> list[Evidence]:
    """One Evidence per label a match supports."""
    pattern = match.pattern
    found = [Evidence(pattern.label, subtype_name(pattern.subtype), pattern.name, message_id, match.line,
                      match.text, match.quoted, match.in_diff, round(match.weight, 4), match.zone)]
    for label in pattern.also:
        found.append(Evidence(label, subtype_name(ALSO_SUBTYPE[label]), pattern.name, message_id, match.line,
                              match.text, match.quoted, match.in_diff, round(match.weight, 4), match.zone))
    return found


def subtype_name(code: str) -> str:
    """A subtype as evidence shows it: its code and name ("D1 lock-order inversion (ABBA)")."""
    return f"{code} {SUBTYPE_NAMES[code]}"


def label_scores(evidence: list[Evidence]) -> dict[str, float]:
    """Rule score per label: strongest match per line, repeats of a pattern decay, noisy-OR."""
    return {label: round(score, 4) for label, score in noisy_or(evidence).items()}


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


# D3: a missing or changed barrier in concrete code is a data race "due to missing memory
# barriers" (kcsan.rst) as well as an ordering bug.  Concrete: a missing-barrier claim, or a
# barrier primitive on an added line of the patch.  A claim that the code needs one ("an smp_wmb
# is needed so vtsk is set before dev->worker", "we need an smp_mb__after_atomic") is one too;
# a barrier's kind ("they end up being full memory barriers", "an implied barrier") is not.
# Removing a redundant barrier is not (D3), nor is a barrier inside a macro definition (a line
# continued with "\\"): that implements a primitive (READ_ONCE on Alpha, smp_load_acquire), the
# acquire/release implementation work D3 leaves to ordering alone.
D3_CONCRETE = frozenset(("missing_barrier",))
D3_IF_NEEDED = frozenset(("required_barrier",))  # concrete when the line says the code needs it (D3_NEED)
D3_NEED = re.compile(r"\b(?:requir|need|necessar|proper|appropriate|correct|right)", re.IGNORECASE)
D3_IN_CODE = frozenset(("barrier_primitive", "acquire_release_primitive"))
QUOTED_ADDED = re.compile(r"^(?:> ?)+\+(?!\+)")  # an added line of a patch a reply quotes: D3_IN_CODE counts there too
D3_NOT = frozenset(("redundant_barrier",))
D3_NOT_IN_SUBJECT = frozenset(("barrier_rework",))  # "Replace smp_read_barrier_depends() with smp_rmb()"
# Words that say things run at once, not that they race: "concurrent fsyncs", "in parallel",
# "other tasks accessing".  Alone they describe a workload or a benchmark.
WORKLOAD_WORDS = frozenset(("concurrent_access", "simultaneous", "other_context"))
# ... and the race words of a message that removes a redundant barrier are its barrier reasoning
# ("as well as the unlocked check for root->log_root", "read using READ_ONCE()"), not a race of
# their own: ordering only (D3), unless a race is named or shown (a race word, a splat, an interleaving)
# or the title is about the racy accesses ("Annotate unlocked accesses to transaction state").
BARRIER_REASONING = WORKLOAD_WORDS | {"unprotected_access", "read_write_once"}
D3_NOT_FACTOR = 0.5
# D4: the hang words that state a race's consequence ("... hang forever", "lost wakeup").
D4_HANG = frozenset(("hang_word", "blocked_forever", "lost_wakeup", "livelock", "d_state"))


def co_label(evidence: list[Evidence], scores: dict[str, float]) -> list[Evidence]:
    """Apply the rubric's co-label decisions to calibrated scores (in place) and evidence.

    D3: ordering from a concrete barrier fix is also race.  D4: a race whose stated
    consequence, in the author's own prose, is a hang is also deadlock.
    """
    if scores["ordering"] >= THRESHOLD and scores["race"] < THRESHOLD:
        barrier = [e for e in evidence if e.label == "ordering" and e.zone != "aside" and (
            e.pattern in D3_CONCRETE or (e.pattern in D3_IF_NEEDED and D3_NEED.search(e.text))
            or (e.pattern in D3_IN_CODE and e.in_diff and (e.zone == "code" or QUOTED_ADDED.match(e.text))
                                          and not e.text.rstrip().endswith("\\")))]
        if barrier and not any(e.pattern in D3_NOT or (e.pattern in D3_NOT_IN_SUBJECT and e.line == SUBJECT_LINE)
                               for e in evidence):
            scores["race"] = scores["ordering"]
            evidence = evidence + [replace(e, label="race", subtype=subtype_name("R1")) for e in barrier]
    if scores["race"] >= THRESHOLD and any(e.pattern in D3_NOT and e.zone in ("prose", "subject") for e in evidence) \
            and all(e.pattern in BARRIER_REASONING and e.zone != "subject"
                    for e in evidence if e.label == "race" and e.zone != "aside"):
        scores["race"] = round(scores["race"] * D3_NOT_FACTOR, 4)
    if scores["race"] >= THRESHOLD and scores["deadlock"] < THRESHOLD:
        hang = [e for e in evidence if e.label == "deadlock" and e.zone in ("prose", "subject")
                and e.pattern in D4_HANG]
        if hang:
            scores["deadlock"] = round(min(scores["race"], max(scores["deadlock"], THREAD_THRESHOLD + 0.05)), 4)
            evidence = evidence + [replace(e, subtype=subtype_name("D5")) for e in hang]
    return evidence


def evidence_features(evidence: list[Evidence]) -> tuple[list[Evidence], dict[str, list[float]]]:
    """The evidence (co-label patterns strengthened by the rule labels) and its feature vectors."""
    if any(PATTERN_BY_NAME[item.pattern].stronger_with for item in evidence):
        rule = noisy_or(evidence)
        evidence = strengthen(evidence, {label for label in LABELS if rule[label] >= RULE_THRESHOLD})
    return evidence, features(evidence)


def score_evidence(evidence: list[Evidence], weights: Weights | None = None) -> Result:
    """Labels, calibrated scores and ranked evidence from one message's evidence.

    The rule score (noisy-OR of the evidence) picks the labels whose co-label patterns get
    stronger (D3, D5); the calibrated score (``calibrate.py``, weights.tsv) decides.  The
    evidence lists each line once per label, with its strongest pattern.
    """
    if not evidence:
        return Result([], dict.fromkeys(LABELS, 0.0), [])
    weights = weights or WEIGHTS
    evidence, vectors = evidence_features(evidence)
    scores = {label: round(probability(label, vectors[label], weights), 4) for label in LABELS}
    evidence = co_label(evidence, scores)
    order = {label: position for position, label in enumerate(LABELS)}
    ranked = sorted(evidence, key=lambda e: (order[e.label], -e.weight, e.line))
    seen: set[tuple[str, str | None, int]] = set()
    strongest = []
    for item in ranked:
        key = (item.label, item.message_id, item.line)
        if key not in seen:
            seen.add(key)
            strongest.append(item)
    return Result([label for label in LABELS if scores[label] >= THRESHOLD], scores, strongest)


def classify_message(subject: str, text: str, message_id: str | None = None,
                     kind: str | None = None) -> Result:
    """Labels, scores and evidence for one message (its subject, prose, quotes and diffs)."""
    return score_evidence(message_evidence(subject, text, message_id, kind))


SERIES_PATCH = re.compile(r"\[[^\]]*?\b0*([1-9]\d*)/(\d+)\s*\]")
# A patch deep in a series whose root is a cover letter is one topic among several: it can
# label the thread, but only with stronger evidence than the root needs.
SERIES_MEMBER_FACTOR = 0.85
# ... and a series member whose own title does not name the hazard, in a series whose cover
# letter does not speak of it, is a side remark of a feature series ("[PATCH 06/22]" of an
# async-discard series that handles one race on the way).
OFF_TOPIC_MEMBER_FACTOR = 0.5
COVER_SUPPORT = 0.3  # a cover letter score from which the series is about the label
# A message other than the thread's root gives the thread a label only from its own new
# analysis: two or more of its own lines (prose or code), or a machine signature.  One
# passing line in one reply of a long thread is not the thread's topic (item 3 of the
# natural review: "there's also a known deadlock that can ..." in a RAID help thread).
# The same holds for a cover letter, whose one-line mentions summarise other patches.
# The weights are calibrated on the dev sets, where 59% of the messages carry a label; in a
# list's natural traffic a few per cent of the threads do, and a long thread offers many
# replies to take the best of.  A reply's log-odds therefore move down by this much before it
# can label its thread (the root is the thread's own topic and keeps its score).
# Half a unit: enough to keep a lone weak word of one message from labelling a thread, not
# enough to drop a splat or a stated fix.
THREAD_PRIOR_SHIFT = 0.5
SINGLE_MENTION_FACTOR = 0.5  # below the threshold whatever the score: one line is no topic
OWN_ZONES = frozenset(("prose", "code"))
STRONG_LINE = 0.6  # pattern weight of a line that names the hazard itself (race, deadlock, barrier)
PATCH_KINDS = frozenset((PATCH, STABLE_BACKPORT, TIP_COMMIT))
FIX_KINDS = PATCH_KINDS | {COVER_LETTER}


def classify_thread(messages: Iterable[tuple]) -> Result:
    """Labels for a thread of (message_id, subject, text[, sender[, prose]]): replies inherit the topic (D2).

    Each message is scored with its own evidence plus the thread's first subject, weighed by
    what the message is (``kinds.KIND_POLICY``: a digest or pull request lists other work;
    a patch deep in a series is one topic of many), and the thread takes, per label, the
    best weighed message score.  Pooling every line of a long thread instead would let forty
    passing mentions add up to a label no message supports.  Evidence per label comes from
    the message that scored it best.
    """
    thread_subject_evidence: list[Evidence] | None = None
    thread_subject = ""
    root_kind = PATCH
    series_member = False
    root_scores: dict[str, float] = dict.fromkeys(LABELS, 0.0)
    kinds: dict[str, str] = {}
    best: dict[str, tuple[float, list[Evidence]]] = {}
    diagnosed = False  # whether any message names the deadlock beyond a symptom word
    for message in messages:
        message_id, subject, text = message[0], message[1], message[2]
        sender = message[3] if len(message) > 3 else None
        kind = message_kind(subject, text, sender)
        kinds[message_id] = kind
        if (thread_subject_evidence is not None and len(message) > 4 and message[4] is not None
                and kind not in PATCH_KINDS and kind != COVER_LETTER and not SCANNER.could_match(message[4])
                and SCANNER.diff_free(text)):
            # a reply whose own prose (messages.prose) holds no anchor has no analysis of its
            # own: at most half its score could count, below any thread label; skip the scan
            continue
        evidence = message_evidence(subject, text, message_id, kind)
        factor = KIND_POLICY[kind].thread_factor
        is_root = thread_subject_evidence is None
        if is_root:
            root_kind = kind
            thread_subject = _topic(subject)
            thread_subject_evidence = [e for e in evidence if e.line == 0]
        else:
            factor = min(factor, KIND_POLICY[root_kind].thread_factor)  # replies to a digest or pull
            if thread_subject and _topic(subject) != thread_subject:
                evidence += thread_subject_evidence
            series_member = root_kind == COVER_LETTER and kind == PATCH and bool(SERIES_PATCH.search(subject))
            if series_member:
                factor *= SERIES_MEMBER_FACTOR
        # a patch posted in a thread states its own topic; other messages need their own analysis
        needs_analysis = kind == COVER_LETTER or (not is_root and (kind not in PATCH_KINDS or series_member))
        if not is_root and not any(e.line for e in evidence):
            continue  # only the subject: the root carries it at full weight already
        result = score_evidence(evidence)
        if is_root:
            root_scores = result.scores
        for label in LABELS:
            weighed = (result.scores[label] if is_root else _natural_prior(result.scores[label])) * factor
            if needs_analysis and not _own_analysis(result.evidence, label, is_root, kind in PATCH_KINDS):
                weighed *= SINGLE_MENTION_FACTOR
            if (not is_root and root_scores[label] < COVER_SUPPORT and kind not in PATCH_KINDS
                    and not _new_topic(result.evidence, label)):
                weighed *= SINGLE_MENTION_FACTOR
            elif (kind == COVER_LETTER and not any(e.label == label and e.line == 0 for e in result.evidence)
                    and not _new_topic(result.evidence, label)):
                weighed *= SINGLE_MENTION_FACTOR  # a series whose title does not name it: a design note
            if label == "race" and not _names_hazard(result.evidence, label):
                weighed *= SINGLE_MENTION_FACTOR  # "concurrent fsyncs", "in parallel": a workload
            if (not is_root and series_member and root_scores[label] < COVER_SUPPORT
                    and not any(e.label == label and (e.line == 0 or _is_signature(e)) for e in result.evidence)):
                weighed *= OFF_TOPIC_MEMBER_FACTOR
            weighed = round(weighed, 4)
            if label not in best or weighed > best[label][0]:
                best[label] = (weighed, result.evidence)
        # a patch titled "fix ... hangs" states its purpose: the fix is the diagnosis
        diagnosed = diagnosed or any(
            e.label == "deadlock" and e.zone != "aside" and (
                e.pattern not in SYMPTOM_WORDS
                or (e.zone == "subject" and kind in FIX_KINDS and e.message_id == message_id))
            for e in result.evidence)
    if not best:
        return score_evidence([])
    scores = {label: best[label][0] for label in LABELS}
    if not diagnosed and scores["race"] < THREAD_THRESHOLD:  # a race's hang is D4's deadlock
        # "mount hangs", "replace sometimes hangs": a symptom the thread never ties to a wait
        # (no deadlock word, splat, blocked-forever or lost-wakeup line anywhere in it); such
        # threads end as loops, slow I/O or crashes as often as deadlocks.
        scores["deadlock"] = round(scores["deadlock"] * SINGLE_MENTION_FACTOR, 4)
    evidence = [e for label in LABELS for e in best[label][1] if e.label == label]
    return Result([label for label in LABELS if scores[label] >= THREAD_THRESHOLD], scores, evidence,
                  kinds)


def _natural_prior(score: float) -> float:
    """A calibrated message score moved to the base rate of natural threads (see THREAD_PRIOR_SHIFT)."""
    if score <= 0.0 or score >= 1.0 or not THREAD_PRIOR_SHIFT:
        return score
    return 1.0 / (1.0 + math.exp(THREAD_PRIOR_SHIFT - math.log(score / (1.0 - score))))


def _is_signature(item: Evidence) -> bool:
    """A machine splat line (lockdep, KCSAN, hung task) of the message's own text."""
    return PATTERN_BY_NAME[item.pattern].signature and item.zone not in ("subject", "aside", "quote")


def _own_analysis(evidence: list[Evidence], label: str, is_root: bool = True,
                  own_subject: bool = False) -> bool:
    """Whether a message says something of its own about ``label``.

    Two or more own lines of which one is a strong signal ("concurrent" twice is a workload,
    not a race), or a machine splat.  In a reply a pasted splat must come with a word of its
    own (another pattern): a hung-task line in a log pasted into a corruption report is not a
    hang report.  A patch's subject is its own title (``own_subject``); a race that D3 draws
    from a barrier analysis has the analysis of its ordering.
    """
    if label == "race" and any(e.label == "race" and e.pattern in D3_CONCRETE | D3_IF_NEEDED | D3_IN_CODE for e in evidence) \
            and _own_analysis(evidence, "ordering", is_root, own_subject):
        return True
    zones = OWN_ZONES | {"subject"} if own_subject else OWN_ZONES
    lines = set()
    patterns = set()
    strongest = 0.0
    splat = False
    for item in evidence:
        if item.label != label or item.zone == "aside":
            continue
        if _is_signature(item):
            splat = True
        if item.zone in zones:
            lines.add(item.line)
            patterns.add(item.pattern)
            strongest = max(strongest, item.weight)
    if splat and (is_root or len(patterns) >= 2):
        return True
    return len(lines) >= 2 and strongest >= STRONG_LINE and not (splat and len(patterns) < 2 and not is_root)


# A line that names the code it speaks of (btrfs_read_dev_one_super, lock_page(), ->flags,
# BTRFS_IOC_DEVICES_READY) makes a claim about this code, not about bugs in general.
CODE_NAME = re.compile(r"\b[A-Za-z][A-Za-z0-9]*_\w+|\w\(\)|\w\(\w+\)|->\w")
# Words of a symptom ("mount hangs", "lockup"): a deadlock only where the thread ties them to a wait.
SYMPTOM_WORDS = frozenset(("hang_word", "lockup_word"))
# Patterns that say the same thing in other words: "a race" and "racing", "deadlock" and "AA
# deadlock", "hang" and "lockup".  Two of them are one signal, not two.
SAME_SIGNAL = {"race_word": "race_condition", "lock_inversion": "deadlock_word", "lockup_word": "hang_word"}


def _new_topic(evidence: list[Evidence], label: str) -> bool:
    """Whether a reply that raises ``label`` where the root did not analyses it: two kinds of signal.

    In a thread whose root is not about the hazard, a reply's paragraph that uses the word
    twice ("btrfs has had more deadlock bugs than ... adding new deadlocks") is a remark; an
    analysis names the hazard and something more of it: its mechanism (held locks, the other
    context, a window, a barrier), its consequence (blocked forever), or a splat.
    """
    signals = set()
    lines = set()
    names_code = False
    for item in evidence:
        if item.label == label and item.zone in OWN_ZONES:
            signals.add(SAME_SIGNAL.get(item.pattern, item.pattern))
            lines.add(item.line)
            names_code = names_code or bool(CODE_NAME.search(item.text))
    return len(lines) >= 2 and (len(signals) >= 2 or names_code)


def _names_hazard(evidence: list[Evidence], label: str) -> bool:
    """Whether a line outside asides says more than that things run at once (WORKLOAD_WORDS)."""
    return any(e.label == label and e.zone != "aside" and e.pattern not in WORKLOAD_WORDS for e in evidence)


def _topic(subject: str) -> str:
    """A subject without reply/forward prefixes, for comparing messages of one thread."""
    return REPLY_PREFIX.sub("", subject).strip().lower()
