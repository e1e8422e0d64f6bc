"""How the texts of a message are kept: each once, compressed, and read back through SQL functions.

- The raw mail, byte for byte: the mails of one ingest batch are concatenated in blocks of up to
  ``BLOCK_BYTES`` and each block is one zstd frame in ``mail_blocks`` (a list's mail repeats its
  headers, and replies quote what they answer: a block takes about a quarter of its mail, a
  frame per message almost half). ``messages.raw_block/raw_offset/raw_length`` say where a
  message is; :func:`raw_bytes` reads it.
- The decoded body: when its UTF-8 bytes stand in the raw mail as they are (plain text mail, by
  far the most of a kernel list, or one text part of a MIME mail), or quoted-printable or base64
  (``body_encoding``), only where they are (``body_at``, ``body_length``); otherwise (another
  charset, several parts) it is compressed in ``body_z`` with its own raw mail as the dictionary
  (:func:`compress_against_raw`: a multipart mail's quoted-printable text is mostly the raw mail's
  own bytes), or, with no raw mail, with the dictionary of kernel mail in ``zstd_dictionaries``
  (``miner/mail.zdict``).
- The author's new prose: byte ranges of the body's UTF-8, each a run of whole lines
  (``prose_spans``, ``"0:120,514:700"``), joined by newlines and stripped as
  ``miner.body.prose_text`` does; ``prose_z`` only in the rare case the ranges cannot give it back
  exactly. Reading it slices the body's bytes: no split of the body into lines.

``messages.body`` and ``messages.prose`` are virtual columns over those, computed by the SQL
functions ``mail_body`` and ``mail_prose``: every connection that reads them needs
:func:`register_text_functions` (every connection lkml-miner opens has them).
"""

from __future__ import annotations

import binascii
import contextlib
import itertools
import sqlite3
import struct
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from importlib import resources
from typing import NamedTuple

import zstandard

# Measured on the btrfs epoch (block size, level: compressed / mail, CPU s for 20,000 messages):
# 2 MiB, 3: 0.232, 0.9 s; 4 MiB, 6: 0.206, 2.3 s; 8 MiB, 7 (8 MiB window): 0.195, 2.9 s; 8 MiB, 9: 0.190, 4.2 s;
# 8 MiB windows: level 3 0.220, 0.7 s; level 4 0.214, 0.9 s; level 5 0.208, 1.9 s. Level 3 since bodies
# not in the raw mail as they are are compressed against it (compress_against_raw: 2.9 MB less of
# body_z) and a block holds the mails of a thread together (miner.store._start_blocks: 0.6 MB less):
# the epoch's database 0.497 of its mail, as at level 7, and 2.2 CPU s less of the ingest's writer
# (in an ingest, where the parser processes share the cores: 1.3-1.5 s against 4.0 at level 7).
BLOCK_BYTES = 8 << 20  # as much as an ingest batch; a reader decompresses a whole block (about 6 ms)
BLOCK_PARAMETERS = zstandard.ZstdCompressionParameters.from_level(3, window_log=23)  # window: the block
BODY_LEVEL = 3
BLOCKS_CACHED = 5  # decompressed blocks a process keeps (40 MiB at most; its connections share them)
ENCODING_ERRORS = "surrogatepass"  # a body is a str; what it holds comes back exactly

BODY_ARGUMENTS = "raw_block, raw_offset, body_at, body_length, body_encoding, body_z"
ENCODINGS = {"quoted-printable": binascii.a2b_qp, "base64": binascii.a2b_base64}
BODY_SQL = f"mail_body({BODY_ARGUMENTS})"
PROSE_SQL = f"mail_prose({BODY_ARGUMENTS}, prose_spans, prose_z)"


def _package_dictionary() -> bytes:
    return resources.files("miner").joinpath("mail.zdict").read_bytes()


DICTIONARY = zstandard.ZstdCompressionDict(_package_dictionary())
DICTIONARY_ID = DICTIONARY.dict_id()
_body_compressor = zstandard.ZstdCompressor(level=BODY_LEVEL, dict_data=DICTIONARY)
_block_compressor = zstandard.ZstdCompressor(compression_params=BLOCK_PARAMETERS)
_plain = zstandard.ZstdDecompressor()
# A body_z compressed against its raw mail begins with a zstd skippable frame (magic 0x184D2A50 and up)
# whose 4 bytes of content are the raw mail's length: the dictionary to read it with is that much of
# the block from the message's raw_offset. Measured on the btrfs epoch's 1,662 such bodies (level 3):
# 3,373,713 bytes with the kernel-mail dictionary, 500,051 against the raw mail (0.09 -> 0.17 CPU s).
_AGAINST_RAW = struct.Struct("<III")
_AGAINST_RAW_MAGIC = 0x184D2A5B
_AGAINST_RAW_START = _AGAINST_RAW_MAGIC.to_bytes(4, "little")  # how such a body_z begins


