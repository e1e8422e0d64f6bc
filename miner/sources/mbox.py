"""mbox files (mboxrd as public-inbox writes them, and mboxo), plain or gzip-compressed."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path

from miner.errors import MinerError
from miner.model import Provenance, RawMail

FROM_LINE = re.compile(rb"^From \S+ .*\d\d:\d\d")
QUOTED_FROM = re.compile(rb"^>(>*From )")


def looks_like_mbox(head: bytes) -> bool:
    """True if ``head`` opens with an mbox ``From `` separator line (or is gzip data)."""
    return head.startswith(b"\x1f\x8b") or bool(FROM_LINE.match(head.split(b"\n", 1)[0]))


def _open(path: Path):
    with open(path, "rb") as probe:
        magic = probe.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def read_mbox(path: Path) -> Iterator[RawMail]:
    """Yield each message of an mbox, with mboxrd ``>From`` quoting undone."""
    try:
        with _open(path) as handle:
            yield from split_mbox(handle, str(path))
    except (OSError, EOFError) as error:
        raise MinerError(f"{path}: cannot read mbox ({error})") from error


def split_mbox(lines, location: str, source_type: str = "mbox") -> Iterator[RawMail]:
    """Split an iterable of byte lines into messages; position is the message's byte offset."""
    current: list[bytes] = []
    offset = start = 0
    previous_blank = True
    seen_separator = False
    for line in lines:
        length = len(line)
        if line.startswith(b"From ") and previous_blank and FROM_LINE.match(line):
            if current or seen_separator:
                yield _finish(current, location, start, source_type)
            current = []
            start = offset
            seen_separator = True
        else:
            if line.startswith(b">") and QUOTED_FROM.match(line):
                line = line[1:]
            current.append(line)
        offset += length
        previous_blank = line in (b"\n", b"\r\n")
    if current:
        yield _finish(current, location, start, source_type)


def _finish(lines: list[bytes], location: str, start: int, source_type: str) -> RawMail:
    # the separator's blank line belongs to the mbox, not to the message
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines = lines[:-1]
    return RawMail(b"".join(lines), Provenance(source_type, location, str(start)))
