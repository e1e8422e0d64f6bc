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
from collections.abc import Callable, Iterable, Iterator
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


def _open(path: Path):
    """The file, or its content when it is gzip data."""
    with open(path, "rb") as probe:
        magic = probe.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


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
            compressed = isinstance(handle, gzip.GzipFile)
            # a bomb stops after MAX_DECOMPRESSED_BYTES
            splitter = _Splitter(str(path), "mbox", limit=MAX_DECOMPRESSED_BYTES if compressed else None)
            # read1: data as soon as there is some, so a truncated .gz gives what it holds before its error
            for mail in splitter.split_chunks(handle.read1):
                # plain: the end of the line that ended the message (what a file read line by line tells)
                read = handle.fileobj.tell() if compressed else splitter.read
                self._ends[mail.provenance.position] = min(read, self.size)
                yield mail
            if splitter.limited:
                yield RawMail(b"", Provenance("mbox", str(path), f"after {MAX_DECOMPRESSED_BYTES}"),
                              problem=f"{path}: decompresses to more than {MAX_DECOMPRESSED_BYTES} bytes;"
                                      " the rest is not read")
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
    splitter = _Splitter(location, source_type)
    for line in lines:
        mail = splitter.line(line)
        if mail is not None:
            yield mail
    mail = splitter.end()
    if mail is not None:
        yield mail


CHUNK_BYTES = 1 << 20  # what a file is read in
# Where a line may start a message or need unquoting: at a newline, "From " or ">...>From " (the
# first line of a chunk is looked at on its own). Every other line only goes into the message.
CANDIDATE = re.compile(rb"\n>*From ")


