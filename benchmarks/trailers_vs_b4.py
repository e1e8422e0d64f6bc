"""Trailer lines of every patch mail of the btrfs epoch: b4's parser against ours.

A patch mail is one b4 would apply: not a reply, and its body carries a diff. b4 reads its
trailers with ``LoreMessage.get_body_parts`` (the last paragraph above the ``---`` line); miner
with :func:`miner.trailers.find_trailers` through :func:`miner.parse.parse_message`. A trailer is
compared as (lower-case name, address) for people and (lower-case name, value) for the rest.

    python benchmarks/trailers_vs_b4.py [--limit N] [--examples N]

Prints lines both find, lines only b4 finds and lines only miner finds, with examples of each.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from b4_reference import Agreement, compare_message  # noqa: E402  (tests/b4_reference.py)


def epoch_messages(repo: Path, limit: int | None):
    """Raw bytes of each message of a bare epoch repository, oldest first."""
    commits = subprocess.run(["git", f"--git-dir={repo}", "rev-list", "--reverse", "HEAD"],
                             capture_output=True, check=True, text=True).stdout.split()
    if limit:
        commits = commits[:limit]
    batch = subprocess.Popen(["git", f"--git-dir={repo}", "cat-file", "--batch"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE)
    for commit in commits:
        batch.stdin.write(f"{commit}:m\n".encode())
        batch.stdin.flush()
        header = batch.stdout.readline().split()
        if len(header) < 3 or header[1] == b"missing":
            continue
        data = batch.stdout.read(int(header[2]))
        batch.stdout.read(1)
        yield commit, data
    batch.stdin.close()
    batch.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="only the first N messages")
    parser.add_argument("--examples", type=int, default=8, help="examples shown per kind of difference")
    parser.add_argument("--repo", type=Path, help="a bare epoch repository (default: the shared btrfs bundle)")
    args = parser.parse_args()
    if args.repo:
        repo = args.repo
    else:
        from _common import bulk_epoch

        repo = bulk_epoch()
    total = Agreement()
    names_only_b4: Counter = Counter()
    names_only_miner: Counter = Counter()
    for commit, raw in epoch_messages(repo, args.limit):
        result = compare_message(raw)
        if result is None:
            continue
        total.add(result, commit, args.examples)
        names_only_b4.update(name for name, _ in result.only_b4)
        names_only_miner.update(name for name, _ in result.only_miner)
    print(total.report())
    print("only b4, by name:", ", ".join(f"{n} {c}" for n, c in names_only_b4.most_common(12)))
    print("only miner, by name:", ", ".join(f"{n} {c}" for n, c in names_only_miner.most_common(12)))


if __name__ == "__main__":
    main()