def _raw_dictionary(raw: bytes) -> zstandard.ZstdCompressionDict:
    """The raw mail as a zstd dictionary of raw content (what compress_against_raw compresses with)."""
    return zstandard.ZstdCompressionDict(raw, dict_type=zstandard.DICT_TYPE_RAWCONTENT)


class EncodedText(NamedTuple):
    """What the store keeps of a message's body and prose besides its raw mail (module docstring)."""

    body_at: int | None
    body_length: int | None
    body_encoding: str | None  # quoted-printable or base64: the raw bytes at body_at are the body so encoded
    body_z: bytes | None
    prose_spans: str | None
    prose_z: bytes | None


def encode_texts(raw: bytes, body: str | None, prose: str | None, body_lines: list[str] | None = None,
                 prose_runs: list[tuple[int, int]] | None = None) -> EncodedText:
    """The stored form of a message's body and prose (runs where the message was parsed; ``body_lines``:
    ``body.split("\\n")`` when the caller has it, ``prose_runs``: the runs of those lines the prose joins)."""
    at = length = encoding = body_z = None
    if body is not None:
        body_bytes = body.encode("utf-8", ENCODING_ERRORS)
        # plain text: the end; a MIME part: inside. A body that ends the mail is where rfind finds it (no
        # later start leaves room for it), and endswith says so faster than rfind's backward search: the
        # 20,000 btrfs bodies took 0.14 s to encode and find, 0.08 s so
        if body_bytes and raw.endswith(body_bytes):
            found = len(raw) - len(body_bytes)
        else:
            found = raw.rfind(body_bytes) if body_bytes else -1
        if found >= 0:
            at, length = found, len(body_bytes)
        else:
            at, length, encoding = _encoded_body(raw, body)
            if at is None:
                body_z = compress_against_raw(raw, body_bytes) if raw else _body_compressor.compress(body_bytes)
    spans = (prose_spans(body, prose, body_bytes, body_lines, prose_runs) if body is not None and prose is not None
             else None)
    prose_z = None
    if prose is not None and spans is None:
        prose_z = _body_compressor.compress(prose.encode("utf-8", ENCODING_ERRORS))
    return EncodedText(at, length, encoding, body_z, spans, prose_z)


def compress_against_raw(raw: bytes, data: bytes) -> bytes:
    """``data`` as a body_z read with the raw mail ``raw`` for dictionary (see _AGAINST_RAW)."""
    frame = zstandard.ZstdCompressor(level=BODY_LEVEL, dict_data=_raw_dictionary(raw)).compress(data)
    return _AGAINST_RAW.pack(_AGAINST_RAW_MAGIC, 4, len(raw)) + frame


def _encoded_body(raw: bytes, body: str) -> tuple[int | None, int | None, str | None]:
    """Where a single-part body stands in the raw mail quoted-printable or base64 (UTF-8 inside), if it does."""
    head_end = raw.find(b"\n\n")
    if head_end < 0:
        return None, None, None
    start = head_end + 2
    tail = raw[start:]
    for encoding, decode in ENCODINGS.items():
        try:
            if _decoded(decode, tail) == body:
                return start, len(tail), encoding
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
    return None, None, None


def _decoded(decode, data) -> str:
    return decode(bytes(data)).decode("utf-8").replace("\r\n", "\n")


