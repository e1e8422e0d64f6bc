"""Scores that mean something: a logistic combination of the pattern features, per label.

The pattern table gives evidence; ``features`` sums it up per label in a few numbers (the
noisy-OR of the evidence in each zone of the message, and the strongest machine signature).
A score is ``sigmoid(bias + sum(weight * feature))`` with the weights of ``weights.tsv``, a
readable table shipped in the package.  The table is fitted by ``fit_weights`` (scikit-learn
logistic regression) on the hand-labelled dev sets, checked leave-one-list-out by
``miner eval --by-list``, and written by ``benchmarks/classify_fit.py``; nothing is fitted
at run time.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from miner.classify.patterns import LABELS, PATTERNS

WEIGHTS_PATH = Path(__file__).with_name("weights.tsv")
ZONE_FEATURES = ("subject", "prose", "quote", "code", "aside")
FEATURES = ("rule", *ZONE_FEATURES, "signature", "breadth", "co_label", "strongest")
REPEAT_DECAY = 0.7  # the k-th match of the same pattern counts REPEAT_DECAY**k as much
MAX_REPEATS = 6
BREADTH_CAP = 4  # distinct patterns counted in "breadth" (0..1)
SIGNATURE_PATTERNS = frozenset(pattern.name for pattern in PATTERNS if pattern.signature)
REGULARISATION = 1.0  # scikit-learn's C: the inverse strength of the L2 penalty

Weights = dict[str, dict[str, float]]  # label -> feature (or "bias") -> weight


def noisy_or(evidence: Iterable) -> dict[str, float]:
    """Per label: strongest match per line, repeats of a pattern decay, noisy-OR over the rest."""
    best_per_line: dict[tuple, object] = {}
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
    return {label: 1.0 - missing[label] for label in LABELS}


def features(evidence: Sequence) -> dict[str, list[float]]:
    """The feature vector (in FEATURES order) of each label for one message's evidence."""
    rule = noisy_or(evidence)
    by_zone: dict[str, list] = defaultdict(list)
    signature = dict.fromkeys(LABELS, 0.0)
    strongest = dict.fromkeys(LABELS, 0.0)
    patterns: dict[str, set[str]] = defaultdict(set)
    for item in evidence:
        by_zone[item.zone].append(item)
        if item.zone != "aside":
            patterns[item.label].add(item.pattern)
            strongest[item.label] = max(strongest[item.label], item.weight)
            if item.pattern in SIGNATURE_PATTERNS and item.weight > signature[item.label]:
                signature[item.label] = item.weight
    zones = {zone: noisy_or(by_zone[zone]) if by_zone[zone] else dict.fromkeys(LABELS, 0.0)
             for zone in ZONE_FEATURES}
    # co_label: the labels travel together (D3 barrier bugs are races, D4 racy hangs): the
    # strongest rule score among the other labels
    return {label: [rule[label], *(zones[zone][label] for zone in ZONE_FEATURES), signature[label],
                    min(len(patterns[label]), BREADTH_CAP) / BREADTH_CAP,
                    max(rule[other] for other in LABELS if other != label), strongest[label]]
            for label in LABELS}


def probability(label: str, vector: Sequence[float], weights: Weights) -> float:
    """The calibrated score of ``label`` for a feature vector."""
    table = weights[label]
    if not any(vector):
        return 0.0  # no evidence at all: no score (and no label), whatever the bias
    z = table["bias"] + sum(table[name] * value for name, value in zip(FEATURES, vector))
    return 1.0 / (1.0 + math.exp(-z))


def load_weights(path: Path = WEIGHTS_PATH) -> Weights:
    """The weights table: lines of ``label<TAB>feature<TAB>weight``; '#' starts a comment."""
    weights: Weights = {label: {} for label in LABELS}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        label, feature, value = line.split("\t")
        weights[label][feature] = float(value)
    for label in LABELS:
        missing = {"bias", *FEATURES} - set(weights[label])
        if missing:
            raise ValueError(f"{path}: no weight for {label} {', '.join(sorted(missing))}")
    return weights


def fit_weights(vectors: Sequence[dict[str, list[float]]], golds: Sequence[Iterable[str]]) -> Weights:
    """Fit one logistic regression per label (scikit-learn) on feature vectors and gold labels."""
    from sklearn.linear_model import LogisticRegression  # only fitting needs it, not classifying

    weights: Weights = {}
    golds = [set(gold) for gold in golds]
    for label in LABELS:
        rows = [vector[label] for vector in vectors]
        targets = [int(label in gold) for gold in golds]
        model = LogisticRegression(C=REGULARISATION, max_iter=2000)
        model.fit(rows, targets)
        weights[label] = {"bias": float(model.intercept_[0]),
                          **{name: float(value) for name, value in zip(FEATURES, model.coef_[0])}}
    return weights


def format_weights(weights: Weights, note: str = "") -> str:
    """The weights as the readable table of ``weights.tsv``."""
    lines = [
        "# Calibrated per-label weights of the classifier (miner/classify/calibrate.py).",
        "# score = sigmoid(bias + sum(weight * feature)); a label when score >= THRESHOLD (score.py).",
        "# Features: rule = noisy-OR of all evidence; subject/prose/quote/code/aside = noisy-OR",
        "# of the evidence in that zone; signature = strongest machine splat; breadth = distinct",
        "# patterns (up to 4) / 4; co_label = strongest rule score of the other labels;\n"
        "# strongest = the weight of the strongest line.  Fitted by benchmarks/classify_fit.py" + (f" {note}" if note else "."),
        "# label\tfeature\tweight",
    ]
    for label in LABELS:
        for name in ("bias", *FEATURES):
            lines.append(f"{label}\t{name}\t{weights[label][name]:.4f}")
    return "\n".join(lines) + "\n"
