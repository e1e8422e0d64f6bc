"""Fuzz ingest: 20,000 mutated real messages through `miner ingest`, every one accounted for.

    python benchmarks/fuzz.py [--messages 20000] [--seed 2026]

The messages are the first ones of the linux-btrfs epoch (`../shared/corpus/bulk`), each mutated by
one family of the faults the reliability campaign found (8-bit IDs, "<" inside IDs, From_ lines
without a time or a blank line before them, separator-shaped body lines, CR-only and CRLF mail,
hundreds of thousands of encoded words, thousands of References, reply cycles, truncation, byte
flips, NUL bytes, garbage, empty messages, absurd dates, bad charsets, broken MIME, missing
blank line after the headers, duplicates, and one message over the size limit), written into
one mbox with a fixed seed. The ingest runs as a user runs it (the console command, default
workers); then:

- no traceback on stderr and exit 0;
- 0 unaccounted messages: every message written is read, and each read message is new,
  updated, unchanged or rejected;
- every stored message has its raw bytes; `PRAGMA integrity_check` and `foreign_key_check` clean;
- the rate (msg/s) is printed; goal: at least 500 msg/s.
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import bulk_epoch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from miner.export.writers import mboxrd_entry  # noqa: E402
from miner.textstore import register_text_functions  # noqa: E402
from miner.limits import MAX_MESSAGE_BYTES  # noqa: E402
from miner.sources.publicinbox import read_epoch  # noqa: E402

GOAL = 500
HEADER = re.compile(rb"^[\x21-\x39\x3b-\x7e]+:")
ID_HEADER = re.compile(rb"^(Message-ID|In-Reply-To|References|List-Id):[ \t]*(.*)$", re.IGNORECASE | re.MULTILINE)


def split(raw: bytes) -> tuple[bytes, bytes]:
    head, _, body = raw.partition(b"\n\n")
    return head, body


def set_header(raw: bytes, name: bytes, value: bytes) -> bytes:
    head, body = split(raw)
    lines = [line for line in head.split(b"\n") if not line.lower().startswith(name.lower() + b":")]
    return b"\n".join([*lines, name + b": " + value]) + b"\n\n" + body


def message_id(raw: bytes) -> bytes:
    match = re.search(rb"^Message-ID:\s*<([^>]+)>", raw, re.IGNORECASE | re.MULTILINE)
    return match.group(1) if match else b"none@fuzz"


def in_id_headers(raw: bytes, mutate) -> bytes:
    head, body = split(raw)
    return ID_HEADER.sub(lambda m: m.group(1) + b": " + mutate(m.group(2)), head) + b"\n\n" + body


# Each family takes (rng, raw) and returns the list of messages to write in its place.
def id_latin1(rng, raw):
    return [in_id_headers(raw, lambda v: v.replace(b"@", b"\xe9\xff@", 1))]


def id_utf8(rng, raw):
    return [in_id_headers(raw, lambda v: v.replace(b"@", "é‹".encode() + b"@", 1))]


def id_angle(rng, raw):
    return [set_header(raw, b"Message-ID", b'<"' + message_id(raw) + b'<x"@fuzz>')]


def cr_only(rng, raw):
    return [raw.replace(b"\n", b"\r")]


def crlf(rng, raw):
    return [raw.replace(b"\n", b"\r\n")]


def encoded_subject(rng, raw):
    count = 262000 if rng.extreme else rng.choice((10, 100, 2000))
    return [set_header(raw, b"Subject", b" ".join([b"=?utf-8?q?w=C3=B6rd?="] * count))]


def many_references(rng, raw):
    count = 20000 if rng.extreme else rng.choice((300, 1000, 5000))
    own = message_id(raw)
    return [set_header(raw, b"References", b" ".join(b"<r%d.%s>" % (i, own) for i in range(count)))]


def reply_cycle(rng, raw):
    own = message_id(raw)
    first = set_header(set_header(raw, b"Message-ID", b"<a." + own + b">"), b"In-Reply-To", b"<b." + own + b">")
    second = set_header(set_header(raw, b"Message-ID", b"<b." + own + b">"), b"In-Reply-To", b"<a." + own + b">")
    return [first, second]


def truncate(rng, raw):
    return [raw[:rng.randrange(1, max(2, len(raw)))]]


def byte_flips(rng, raw):
    head, body = split(raw)
    data = bytearray(head)
    for _ in range(rng.randrange(1, 20)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return [bytes(data) + b"\n\n" + body]


def nul_bytes(rng, raw):
    position = rng.randrange(len(raw))
    return [raw[:position] + b"\0" * rng.randrange(1, 100) + raw[position:]]


def garbage(rng, raw):
    return [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4000)))]


def empty(rng, raw):
    return [b""]


def absurd_date(rng, raw):
    return [set_header(raw, b"Date", rng.choice((b"Mon, 1 Jan 99999 00:00:00 +0000", b"-1", b"Fri, 31 Feb 2024 25:61:61 +9999",
                                                b"1e400", b"\xff\xfe")))]


def bad_charset(rng, raw):
    return [set_header(raw, b"Content-Type", rng.choice((b"text/plain; charset=\"utf\0-8\"", b"text/plain; charset=nope-42",
                                                        b"text", b"text/plain; charset=")))]


def broken_mime(rng, raw):
    head, body = split(raw)
    boundary = rng.choice((b"", b"b1", b"x" * 5000))
    mime = set_header(raw, b"Content-Type", b'multipart/mixed; boundary="' + boundary + b'"')
    nested = b"".join(b"--b1\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n" for _ in range(50))
    return [split(mime)[0] + b"\n\n" + nested + body]


def no_blank_after_headers(rng, raw):
    head, body = split(raw)
    return [head + b"\n" + body]


def separator_in_body(rng, raw):
    head, body = split(raw)
    return [head + b"\n\nThe log says:\nFrom a@b Mon Jan 1 2024\nand then it stopped.\n" + body]


def duplicate(rng, raw):
    return [raw, raw]


def unchanged(rng, raw):
    return [raw]


FAMILIES = (id_latin1, id_utf8, id_angle, cr_only, crlf, encoded_subject, many_references, reply_cycle, truncate,
            byte_flips, nul_bytes, garbage, empty, absurd_date, bad_charset, broken_mime, no_blank_after_headers,
            separator_in_body, duplicate, unchanged)
# how each message is separated from the previous one in the mbox
SEPARATORS = (b"From mboxrd@z Thu Jan  1 00:00:00 1970\n", b"From a@b Mon Jan 1 2024\n",
              b"From a@b Mon Jan  1 12:00:00 2024 remote from host\n", b"From - Fri Jan 01 00:00:00 2021\n")


def write_fuzz_mbox(path: Path, count: int, seed: int) -> tuple[int, dict[str, int]]:
    """Write ``count`` real messages, each mutated, to ``path``; returns (messages written, per family)."""
    rng = random.Random(seed)
    originals = read_epoch(bulk_epoch())
    written = 0
    families: dict[str, int] = {}
    with open(path, "wb") as handle:
        previous_ends_blank = True
        for index in range(count):
            raw = next(originals).raw
            # each family once at its worst (a 262k-word subject, 20k References), then at random
            rng.extreme = index < len(FAMILIES)
            family = FAMILIES[index] if rng.extreme else rng.choice(FAMILIES)
            for mutated in family(rng, raw):
                entry = mboxrd_entry(mutated)[len(b"From mboxrd@z Thu Jan  1 00:00:00 1970\n"):]
                separator = rng.choice(SEPARATORS)
                # no blank line before the separator, where a header line follows it
                if written and previous_ends_blank and HEADER.match(entry) and rng.random() < 0.1:
                    handle.seek(-1, 1)
                handle.write(separator + entry)
                previous_ends_blank = True
                written += 1
                families[family.__name__] = families.get(family.__name__, 0) + 1
        # one message over the size limit, read past in bounded pieces
        handle.write(SEPARATORS[0] + b"Message-ID: <huge@fuzz>\nSubject: huge\n\n")
        line = b"x" * 1023 + b"\n"
        for _ in range(MAX_MESSAGE_BYTES // len(line) + 16):
            handle.write(line)
        handle.write(b"\n")
        written += 1
        families["over_size_limit"] = 1
    return written, families


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    miner = Path(sys.executable).parent / "miner"
    with tempfile.TemporaryDirectory() as tmp:
        mbox = Path(tmp) / "fuzz.mbox"
        written, families = write_fuzz_mbox(mbox, args.messages, args.seed)
        print(f"fuzz: {written} messages written ({mbox.stat().st_size / 1e6:.0f} MB, seed {args.seed}) in"
              f" {len(families)} families: " + ", ".join(f"{k} {v}" for k, v in sorted(families.items())))
        db = Path(tmp) / "fuzz.db"
        started = time.monotonic()
        result = subprocess.run([str(miner) if miner.exists() else "miner", "ingest", "--quiet", "--db", str(db),
                                 str(mbox)], capture_output=True, text=True)
        wall = time.monotonic() - started
        summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
        print(summary)
        tracebacks = result.stderr.count("Traceback")
        numbers = dict((key, int(value)) for value, key in
                       re.findall(r"(\d+) (read|new|repeated|updated|unchanged|rejected)", summary.replace("messages read", "read")))
        with sqlite3.connect(db) as conn:
            register_text_functions(conn)  # integrity_check computes the virtual columns body and prose
            integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
            foreign = conn.execute("PRAGMA foreign_key_check").fetchall()
            missing_raw = conn.execute("SELECT count(*) FROM messages m WHERE ghost=0 AND NOT EXISTS"
                                       " (SELECT 1 FROM raw_messages r WHERE r.message_id=m.message_id)").fetchone()[0]
            stored = conn.execute("SELECT count(*) FROM messages WHERE ghost=0").fetchone()[0]
            rejects = conn.execute("SELECT count(*) FROM rejects").fetchone()[0]
    accounted = sum(numbers.get(key, 0) for key in ("new", "repeated", "updated", "unchanged", "rejected"))
    unaccounted = abs(written - numbers.get("read", 0)) + abs(numbers.get("read", 0) - accounted)
    rate = numbers.get("read", 0) / wall if wall else 0
    print(f"exit {result.returncode}; {tracebacks} tracebacks; {unaccounted} unaccounted"
          f" ({written} written, {numbers.get('read', 0)} read, {accounted} new+updated+unchanged+rejected);"
          f" {stored} stored, {rejects} rejects; integrity {integrity}; {len(foreign)} foreign-key problems;"
          f" {missing_raw} messages without raw bytes; {rate:,.0f} msg/s (wall clock {wall:.1f} s)")
    ok = (result.returncode == 0 and tracebacks == 0 and unaccounted == 0 and integrity == "ok" and not foreign
          and missing_raw == 0 and rate >= GOAL)
    if not ok and result.stderr:
        print("stderr (last lines):\n" + "\n".join(result.stderr.strip().splitlines()[-5:]))
    print(f"RESULT: {'PASS' if ok else 'FAIL'} (goal: 0 tracebacks, 0 unaccounted, clean checks, >= {GOAL} msg/s)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