def prose_spans(body: str, prose: str, body_bytes: bytes | None = None, lines: list[str] | None = None,
                runs: list[tuple[int, int]] | None = None) -> str | None:
    """Line ranges of ``body`` that give back ``prose`` exactly (joined by newlines, stripped), or None.

    ``runs``: the [first, end) line runs the prose was joined from, when the parser has them
    (miner.body.prose_runs); else they are found. Prose is the body's prose lines in order, so a greedy
    walk finds them; the first and last may have lost the white space ``strip`` removes. The result is
    checked, never trusted (runs that do not give the prose back are looked for as if none were given).
    ``body_bytes`` and ``lines``: the body's UTF-8 and ``body.split("\\n")`` when the caller has them
    (encode_texts), not made again. encode_texts took 0.44 CPU s over the btrfs epoch's 20,000 bodies with
    the parser's runs, 0.54-0.62 s finding them (3 runs each); the spans then name a run's blank lines too
    (40,604 characters more of them, 0.05% of the database).
    """
    if not prose:
        return ""
    if lines is None:
        lines = body.split("\n")
    if body_bytes is None:
        body_bytes = body.encode("utf-8", ENCODING_ERRORS)
    if runs:
        spans = _spans_of_runs(body, lines, runs)
        if _prose_from_bytes(body_bytes, spans) == prose:
            return spans
    runs = _runs_of_prose(lines, prose)
    if runs is None:
        return None
    spans = _spans_of_runs(body, lines, runs)
    return spans if _prose_from_bytes(body_bytes, spans) == prose else None


def _runs_of_prose(lines: list[str], prose: str) -> list[tuple[int, int]] | None:
    """[first, end) runs of ``lines`` whose lines, in order, are the lines of ``prose`` (the first and last
    maybe with the white space strip() took), found by a greedy walk; None if there are none."""
    wanted = prose.split("\n")
    last = len(wanted) - 1
    runs: list[list[int]] = []  # [first line, end] of the body lines picked, in order
    index = number = 0
    while number <= last:
        if 0 < number < last:  # whole lines: the next one equal to the first, and those equal after it
            try:
                index = lines.index(wanted[number], index)  # list.index runs in C
            except ValueError:
                return None
            length = _equal_run(lines, index, wanted, number, last)
        else:  # the first and last may have lost white space to strip()
            while index < len(lines):
                candidate, line = lines[index], wanted[number]
                if (candidate == line or (number == 0 and candidate.lstrip() == line)
                        or (number == last and candidate.rstrip() == line)
                        or (number == 0 == last and candidate.strip() == line)):
                    break
                index += 1
            else:
                return None
            length = 1
        if runs and runs[-1][1] == index:
            runs[-1][1] = index + length
        else:
            runs.append([index, index + length])
        index += length
        number += length
    return [(first, end) for first, end in runs]


def _spans_of_runs(body: str, lines: list[str], runs: list[tuple[int, int]]) -> str:
    """The byte ranges ``"0:120,514:700"`` of the body's UTF-8 that line runs [first, end) of ``lines`` are."""
    # a run of lines i..j-1 is bytes starts[i]..starts[j]-1 of the body's UTF-8, line k starting at byte starts[k]
    ascii_body = body.isascii()
    starts = []
    line_at = byte_at = 0
    for boundary in itertools.chain.from_iterable(runs):  # each a line after the one before: sizes summed once
        lines_before = lines[line_at:boundary]
        if lines_before and ascii_body:
            byte_at += sum(map(len, lines_before)) + len(lines_before)  # each line and its newline
        elif lines_before:
            byte_at += len("\n".join(lines_before).encode("utf-8", ENCODING_ERRORS)) + 1
        starts.append(byte_at)
        line_at = boundary
    return ",".join(f"{starts[i]}:{starts[i + 1] - 1}" for i in range(0, len(starts), 2))


def _equal_run(lines: list[str], index: int, wanted: list[str], number: int, end: int) -> int:
    """How many of ``wanted[number:end]`` stand in ``lines`` from ``index`` on, one after the other (the
    first does): found by comparing runs of doubling length in C."""
    length, step = 1, 1
    while length + step <= end - number and lines[index + length:index + length + step] == \
            wanted[number + length:number + length + step]:
        length += step
        step *= 2
    while step > 1:
        step //= 2
        if length + step <= end - number and lines[index + length:index + length + step] == \
                wanted[number + length:number + length + step]:
            length += step
    return length


def _prose_from_bytes(body: bytes, spans: str) -> str:
    """The prose named by byte ranges of the body (each a run of whole lines), joined and stripped."""
    if not spans:
        return ""
    parts = []
    for span in spans.split(","):
        start, end = span.split(":")
        parts.append(body[int(start):int(end)])
    return str(b"\n".join(parts), "utf-8", ENCODING_ERRORS).strip()


def compress_block(mails: list[bytes]) -> bytes:
    """One zstd frame of the raw mails of a block, concatenated."""
    return _block_compressor.compress(b"".join(mails))


