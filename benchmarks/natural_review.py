"""Natural-traffic review of the classifier on the real epochs of `../shared/corpus/bulk`.

    python benchmarks/natural_review.py build [--epoch btrfs]            # ingest + classify the epoch
    python benchmarks/natural_review.py sample --seed 1 [--epoch btrfs]  # draw threads to judge
    python benchmarks/natural_review.py score [--sample seed-1] [--epoch btrfs]

``--epoch`` is ``btrfs`` (20,000 linux-btrfs messages, the default), ``virtualization``
(15,000 messages of the virtualization list) or ``io-uring`` (the 854 io-uring messages of March
2021 in ``../shared/corpus/mail``), each with its own database and judgements.

A sample is 40 threads tagged with each label and 40 untagged threads whose new text mentions a
lock, race, barrier or ordering word, drawn with a fixed seed. `sample` writes one text file per
thread (its messages, no labels, no evidence) so a reviewer judges each thread by the rubric
(`taxonomy.md`) before seeing what the classifier said. The judgements live in
`tests/fixtures/labels/natural-<epoch>.jsonl`, one object per thread:
``{"root_message_id", "subject", "labels", "reason", "sample"}``. A new sample never draws a
thread judged before, so a fresh seed after a rule change is a fresh check.

`score` classifies nothing itself: it reads the labels the current rules gave in the database
(`build` again after a rule change) and prints, per label, precision over the judged threads the
rules tag, and the judged threads the rules miss.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, WORK, bulk_epoch  # noqa: E402

sys.path.insert(0, str(ROOT))
from miner.textstore import register_text_functions  # noqa: E402

LABELS = ("deadlock", "race", "ordering")
PER_LABEL = 40
UNTAGGED = 40
EPOCHS = {
    "btrfs": ROOT.parent / "shared" / "corpus" / "bulk" / "linux-btrfs-0-first20k.bundle",
    "virtualization": ROOT.parent / "shared" / "corpus" / "bulk" / "virtualization-0-first15k.bundle",
    # a third list nobody tuned on: all 854 io-uring messages of March 2021, an mboxrd
    "io-uring": ROOT.parent / "shared" / "corpus" / "mail" / "linux-mailinglist-archives.io-uring"
    / "bulk-2021-03.mboxrd",
}
DB = WORK / "natural-review.db"  # the btrfs database (its name kept from before the second epoch)
JUDGEMENTS = ROOT / "tests" / "fixtures" / "labels" / "natural-btrfs.jsonl"


def database(epoch: str) -> Path:
    """The classified database of ``epoch``."""
    return DB if epoch == "btrfs" else WORK / f"natural-review-{epoch}.db"


def judgements_file(epoch: str) -> Path:
    """The committed judgements of ``epoch``."""
    return JUDGEMENTS if epoch == "btrfs" else JUDGEMENTS.with_name(f"natural-{epoch}.jsonl")


def epoch_repository(epoch: str) -> Path:
    """A bare clone of ``epoch``'s bundle."""
    if epoch == "btrfs":
        return bulk_epoch()
    bundle = EPOCHS[epoch]
    if bundle.suffix == ".mboxrd":  # ingested as it is
        if not bundle.exists():
            sys.exit(f"benchmark: {bundle} not found (the shared corpus must sit beside the project)")
        return bundle
    if not bundle.exists():
        sys.exit(f"benchmark: {bundle} not found (the shared corpus must sit beside the project)")
    clone = WORK / bundle.name.replace(".bundle", ".git")
    if not clone.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "clone", "-q", "--bare", str(bundle), str(clone)], check=True)
    return clone
MESSAGE_CHARS = 8000  # a reviewer reads the root and the replies; a pasted 200 kB log is cut
THREAD_CHARS = 60000
# words of the untagged sample: a thread that mentions them is where a miss would hide
MENTION_WORDS = ("lock", "race", "racy", "barrier", "ordering", "reorder", "hang", "stall", "deadlock",
                 "atomic", "concurren")


