"""Measure messages/s of classify_message over real linux-btrfs mail (no database involved).

Usage: .venv/bin/python benchmarks/classify_pure.py [--limit N] [--repeat N]

The mail is the public-inbox v2 epoch of linux-btrfs (first 20k messages) in
../shared/corpus/bulk (``_common.BUNDLE``), cloned bare once into benchmarks/.work. It is read
with the shipped public-inbox reader and parser (``miner.sources.publicinbox``, ``miner.parse``),
as ``miner ingest`` reads it; then classify_message runs over every body on one core.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import bulk_epoch  # noqa: E402

from miner.classify import CLASSIFIER_VERSION, LABELS, classify_message  # noqa: E402
from miner.model import RawMail  # noqa: E402
from miner.parse import parse_message  # noqa: E402
from miner.sources.publicinbox import read_epoch  # noqa: E402


def load_messages(limit: int | None) -> list[tuple[str, str, str]]:
    """(message_id, subject, body) of the epoch's messages (the first ``limit``), parsed as ingest parses them."""
    mails = (item for item in read_epoch(bulk_epoch()) if isinstance(item, RawMail))
    messages = []
    for mail in itertools.islice(mails, limit):
        message = parse_message(mail.raw)
        messages.append((message.message_id, message.subject, message.body))
    return messages


def main() -> None:
    """Load the bodies, classify each, print the rate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N messages")
    parser.add_argument("--repeat", type=int, default=1, help="classify the set N times")
    args = parser.parse_args()

    started = time.perf_counter()
    messages = load_messages(args.limit)
    loaded = time.perf_counter() - started
    mean_body = sum(len(text) for _, _, text in messages) / max(1, len(messages))
    print(f"loaded {len(messages)} messages in {loaded:.1f}s, mean body {mean_body / 1000:.1f} kB")

    counts = dict.fromkeys(LABELS, 0)
    started = time.perf_counter()
    for _ in range(args.repeat):
        for message_id, subject, text in messages:
            for label in classify_message(subject, text, message_id).labels:
                counts[label] += 1
    elapsed = time.perf_counter() - started
    total = len(messages) * args.repeat
    print(f"classifier {CLASSIFIER_VERSION}: {total} messages in {elapsed:.2f}s "
          f"= {total / elapsed:,.0f} messages/s (one core)")
    print("labelled per pass: " + ", ".join(f"{k} {v // args.repeat}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