# zstd releases the GIL while it compresses: the writer stores a batch's rows meanwhile (miner.store).
# One thread, so the one compressor is never used by two at once.
_block_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mail-blocks")


def compress_block_soon(mails: list[bytes]) -> Future:
    """:func:`compress_block` in the background: the frame is the future's result."""
    return _block_thread.submit(compress_block, mails)


# -- reading -----------------------------------------------------------------------------------

# Blocks decompressed in this process, shared by its connections: the classifier opens a connection per
# chunk of threads, and the neighbouring chunks read the same blocks. A hit is checked against the
# compressed bytes just read, so another database with the same block numbers never gets them.
_process_blocks: OrderedDict[tuple[int, int], tuple[bytes, bytes]] = OrderedDict()


def _decompressed_block(block_id: int, compressed: bytes) -> bytes:
    key = (block_id, len(compressed))
    cached = _process_blocks.get(key)
    if cached is not None and cached[0] == compressed:
        _process_blocks.move_to_end(key)
        return cached[1]
    data = _plain.decompress(compressed)
    _process_blocks[key] = (compressed, data)
    if len(_process_blocks) > BLOCKS_CACHED:
        _process_blocks.popitem(last=False)
    return data


class TextReader:
    """Reads the texts of one connection's database: its dictionaries, and recent blocks cached."""

    def __init__(self, conn: sqlite3.Connection, skip_in_writes: bool = False, blocks_cached: int = BLOCKS_CACHED,
                 shared: bool = True):
        self.conn = conn
        # a reader of every block in order needs one at a time, and would only push the blocks other
        # readers of this process share out of the process's cache: blocks_cached=1, shared=False
        self.blocks_cached, self.shared = blocks_cached, shared
        # SQLite computes every virtual column of each row an UPDATE or INSERT writes, though nothing
        # reads it: on the store's connection, whose writes never read a body back before they commit,
        # a call inside a write transaction answers NULL instead of decompressing (miner.store)
        self.skip_in_writes = skip_in_writes
        self.decompressors = {0: _plain, DICTIONARY_ID: zstandard.ZstdDecompressor(dict_data=DICTIONARY)}
        self.blocks: OrderedDict[int, bytes] = OrderedDict()
        self._last_key: tuple | None = None
        self._last_body: bytes | None = None
        self.suspended = 0  # inside writing(): answer NULL

    def _decompressor(self, blob: bytes) -> zstandard.ZstdDecompressor:
        dict_id = zstandard.get_frame_parameters(blob).dict_id
        decompressor = self.decompressors.get(dict_id)
        if decompressor is None:
            row = self.conn.execute("SELECT data FROM zstd_dictionaries WHERE dict_id=?", (dict_id,)).fetchone()
            if row is None:
                raise ValueError(f"zstd dictionary {dict_id} is not in this database's zstd_dictionaries")
            decompressor = zstandard.ZstdDecompressor(dict_data=zstandard.ZstdCompressionDict(row[0]))
            self.decompressors[dict_id] = decompressor
        return decompressor

    def block(self, block_id: int) -> bytes:
        """The raw mails of one block, decompressed."""
        data = self.blocks.get(block_id)
        if data is not None:
            self.blocks.move_to_end(block_id)
            return data
        row = self.conn.execute("SELECT data FROM mail_blocks WHERE block_id=?", (block_id,)).fetchone()
        if row is None:
            raise ValueError(f"raw mail block {block_id} is missing from mail_blocks")
        data = _decompressed_block(block_id, row[0]) if self.shared else _plain.decompress(row[0])
        self.blocks[block_id] = data
        if len(self.blocks) > self.blocks_cached:
            self.blocks.popitem(last=False)
        return data

    def body_bytes(self, raw_block: int | None, raw_offset: int | None, body_at: int | None,
                   body_length: int | None, body_encoding: str | None, body_z: bytes | None) -> bytes | None:
        """The body as UTF-8 from its stored form (the same row asked twice in a row is read once)."""
        key = (raw_block, raw_offset, body_at, body_length, body_encoding, body_z)
        if key == self._last_key:
            return self._last_body
        if body_z is not None:
            data = self._body_z(body_z, raw_block, raw_offset)
        elif body_at is None or raw_block is None:
            data = None
        else:
            start = raw_offset + body_at
            data = memoryview(self.block(raw_block))[start:start + body_length]  # no copy: the reads slice it
            if body_encoding:
                data = _decoded(ENCODINGS[body_encoding], data).encode("utf-8", ENCODING_ERRORS)
        self._last_key, self._last_body = key, data
        return data

    def _body_z(self, body_z: bytes, raw_block: int | None, raw_offset: int | None) -> bytes:
        """The body kept in body_z: compressed against the raw mail (see _AGAINST_RAW) or with a dictionary."""
        if not body_z.startswith(_AGAINST_RAW_START):
            return self._decompressor(body_z).decompress(body_z)
        _, _, raw_length = _AGAINST_RAW.unpack_from(body_z)
        raw = self.block(raw_block)[raw_offset:raw_offset + raw_length]
        return zstandard.ZstdDecompressor(dict_data=_raw_dictionary(raw)).decompress(body_z[_AGAINST_RAW.size:])

    def body(self, *stored) -> str | None:
        """``messages.body`` from its stored form (raw_block, raw_offset, body_at, body_length, body_encoding,
        body_z)."""
        if self.suspended or (self.skip_in_writes and self.conn.in_transaction):
            return None
        data = self.body_bytes(*stored)
        return str(data, "utf-8", ENCODING_ERRORS) if data is not None else None

    def prose(self, raw_block, raw_offset, body_at, body_length, body_encoding, body_z, spans: str | None,
              prose_z: bytes | None) -> str | None:
        """``messages.prose`` from its stored form."""
        if self.suspended or (self.skip_in_writes and self.conn.in_transaction):
            return None
        if prose_z is not None:
            return self._decompressor(prose_z).decompress(prose_z).decode("utf-8", ENCODING_ERRORS)
        if not spans:
            return spans  # None: no prose stored (a ghost); "": none written
        body = self.body_bytes(raw_block, raw_offset, body_at, body_length, body_encoding, body_z)
        return _prose_from_bytes(body, spans) if body is not None else None

    def raw(self, raw_block: int, raw_offset: int, raw_length: int) -> bytes:
        """The raw mail at that place of a block."""
        return self.block(raw_block)[raw_offset:raw_offset + raw_length]


