"""Tag messages and threads with concurrency-bug patterns (deadlock, race, ordering) + evidence.

The knowledge is the pattern table in ``patterns.py``; ``scan.py`` finds matches fast and
``score.py`` turns them into labels.  Spec: ../shared/taxonomy.md.
"""

from miner.classify.patterns import LABELS
from miner.classify.score import Evidence, Result, classify_message, classify_thread

CLASSIFIER_VERSION = "rules-2"

__all__ = [
    "CLASSIFIER_VERSION",
    "LABELS",
    "Evidence",
    "Result",
    "classify_message",
    "classify_thread",
]
