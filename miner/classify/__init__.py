"""Tag messages and threads with concurrency-bug patterns (deadlock, race, ordering) + evidence.

The knowledge is the pattern table in ``patterns.py``; ``scan.py`` finds matches fast and
``score.py`` turns them into labels.  Spec: ../shared/taxonomy.md.
"""

import hashlib

from miner.classify import patterns, score
from miner.classify.patterns import LABELS
from miner.classify.score import Evidence, Result, classify_message, classify_thread

RULES_RELEASE = "rules-3"


def _rules_digest() -> str:
    """A digest of the pattern table and the scoring constants: any change to them changes it."""
    constants = {name: getattr(module, name) for module in (patterns, score) for name in dir(module)
                 if name.isupper() and isinstance(getattr(module, name), (int, float, str, tuple))}
    return hashlib.sha256(repr(sorted(constants.items())).encode()).hexdigest()[:8]


# Stored with every label: a re-run with other rules re-tags everything (miner classify).
CLASSIFIER_VERSION = f"{RULES_RELEASE}+{_rules_digest()}"

__all__ = [
    "CLASSIFIER_VERSION",
    "LABELS",
    "Evidence",
    "Result",
    "classify_message",
    "classify_thread",
]
