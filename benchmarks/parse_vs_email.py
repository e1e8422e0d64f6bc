"""miner's parser against Python's `email` package, field by field, on real mail.

    python benchmarks/parse_vs_email.py [--limit 6000]

Reads every mail of `../shared/corpus/mail` and the first ``--limit`` messages of the btrfs epoch,
parses each with `miner.parse.parse_message` and with `email.message_from_bytes` (default policy),
and prints per field how many agree, with the first differences. Fields: Message-ID,
In-Reply-To, References, Subject, From address, Date (UTC) and the text of the text/plain parts.
Known, deliberate differences are counted apart (IDs that public-inbox's rules read differently:
a second Message-ID, prompt answers and addresses in In-Reply-To, RFC 2047 words in References).
"""

from __future__ import annotations

import argparse
import email
import email.policy
import email.utils
import itertools
import re
import sys
from collections import Counter
from datetime import timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, bulk_epoch  # noqa: E402

sys.path.insert(0, str(ROOT))
from miner.parse import ParseError, parse_message  # noqa: E402
from miner.sources import read_path  # noqa: E402
from miner.sources.publicinbox import read_epoch  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "mail"
ID = re.compile(r"<([^>]+)>")


def reference_fields(raw: bytes) -> dict:
    """What Python's email reads (default policy), normalised as miner stores it."""
    message = email.message_from_bytes(raw, policy=email.policy.default)

    def header(name):
        try:
            value = message.get(name)
        except Exception:  # a header the policy cannot parse
            return None
        return None if value is None else str(value)

    def ids(name):
        value = header(name) or ""
        return ["".join(found.split()) for found in ID.findall(value)]

    date = None
    try:
        parsed = email.utils.parsedate_to_datetime(header("Date")) if header("Date") else None
        if parsed is not None:
            parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
            date = parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError, IndexError, OverflowError):
        pass
    addresses = email.utils.getaddresses([header("From") or ""])
    text = []
    for part in message.walk():
        if part.get_content_type() == "text/plain" and not part.is_multipart():
            try:
                text.append(part.get_content())
            except Exception:
                payload = part.get_payload(decode=True) or b""
                text.append(payload.decode("utf-8", "replace"))
    return {
        "message_id": (ids("Message-ID") or [None])[0],
        "in_reply_to": (ids("In-Reply-To") or [None])[0],
        "references": ids("References"),
        "subject": " ".join((header("Subject") or "").split()),
        "from_email": (addresses[0][1].lower() if addresses and addresses[0][1] else None),
        "date": date,
        "text": "\n".join(text).replace("\r\n", "\n"),
    }


def miner_fields(raw: bytes) -> dict:
    message = parse_message(raw)
    return {
        "message_id": None if message.message_id_synthetic else message.message_id,
        "in_reply_to": message.in_reply_to,
        "references": message.references,
        "subject": message.subject,
        "from_email": message.from_email,
        "date": None if message.date_flagged else message.date,
        "text": message.body,
    }


def text_agrees(ours: str, theirs: str) -> bool:
    """Bodies agree when the text/plain text is the same (miner also keeps attached patches, after it)."""
    return ours.strip() == theirs.strip() or (theirs.strip() != "" and ours.strip().startswith(theirs.strip()))


def compare(mails, label: str) -> None:
    agree: Counter = Counter()
    examples: dict[str, list] = {}
    total = rejected = 0
    for raw, where in mails:
        total += 1
        try:
            ours = miner_fields(raw)
        except ParseError:
            rejected += 1
            continue
        theirs = reference_fields(raw)
        for field in ours:
            same = text_agrees(ours[field], theirs[field]) if field == "text" else ours[field] == theirs[field]
            if field == "references" and not same:  # miner drops repeats, caps, and drops non-IDs as public-inbox does
                same = [r for r in dict.fromkeys(theirs[field]) if r in ours[field]] == ours[field]
            agree[field] += same
            if not same and len(examples.setdefault(field, [])) < 3:
                examples[field].append((where, str(ours[field])[:90], str(theirs[field])[:90]))
    print(f"{label}: {total} mails, {rejected} rejected by miner")
    for field in ("message_id", "in_reply_to", "references", "subject", "from_email", "date", "text"):
        print(f"  {field:12s} {agree[field]}/{total - rejected} agree")
        for where, ours, theirs in examples.get(field, []):
            print(f"      {where}: miner {ours!r} / email {theirs!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=6000, help="btrfs epoch messages to compare")
    args = parser.parse_args()
    corpus = ((mail.raw, str(path.relative_to(CORPUS))) for path in sorted(CORPUS.rglob("*"))
              if path.is_file() and path.suffix in (".mbox", ".mboxrd", ".eml") for mail in read_path(path))
    compare(corpus, "corpus/mail")
    epoch = ((mail.raw, mail.provenance.position[:12]) for mail in read_epoch(bulk_epoch()))
    compare(itertools.islice(epoch, args.limit), f"btrfs epoch (first {args.limit})")


if __name__ == "__main__":
    main()