def register_text_functions(conn: sqlite3.Connection, skip_in_writes: bool = False) -> TextReader:
    """Make ``mail_body(...)`` and ``mail_prose(...)`` callable on ``conn`` (see the module docstring).

    ``skip_in_writes`` (the store's connection): inside a write transaction they answer NULL.
    """
    reader = TextReader(conn, skip_in_writes)
    conn.create_function("mail_body", 6, reader.body, deterministic=True)
    conn.create_function("mail_prose", 8, reader.prose, deterministic=True)
    return reader


@contextlib.contextmanager
def read_only_texts(db_path: str) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the database at ``db_path`` whose body and prose columns read (a
    worker's: it sees what is committed), closed at the end."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    register_text_functions(conn)  # messages.body and .prose are decompressed when read
    try:
        yield conn
    finally:
        conn.close()


def register_check_stubs(conn: sqlite3.Connection) -> None:
    """``mail_body`` and ``mail_prose`` that read nothing. SQLite computes every virtual column of a row
    it inserts or updates, and of every row ``PRAGMA quick_check`` reads, only to check constraints
    these columns do not have: with the real functions a batch would decompress what it just wrote,
    and a check the whole archive (writers use :func:`writing` instead: same effect)."""
    conn.create_function("mail_body", 6, _nothing, deterministic=True)
    conn.create_function("mail_prose", 8, _nothing, deterministic=True)


@contextlib.contextmanager
def writing(reader: TextReader) -> Iterator[None]:
    """Statements that write messages rows but read no body or prose: the reader answers NULL meanwhile
    (functions cannot be swapped while a statement of the connection is open)."""
    reader.suspended += 1
    try:
        yield
    finally:
        reader.suspended -= 1


def _nothing(*_arguments) -> None:
    return None


def raw_bytes(conn: sqlite3.Connection, message_id: str, reader: TextReader | None = None) -> bytes | None:
    """The stored raw mail of ``message_id``, byte for byte as it was read; None if none is stored.

    ``reader`` (from :func:`register_text_functions`) keeps recent blocks for the next call.
    """
    row = conn.execute("SELECT raw_block, raw_offset, raw_length FROM messages WHERE message_id=?"
                       " AND raw_block IS NOT NULL", (message_id,)).fetchone()
    if row is None:
        return None
    return (reader or TextReader(conn)).raw(*row)
