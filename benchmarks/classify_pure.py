"""Measure messages/s of classify_message over real linux-btrfs mail (no database involved).

Usage: .venv/bin/python benchmarks/classify_pure.py [--bundle PATH] [--limit N] [--repeat N]

The bundle is the public-inbox v2 epoch of linux-btrfs (first 20k messages) shipped in
../shared/corpus/bulk. It is cloned bare into a temporary directory, every commit's blob
``m`` is read with ``git cat-file --batch`` and the text/plain body decoded with Python's
``email`` package, then classify_message runs over all bodies on one core.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from miner.classify import CLASSIFIER_VERSION, LABELS, classify_message  # noqa: E402

DEFAULT_BUNDLE = Path("/work/shared/corpus/bulk/linux-btrfs-0-first20k.bundle")


def read_bundle_blobs(bundle: Path, limit: int | None) -> list[bytes]:
    """Raw bytes of blob ``m`` for each commit in a public-inbox v2 bundle."""
    with tempfile.TemporaryDirectory(prefix="classify-bench-") as tmp:
        repo = Path(tmp) / "epoch.git"
        subprocess.run(
            ["git", "clone", "--quiet", "--bare", str(bundle), str(repo)], check=True
        )
        commits = subprocess.run(
            ["git", "-C", str(repo), "rev-list", "--all"],
            check=True, capture_output=True, text=True,
        ).stdout.split()
        if limit:
            commits = commits[:limit]
        request = "".join(f"{commit}:m\n" for commit in commits).encode()
        output = subprocess.run(
            ["git", "-C", str(repo), "cat-file", "--batch"],
            input=request, check=True, capture_output=True,
        ).stdout
    blobs: list[bytes] = []
    offset = 0
    while offset < len(output):
        header_end = output.index(b"\n", offset)
        header = output[offset:header_end].split()
        if len(header) < 3 or header[1] != b"blob":
            offset = header_end + 1
            continue
        size = int(header[2])
        blobs.append(output[header_end + 1 : header_end + 1 + size])
        offset = header_end + 1 + size + 1
    return blobs


def decode_message(raw: bytes) -> tuple[str, str, str]:
    """(message_id, subject, text/plain body) of one raw mail."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    body = message.get_body(preferencelist=("plain",))
    try:
        text = body.get_content() if body is not None else ""
    except (LookupError, ValueError):
        text = ""
    return (
        str(message.get("Message-ID", "")).strip("<> "),
        " ".join(str(message.get("Subject", "")).split()),
        text,
    )


def main() -> None:
    """Load the bodies, classify each, print the rate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--limit", type=int, default=None, help="only the first N messages")
    parser.add_argument("--repeat", type=int, default=1, help="classify the set N times")
    args = parser.parse_args()

    started = time.perf_counter()
    messages = [decode_message(raw) for raw in read_bundle_blobs(args.bundle, args.limit)]
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
