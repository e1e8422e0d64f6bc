"""Score the classifier against hand-labelled messages: per-label P/R/F1, micro/macro F1.

Also runs the plain keyword baseline of ../shared/labels/README.md on the same items, so the
gain of the pattern table over keyword search is visible.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from miner.classify.items import Item
from miner.classify.patterns import LABELS
from miner.classify.score import Evidence, classify_message

# One plain regex per label over subject and text (labels/README.md, "Keyword baseline").
BASELINE_REGEXES = {
    "deadlock": re.compile(
        r"dead ?lock|lockdep|circular locking|recursive locking|inconsistent lock state|"
        r"blocked for more than|task hung|hung task|sleeping function called from invalid "
        r"context|sleeping in atomic|invalid wait context",
        re.IGNORECASE,
    ),
    "race": re.compile(r"\brac(e|es|y|ing|ed)\b|data.race|KCSAN|READ_ONCE|WRITE_ONCE", re.IGNORECASE),
    "ordering": re.compile(
        r"\border(ing|ed)?\b|reorder|barrier|smp_[rw]?mb|\bacquire\b|\brelease\b", re.IGNORECASE
    ),
}


@dataclass
class LabelCounts:
    """True positives, false positives and false negatives for one label."""

    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0

    @property
    def support(self) -> int:
        """Items that carry the label in the gold standard."""
        return self.true_positive + self.false_negative

    @property
    def precision(self) -> float:
        """TP / (TP + FP); 0 when nothing was predicted."""
        predicted = self.true_positive + self.false_positive
        return self.true_positive / predicted if predicted else 0.0

    @property
    def recall(self) -> float:
        """TP / (TP + FN); 0 when the label never occurs."""
        return self.true_positive / self.support if self.support else 0.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


@dataclass
class Miss:
    """An item whose predicted label set differs from the gold one."""

    item: Item
    predicted: list[str]
    scores: dict[str, float]
    evidence: list[Evidence]


@dataclass
class Metrics:
    """Evaluation of one predictor on one set of items."""

    items: int = 0
    exact: int = 0
    per_label: dict[str, LabelCounts] = field(
        default_factory=lambda: {label: LabelCounts() for label in LABELS}
    )
    misses: list[Miss] = field(default_factory=list)

    @property
    def macro_f1(self) -> float:
        """Mean of the per-label F1 scores."""
        return sum(counts.f1 for counts in self.per_label.values()) / len(self.per_label)

    @property
    def micro_f1(self) -> float:
        """F1 over the pooled TP/FP/FN of all labels."""
        pooled = LabelCounts(
            sum(c.true_positive for c in self.per_label.values()),
            sum(c.false_positive for c in self.per_label.values()),
            sum(c.false_negative for c in self.per_label.values()),
        )
        return pooled.f1

    def add(self, gold: list[str], predicted: list[str]) -> None:
        """Count one item."""
        self.items += 1
        self.exact += set(gold) == set(predicted)
        for label in LABELS:
            counts = self.per_label[label]
            if label in predicted and label in gold:
                counts.true_positive += 1
            elif label in predicted:
                counts.false_positive += 1
            elif label in gold:
                counts.false_negative += 1


@dataclass
class Evaluation:
    """Classifier and (optionally) baseline metrics, on all items and the non-borderline ones."""

    classifier: Metrics
    classifier_clear: Metrics | None
    baseline: Metrics | None = None
    baseline_clear: Metrics | None = None


def baseline_labels(subject: str, text: str) -> list[str]:
    """Labels of the keyword baseline: a label whenever its regex matches subject or text."""
    both = f"{subject}\n{text}"
    return [label for label in LABELS if BASELINE_REGEXES[label].search(both)]


def evaluate(items: Iterable[Item], with_baseline: bool = False) -> Evaluation:
    """Classify every labelled item and compare with its gold labels."""
    items = list(items)
    has_borderline = any(item.borderline is not None for item in items)
    evaluation = Evaluation(Metrics(), Metrics() if has_borderline else None)
    if with_baseline:
        evaluation.baseline = Metrics()
        evaluation.baseline_clear = Metrics() if has_borderline else None
    for item in items:
        gold = item.labels or []
        result = classify_message(item.subject, item.text, str(item.id))
        evaluation.classifier.add(gold, result.labels)
        if set(gold) != set(result.labels):
            evaluation.classifier.misses.append(
                Miss(item, result.labels, result.scores, result.evidence)
            )
        if evaluation.classifier_clear is not None and not item.borderline:
            evaluation.classifier_clear.add(gold, result.labels)
        if with_baseline:
            predicted = baseline_labels(item.subject, item.text)
            evaluation.baseline.add(gold, predicted)
            if evaluation.baseline_clear is not None and not item.borderline:
                evaluation.baseline_clear.add(gold, predicted)
    return evaluation


def format_metrics(title: str, metrics: Metrics, baseline: Metrics | None = None) -> list[str]:
    """A small text table: one row per label, then micro/macro F1 and exact matches."""
    lines = [f"{title} ({metrics.items} items)"]
    header = f"  {'label':<9} {'P':>5} {'R':>5} {'F1':>5} {'support':>7}"
    if baseline:
        header += f"   | baseline {'P':>5} {'R':>5} {'F1':>5}"
    lines.append(header)
    for label in LABELS:
        counts = metrics.per_label[label]
        row = (f"  {label:<9} {counts.precision:5.2f} {counts.recall:5.2f} {counts.f1:5.2f} "
               f"{counts.support:7d}")
        if baseline:
            base = baseline.per_label[label]
            row += f"   |          {base.precision:5.2f} {base.recall:5.2f} {base.f1:5.2f}"
        lines.append(row)
    summary = (f"  micro-F1 {metrics.micro_f1:.3f}  macro-F1 {metrics.macro_f1:.3f}  "
               f"exact label sets {metrics.exact}/{metrics.items}")
    lines.append(summary)
    if baseline:
        lines.append(f"  baseline: micro-F1 {baseline.micro_f1:.3f}  macro-F1 "
                     f"{baseline.macro_f1:.3f}  exact label sets {baseline.exact}/{baseline.items}")
    return lines


def format_misses(misses: list[Miss], evidence_lines: int = 4) -> list[str]:
    """One block per miss: id, gold vs predicted, scores, and the evidence behind the diff."""
    lines: list[str] = []
    for miss in misses:
        gold = miss.item.labels or []
        scores = " ".join(f"{label}={miss.scores[label]:.2f}" for label in LABELS)
        flag = " (borderline)" if miss.item.borderline else ""
        lines.append(f"{miss.item.id}{flag}: gold {gold or '[]'} predicted "
                     f"{miss.predicted or '[]'}  {scores}")
        lines.append(f"    subject: {miss.item.subject[:100]}")
        disputed = set(gold) ^ set(miss.predicted)
        for label in LABELS:
            if label not in disputed:
                continue
            shown = [e for e in miss.evidence if e.label == label][:evidence_lines]
            if not shown:
                lines.append(f"    {label}: no evidence found")
            for found in shown:
                where = "subject" if found.line == 0 else f"line {found.line}"
                marks = ("quoted " if found.quoted else "") + ("code " if found.in_diff else "")
                lines.append(f"    {label} {found.weight:.2f} {found.pattern} ({marks}{where}): "
                             f"{found.text.strip()[:90]}")
    return lines


def format_evaluation(evaluation: Evaluation, show_errors: bool = False) -> str:
    """The full text report printed by ``miner eval``."""
    lines = format_metrics("all items", evaluation.classifier, evaluation.baseline)
    if evaluation.classifier_clear is not None:
        lines.append("")
        lines += format_metrics("non-borderline items", evaluation.classifier_clear,
                                evaluation.baseline_clear)
    if show_errors:
        lines.append("")
        lines.append(f"misses ({len(evaluation.classifier.misses)}):")
        lines += format_misses(evaluation.classifier.misses)
    return "\n".join(lines)