def miner_command() -> str:
    """The miner console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "miner"
    return str(script) if script.exists() else "miner"


def build(epoch: str) -> None:
    """Ingest ``epoch`` into its database (if not done) and classify it with the current rules."""
    db = database(epoch)
    if not db.exists():
        subprocess.run([miner_command(), "ingest", "--quiet", "--db", str(db), str(epoch_repository(epoch))],
                       check=True)
    subprocess.run([miner_command(), "classify", "--quiet", "--db", str(db)], check=True)


def tagged_threads(conn: sqlite3.Connection) -> dict[str, tuple[int, set[str]]]:
    """root Message-ID -> (thread id, labels) for every thread with a message.

    A thread whose root is a ghost (a reply to mail older than the epoch, or to another list)
    is drawn too: the classifier tags it from the messages there are, and so does a reviewer.
    """
    rows = conn.execute(
        "SELECT t.root_message_id, t.thread_id, t.labels FROM threads t"
        " WHERE t.message_count > 0 ORDER BY t.thread_id"
    )
    return {root: (thread_id, set(json.loads(labels or "[]"))) for root, thread_id, labels in rows}


def mentions(conn: sqlite3.Connection, thread_id: int) -> bool:
    """True if any message of the thread mentions a concurrency word in its subject or new text."""
    for subject, prose in conn.execute(
            "SELECT subject, prose FROM messages WHERE thread_id=? AND ghost=0", (thread_id,)):
        text = f"{subject or ''}\n{prose or ''}".lower()
        if any(word in text for word in MENTION_WORDS):
            return True
    return False


def draw(conn: sqlite3.Connection, seed: int, exclude: set[str]) -> list[dict]:
    """The sample: PER_LABEL tagged threads per label and UNTAGGED mentioning ones, none in ``exclude``."""
    rng = random.Random(seed)
    threads = tagged_threads(conn)
    chosen: dict[str, dict] = {}
    for label in LABELS:
        pool = sorted(root for root, (_, labels) in threads.items()
                      if label in labels and root not in exclude and root not in chosen)
        for root in rng.sample(pool, min(PER_LABEL, len(pool))):
            chosen[root] = {"root_message_id": root, "drawn_as": label}
    untagged = sorted(root for root, (_, labels) in threads.items()
                      if not labels and root not in exclude and root not in chosen)
    rng.shuffle(untagged)
    count = 0
    for root in untagged:
        if count == UNTAGGED:
            break
        if mentions(conn, threads[root][0]):
            chosen[root] = {"root_message_id": root, "drawn_as": "untagged"}
            count += 1
    return list(chosen.values())


def thread_text(conn: sqlite3.Connection, root: str) -> str:
    """The thread as a reviewer reads it: every real message in date order, headers and body."""
    thread_id = conn.execute("SELECT thread_id FROM messages WHERE message_id=?", (root,)).fetchone()[0]
    parts = []
    rows = conn.execute(
        "SELECT message_id, parent_id, from_name, from_email, date, subject, body FROM messages"
        " WHERE thread_id=? AND ghost=0 ORDER BY date, rowid", (thread_id,))
    for message_id, parent_id, name, email, date, subject, body in rows:
        body = body or ""
        if len(body) > MESSAGE_CHARS:
            body = body[:MESSAGE_CHARS] + f"\n[... {len(body) - MESSAGE_CHARS} more characters cut ...]\n"
        parts.append(f"===== Message-ID: <{message_id}>\nIn-Reply-To: <{parent_id or ''}>\n"
                     f"From: {name} <{email}>\nDate: {date}\nSubject: {subject}\n\n{body}\n")
    text = "".join(parts)
    if len(text) > THREAD_CHARS:
        text = text[:THREAD_CHARS] + "\n[... rest of the thread cut ...]\n"
    return text


def load_judgements(path: Path) -> dict[str, dict]:
    """root Message-ID -> judgement."""
    if not path.exists():
        return {}
    with open(path) as handle:
        return {item["root_message_id"]: item for item in map(json.loads, filter(str.strip, handle))}


def sample(seed: int, out: Path, epoch: str = "btrfs") -> None:
    """Draw a sample (threads not judged before) and write one text file per thread for review."""
    conn = sqlite3.connect(f"file:{database(epoch)}?mode=ro", uri=True)
    register_text_functions(conn)  # messages.body and .prose are read through it
    judged = load_judgements(judgements_file(epoch))
    drawn = draw(conn, seed, set(judged))
    out.mkdir(parents=True, exist_ok=True)
    order = sorted(drawn, key=lambda item: item["root_message_id"])  # reviewers must not see drawn_as
    index = []
    for number, item in enumerate(order, 1):
        name = f"thread-{number:03d}.txt"
        (out / name).write_text(thread_text(conn, item["root_message_id"]))
        index.append({"file": name, "root_message_id": item["root_message_id"]})
    (out / "index.jsonl").write_text("".join(json.dumps(row) + "\n" for row in index))
    (out / "drawn.jsonl").write_text("".join(json.dumps(row) + "\n" for row in drawn))
    print(f"seed {seed}: {len(drawn)} threads written to {out} (index.jsonl for reviewers,"
          f" drawn.jsonl says why each was drawn: keep it from them)")


def score(sample_name: str | None, db: Path | None = None, epoch: str = "btrfs") -> None:
    """Precision of each label over judged threads the rules tag, and the judged threads they miss."""
    conn = sqlite3.connect(f"file:{db or database(epoch)}?mode=ro", uri=True)
    register_text_functions(conn)  # messages.body and .prose are read through it
    threads = tagged_threads(conn)
    judged = load_judgements(judgements_file(epoch))
    if sample_name:
        judged = {root: item for root, item in judged.items() if item.get("sample") == sample_name}
    missing = [root for root in judged if root not in threads]
    print(f"{len(judged)} judged threads{' (sample ' + sample_name + ')' if sample_name else ''};"
          f" {len(missing)} not in the database")
    for label in LABELS:
        tagged = [root for root in judged if root in threads and label in threads[root][1]]
        right = [root for root in tagged if label in judged[root]["labels"]]
        wrong = [root for root in tagged if root not in right]
        missed = [root for root in judged if root in threads and label in judged[root]["labels"]
                  and label not in threads[root][1]]
        precision = len(right) / len(tagged) if tagged else float("nan")
        print(f"{label:9s} precision {precision:.2f} ({len(right)}/{len(tagged)} tagged threads right);"
              f" {len(missed)} judged {label} threads not tagged")
        for root in wrong:
            print(f"    wrong  {root}  {judged[root].get('subject', '')[:70]}  -- {judged[root]['reason']}")
        for root in missed:
            print(f"    missed {root}  {judged[root].get('subject', '')[:70]}  -- {judged[root]['reason']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    building = commands.add_parser("build", help="ingest and classify the epoch")
    drawing = commands.add_parser("sample", help="draw threads to judge")
    drawing.add_argument("--seed", type=int, required=True)
    drawing.add_argument("--out", type=Path, default=None)
    scoring = commands.add_parser("score", help="precision and misses from the judgements")
    scoring.add_argument("--sample", help="only the judgements of this sample (e.g. seed-1)")
    scoring.add_argument("--db", type=Path, default=None,
                         help="database classified by the rules to score (default: the one `build` makes)")
    for command in (building, drawing, scoring):
        command.add_argument("--epoch", choices=sorted(EPOCHS), default="btrfs")
    args = parser.parse_args()
    if args.command == "build":
        build(args.epoch)
    elif args.command == "sample":
        sample(args.seed, args.out or WORK / f"review-{args.epoch}-seed-{args.seed}", args.epoch)
    else:
        score(args.sample, args.db, args.epoch)


if __name__ == "__main__":
    main()
