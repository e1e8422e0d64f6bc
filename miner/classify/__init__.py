"""Tag messages and threads with concurrency-bug patterns (deadlock, race, ordering) + evidence.

The knowledge is the pattern table in ``patterns.py``; ``scan.py`` finds matches fast and
``score.py`` turns them into labels.  Spec: ../shared/taxonomy.md.
"""

import hashlib
from pathlib import Path

from miner.classify.patterns import LABELS
from miner.classify.score import Evidence, Result, classify_message, classify_thread

RULES_RELEASE = "rules-4"
PACKAGE = Path(__file__).resolve().parent
# Everything that decides a label: the classifier's code and tables, and the body splitter.
RULE_SOURCES = (*sorted(PACKAGE.glob("*.py")), *sorted(PACKAGE.glob("*.tsv")), PACKAGE.parent / "body.py")


def _rules_digest() -> str:
    """A digest of every classifier source file and table: any change to them changes it."""
    digest = hashlib.sha256()
    for path in RULE_SOURCES:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:8]


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