class _Splitter:
    """The separator rules of the module docstring, fed one line at a time (:meth:`line`) or a file's chunks.

    A file is read as ``readline(MAX_LINE_BYTES)`` would read it, lines longer than that coming in
    pieces, but only the lines a regex finds as candidates (and the line after a separator-shaped
    one) are looked at one by one; the runs of lines between them go into the message whole.
    """

    def __init__(self, location: str, source_type: str, limit: int | None = None):
        self.location, self.source_type = location, source_type
        self.limit = limit  # bytes of lines read at most: the line past it ends the reading
        self.limited = False  # that line came
        self.message = _Builder(location, source_type, 0, separated=False)
        self.offset = 0  # of the line read next, in the bytes of the mail (">From" unquoted)
        self.read = 0  # bytes of the file read so far
        self.previous_blank = True
        self.pending: tuple[bytes, int] | None = None  # a separator-shaped line after a non-blank line

    def line(self, line: bytes) -> RawMail | None:
        """Take one line (or piece of a long line); the message it ends, if it ends one."""
        if self.limit is not None and self.read + len(line) > self.limit:
            raise _LimitReached
        done = None
        self.read += len(line)
        if self.pending is not None:
            if HEADER_LINE.match(line):  # a header follows: it was a separator after all
                done = self.message.finish()
                self.message = _Builder(self.location, self.source_type, self.pending[1])
            else:
                self.message.keep_separator_line(*self.pending)
            self.pending = None
        if line.startswith(b"From ") and FROM_LINE.match(line):
            if self.previous_blank or self.offset == 0:
                if self.message.seen or self.message.separated:
                    done = self.message.finish()
                self.message = _Builder(self.location, self.source_type, self.offset)
            else:
                self.pending = (line, self.offset)
        else:
            if line.startswith(b">") and QUOTED_FROM.match(line):
                line = line[1:]
            self.message.add(line)
        self.offset += len(line)
        self.previous_blank = line in BLANK
        return done

    def end(self) -> RawMail | None:
        """The last message, once every line is read."""
        if self.pending is not None:
            self.message.keep_separator_line(*self.pending)
            self.pending = None
        return self.message.finish() if self.message.seen else None

    def split_chunks(self, read: Callable[[int], bytes]) -> Iterator[RawMail]:
        """The messages of a file whose ``read(size)`` gives its next bytes (b"" at its end)."""
        carry = b""  # a line not ended yet; it starts where a readline would start
        try:
            while chunk := read(CHUNK_BYTES):
                data = carry + chunk if carry else chunk
                whole = data.rfind(b"\n") + 1
                yield from self._lines(data[:whole] if whole < len(data) else data)
                carry = data[whole:]
                while len(carry) >= MAX_LINE_BYTES:  # a line this long comes in pieces
                    yield from self._units(carry[:MAX_LINE_BYTES])
                    carry = carry[MAX_LINE_BYTES:]
            if carry:
                yield from self._units(carry)
        except _LimitReached:
            self.limited = True
        mail = self.end()
        if mail is not None:
            yield mail

    def _lines(self, data: bytes) -> Iterator[RawMail]:
        """The messages ended by whole lines ``data`` (all end with a newline but maybe the file's last)."""
        position = 0
        if data.startswith((b"From ", b">")):  # a candidate at the start: looked at on its own
            position = _line_end(data, 0)
            yield from self._units(data[:position])
        for match in CANDIDATE.finditer(data, max(position - 1, 0)):
            start = match.start() + 1
            if start > position:
                yield from self._run(data[position:start])
            position = _line_end(data, start)
            yield from self._units(data[start:position])
        if position < len(data):
            yield from self._run(data[position:])

    def _run(self, run: bytes) -> Iterator[RawMail]:
        """Lines without a candidate: into the message whole, unless a line needs looking at."""
        if self.pending is not None:  # the line after a separator-shaped one decides it
            first = _line_end(run, 0)
            yield from self._units(run[:first])
            run = run[first:]
            if not run:
                return
        if (len(run) > MAX_LINE_BYTES and max(map(len, run.split(b"\n"))) >= MAX_LINE_BYTES - 1) or (
                self.limit is not None and self.read + len(run) > self.limit):
            yield from self._units(run)  # a line in pieces, or the limit inside: one line at a time
            return
        last_line = run[run.rfind(b"\n", 0, len(run) - 1) + 1:]
        self.message.add(run, last_line)
        self.read += len(run)
        self.offset += len(run)
        self.previous_blank = last_line in BLANK

    def _units(self, data: bytes) -> Iterator[RawMail]:
        """Each line (or piece of a long line) of ``data`` through :meth:`line`."""
        position = 0
        while position < len(data):
            end = data.find(b"\n", position, position + MAX_LINE_BYTES)
            end = end + 1 if end >= 0 else min(len(data), position + MAX_LINE_BYTES)
            mail = self.line(data[position:end])
            if mail is not None:
                yield mail
            position = end


class _LimitReached(Exception):
    """The next line would take a reader past its limit."""


def _line_end(data: bytes, start: int) -> int:
    """Where the line from ``start`` ends: after its newline, or at the end of ``data``."""
    return data.find(b"\n", start) + 1 or len(data)


class _Builder:
    """The lines of one message being read, bounded by MAX_MESSAGE_BYTES."""

    def __init__(self, location: str, source_type: str, start: int, separated: bool = True):
        self.location, self.source_type, self.start, self.separated = location, source_type, start, separated
        self.lines: list[bytes] = []
        self.size = 0
        self.seen = 0
        self.last_line: bytes | None = None
        self.notes: list[str] = []

    def add(self, data: bytes, last_line: bytes | None = None) -> None:
        """Add a line, or several (``last_line`` then names the last)."""
        self.seen += len(data)
        self.last_line = data if last_line is None else last_line
        if self.size <= MAX_MESSAGE_BYTES:
            self.lines.append(data)
            self.size += len(data)
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
        raw = b"".join(self.lines)
        # the separator's blank line belongs to the mbox, not to the message
        if self.last_line in BLANK:
            raw = raw[:-len(self.last_line)]
        return RawMail(raw, provenance, notes=tuple(self.notes))
