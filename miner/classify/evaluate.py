"""Score the classifier against hand-labelled messages: per-label P/R/F1, micro/macro F1.

Also runs the plain keyword baseline of ../shared/labels/README.md on the same items, so the
gain of the pattern table over keyword search is visible.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from miner.classify.calibrate import Weights, fit_weights
from miner.classify.items import Item
from miner.classify.patterns import LABELS
from miner.classify.score import (
    THRESHOLD,
    WEIGHTS,
    Evidence,
    classify_message,
    evidence_features,
    message_evidence,
    score_evidence,
)

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




# --- generalisation: per list, leave one list out, reliability ---------------------------

RELIABILITY_BINS = (0.0, 0.1, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0001)


@dataclass
class Prediction:
    """Calibrated scores of one item, with the weights that were not fitted on its list."""

    item: Item
    scores: dict[str, float]

    @property
    def labels(self) -> list[str]:
        """Labels whose score reaches the threshold."""
        return [label for label in LABELS if self.scores[label] >= THRESHOLD]


@dataclass
class GeneralisationReport:
    """Per-list scores of the shipped rules and leave-one-list-out scores of refitted weights."""

    per_list: dict[str, Metrics]
    shipped: Metrics
    held_out: Metrics
    held_out_per_list: dict[str, Metrics]
    predictions: list[Prediction]


def item_evidence(items: list[Item]) -> list[list[Evidence]]:
    """The evidence of each item (it does not depend on the weights)."""
    return [message_evidence(item.subject, item.text, str(item.id)) for item in items]


def item_vectors(items: list[Item]) -> list[dict[str, list[float]]]:
    """The feature vectors of each item (they do not depend on the weights)."""
    return [evidence_features(evidence)[1] for evidence in item_evidence(items)]


def _predict(evidence: list[Evidence], weights: Weights) -> dict[str, float]:
    """Scores of one item with ``weights``: the whole scoring, co-label rules included."""
    return score_evidence(evidence, weights).scores


def generalisation(items: list[Item]) -> GeneralisationReport:
    """Score the shipped weights per list, and weights refitted without each list on that list.

    Leave-one-list-out: for each mailing list, the logistic weights are fitted on the items of
    the other lists and score the held-out list's items; pooled, that says how the classifier
    does on a list it was never fitted on.  (The pattern table itself was written against all
    dev lists; the per-list table shows a rule that helps only one list.)
    """
    lists = sorted({item.mailing_list or "?" for item in items})
    if len(lists) < 2:
        raise ValueError("leave-one-list-out needs items from two or more lists (the 'list' field)")
    evidence = item_evidence(items)
    vectors = [evidence_features(found)[1] for found in evidence]
    per_list = {name: Metrics() for name in lists}
    shipped = Metrics()
    for item, found in zip(items, evidence):
        predicted = [label for label, score in _predict(found, WEIGHTS).items() if score >= THRESHOLD]
        per_list[item.mailing_list or "?"].add(item.labels or [], predicted)
        shipped.add(item.labels or [], predicted)
    held_out, held_out_per_list, predictions = Metrics(), {}, []
    for name in lists:
        train = [(v, item.labels or []) for item, v in zip(items, vectors) if (item.mailing_list or "?") != name]
        weights = fit_weights([v for v, _ in train], [gold for _, gold in train])
        metrics = Metrics()
        for item, found in zip(items, evidence):
            if (item.mailing_list or "?") != name:
                continue
            prediction = Prediction(item, _predict(found, weights))
            predictions.append(prediction)
            metrics.add(item.labels or [], prediction.labels)
            held_out.add(item.labels or [], prediction.labels)
        held_out_per_list[name] = metrics
    return GeneralisationReport(per_list, shipped, held_out, held_out_per_list, predictions)


def reliability(predictions: list[Prediction]) -> list[tuple[float, float, int, float, float]]:
    """(low, high, count, mean score, fraction right) per score bin, over every label of every item."""
    rows = []
    for low, high in zip(RELIABILITY_BINS, RELIABILITY_BINS[1:]):
        scores, right = [], 0
        for prediction in predictions:
            for label in LABELS:
                score = prediction.scores[label]
                if low <= score < high:
                    scores.append(score)
                    right += label in (prediction.item.labels or [])
        if scores:
            rows.append((low, min(high, 1.0), len(scores), sum(scores) / len(scores), right / len(scores)))
    return rows


def format_generalisation(report: GeneralisationReport) -> str:
    """The per-list table, the leave-one-list-out scores and the reliability table."""
    lines = ["per list, shipped weights (in-sample for the weights):",
             f"  {'list':<42} {'items':>5}  {'macro-F1':>8}  " + "  ".join(f"{l[:4]} P/R" for l in LABELS)]
    for name, metrics in report.per_list.items():
        cells = "  ".join(f"{metrics.per_label[l].precision:.2f}/{metrics.per_label[l].recall:.2f}" for l in LABELS)
        lines.append(f"  {name:<42} {metrics.items:5d}  {metrics.macro_f1:8.3f}  {cells}")
    lines.append("")
    lines += format_metrics("all lists, shipped weights (in-sample)", report.shipped)
    lines.append("")
    lines += format_metrics("leave-one-list-out (weights refitted without the held-out list)", report.held_out)
    lines.append("  held-out list macro-F1: " + ", ".join(
        f"{name.split('@')[0]} {metrics.macro_f1:.2f}" for name, metrics in report.held_out_per_list.items()))
    lines.append("")
    lines.append("reliability of held-out scores (every label of every item):")
    lines.append(f"  {'score':<11} {'count':>5} {'mean score':>10} {'right':>6}")
    for low, high, count, mean, right in reliability(report.predictions):
        lines.append(f"  {low:.1f}-{high:.1f}    {count:5d} {mean:10.2f} {right:6.2f}")
    return "\n".join(lines)
