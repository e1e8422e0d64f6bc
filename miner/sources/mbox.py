"""mbox files (mboxrd as public-inbox writes them, mboxo, mboxcl), plain or gzip-compressed.

A ``From `` line starts a message when it has the shape of a separator (a sender, then a date
with or without a time, maybe ``remote from host``) and either follows a blank line or is
followed by a header line. Real archives break each rule alone (no blank line before the
separator, separators without a time), so either is enough; a separator-shaped line that meets
neither stays in the body and is noted on its message. Content-Length (mboxcl) is not needed:
mboxcl quotes body ``From `` lines as mboxo does.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from miner.errors import MinerError
from miner.limits import MAX_DECOMPRESSED_BYTES, MAX_LINE_BYTES, MAX_MESSAGE_BYTES, REJECT_KEEP_BYTES
from miner.model import Provenance, RawMail

_DAY = rb"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_MONTH = rb"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
# "From sender Thu Jan  1 00:00:00 1970", "From a@b Mon Jan 1 2024", "From a@b Sat, 3 Feb 2024 10:00:00
# +0100", "From - Fri Jan 01 00:00:00 2021", "... 1999 remote from host"
FROM_LINE = re.compile(
    rb"^From \S+\s+(?:" + _DAY + rb",?\s+)?(?:" + _MONTH + rb"\s+\d{1,2}|\d{1,2}\s+" + _MONTH + rb")\s+"
    rb"(?:\d{4}\s+\d{1,2}:\d\d(?::\d\d)?|(?:\d{1,2}:\d\d(?::\d\d)?\s+)?(?:[A-Z]{2,5}\s+|[+-]\d{4}\s+)?\d{4})"
    rb"(?:\s+[+-]\d{4}|\s+\([^)]*\)|\s+[A-Z]{2,5})*(?:\s+remote from \S+)?\s*$"
)
QUOTED_FROM = re.compile(rb"^>(>*From )")
HEADER_LINE = re.compile(rb"^[\x21-\x39\x3b-\x7e]+:")
BLANK = (b"\n", b"\r\n", b"\r")


def looks_like_mbox(head: bytes) -> bool:
    """True if ``head`` opens with an mbox ``From `` separator line (or is gzip data)."""
    return head.startswith(b"\x1f\x8b") or bool(FROM_LINE.match(head.split(b"\n", 1)[0]))


class _BoundedGzip:
    """A gzip file that ends after MAX_DECOMPRESSED_BYTES (a bomb stops there), saying so in ``problem``."""

    def __init__(self, path: Path):
        self.handle = gzip.open(path, "rb")
        self.path = path
        self.total = 0
        self.problem: str | None = None

    def readline(self, limit: int) -> bytes:
        if self.problem:
            return b""
        line = self.handle.readline(limit)
        self.total += len(line)
        if self.total > MAX_DECOMPRESSED_BYTES:
            self.problem = (f"{self.path}: decompresses to more than {MAX_DECOMPRESSED_BYTES} bytes;"
                            " the rest is not read")
            return b""
        return line

    def close(self) -> None:
        self.handle.close()

    def raw_position(self) -> int:
        """Bytes of the compressed file read so far."""
        return self.handle.fileobj.tell() if self.handle.fileobj is not None else 0


def _open(path: Path):
    with open(path, "rb") as probe:
        magic = probe.read(2)
    return _BoundedGzip(path) if magic == b"\x1f\x8b" else open(path, "rb")


def bounded_lines(handle) -> Iterator[bytes]:
    """Lines of a binary file, a line longer than MAX_LINE_BYTES coming in pieces."""
    return iter(lambda: handle.readline(MAX_LINE_BYTES), b"")


def read_mbox(path: Path) -> Iterator[RawMail]:
    """Yield each message of an mbox, with mboxrd ``>From`` quoting undone."""
    return MboxFile(path).messages()


class MboxFile:
    """One mbox file: its size, its messages, and how far into the file each message ends (bytes of the file as
    stored: a .gz counts compressed bytes), so a progress bar in bytes follows the messages as they are stored."""

    def __init__(self, path: Path):
        self.path = path
        self.size = path.stat().st_size
        self._ends: dict[str | None, int] = {}  # position of a message read -> bytes of the file read by then
        self._last = 0

    def bytes_read(self, position: str | None) -> int:
        """Bytes of the file read up to the message at ``position`` (asked once per message, in order)."""
        self._last = max(self._last, self._ends.pop(position, self._last))
        return self._last

    def messages(self) -> Iterator[RawMail]:
        """Each message of the file, with mboxrd ``>From`` quoting undone."""
        path = self.path
        handle = None
        try:
            handle = _open(path)
            where = handle.raw_position if isinstance(handle, _BoundedGzip) else handle.tell
            for mail in split_mbox(bounded_lines(handle), str(path)):
                self._ends[mail.provenance.position] = min(where(), self.size)
                yield mail
            problem = getattr(handle, "problem", None)
            if problem:
                yield RawMail(b"", Provenance("mbox", str(path), f"after {MAX_DECOMPRESSED_BYTES}"), problem=problem)
            self._ends[None] = self.size  # the end of the file: what an item without a position stands for
        except (OSError, EOFError, zlib.error) as error:
            raise MinerError(f"{path}: cannot read mbox ({error})") from error
        finally:
            if handle is not None:
                handle.close()


def split_mbox(lines: Iterable[bytes], location: str, source_type: str = "mbox") -> Iterator[RawMail]:
    """Split byte lines into messages; position is the message's byte offset.

    A message over MAX_MESSAGE_BYTES is yielded with its first bytes and a ``problem`` (the ingest
    rejects it with that reason); the rest of it is read past, never held.
    """
    message = _Builder(location, source_type, 0, separated=False)
    offset = 0
    previous_blank = True
    pending: tuple[bytes, int] | None = None  # a separator-shaped line after a non-blank line
    for line in lines:
        if pending is not None:
            if HEADER_LINE.match(line):  # a header follows: it was a separator after all
                yield message.finish()
                message = _Builder(location, source_type, pending[1])
            else:
                message.keep_separator_line(*pending)
            pending = None
        if line.startswith(b"From ") and FROM_LINE.match(line):
            if previous_blank or offset == 0:
                if message.seen or message.separated:
                    yield message.finish()
                message = _Builder(location, source_type, offset)
            else:
                pending = (line, offset)
        else:
            if line.startswith(b">") and QUOTED_FROM.match(line):
                line = line[1:]
            message.add(line)
        offset += len(line)
        previous_blank = line in BLANK
    if pending is not None:
        message.keep_separator_line(*pending)
    if message.seen:
        yield message.finish()


class _Builder:
    """The lines of one message being read, bounded by MAX_MESSAGE_BYTES."""

    def __init__(self, location: str, source_type: str, start: int, separated: bool = True):
        self.location, self.source_type, self.start, self.separated = location, source_type, start, separated
        self.lines: list[bytes] = []
        self.size = 0
        self.seen = 0
        self.notes: list[str] = []

    def add(self, line: bytes) -> None:
        self.seen += len(line)
        if self.size <= MAX_MESSAGE_BYTES:
            self.lines.append(line)
            self.size += len(line)
            if self.size > MAX_MESSAGE_BYTES:  # keep the head for the reject, drop the rest
                self.lines = [b"".join(self.lines)[:REJECT_KEEP_BYTES]]

    def keep_separator_line(self, line: bytes, offset: int) -> None:
        """A separator-shaped line that starts no message: it stays in the body, noted."""
        self.notes.append(f"mbox: a line shaped like a separator at byte {offset} kept in the body"
                          " (no blank line before it, no header after it)")
        self.add(line)

    def finish(self) -> RawMail:
        provenance = Provenance(self.source_type, self.location, str(self.start))
        if self.size > MAX_MESSAGE_BYTES:
            return RawMail(self.lines[0], provenance,
                           problem=f"message of {self.seen} bytes or more is over the limit of {MAX_MESSAGE_BYTES}")
        lines = self.lines
        # the separator's blank line belongs to the mbox, not to the message
        if lines and lines[-1] in BLANK:
            lines = lines[:-1]
        return RawMail(b"".join(lines), provenance, notes=tuple(self.notes))
