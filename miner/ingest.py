"""Ingest: read sources, parse, thread and store in batches, resumably."""

from __future__ import annotations

import contextlib
import gc
import itertools
from collections import deque
import signal
import sys
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from miner import sources
from miner.errors import MinerError
from miner.model import Provenance, RawMail, Skipped
from miner.parse import parse_message_and_lines
from miner.sources import publicinbox
from miner.workers import bounded_imap, default_workers
from miner.store import BATCH_SIZE, MESSAGE_ROW_COLUMNS, BatchCounts, ParsedMail, Store, rows_for

BATCH_BYTES = 8 << 20  # a batch also ends at this much mail: memory follows bytes, not messages
PARALLEL_THRESHOLD = 2000  # below this many messages a worker pool costs more than it saves
MAX_IN_FLIGHT = BATCH_SIZE
CHUNK = 32  # messages sent to a parser worker at a time
NOTES_COLUMN = MESSAGE_ROW_COLUMNS.index("notes")
LIST_ID_FIELD = Provenance._fields.index("list_id")
# What one bad message can make SQLite (or its driver) raise; disk full, a malformed file and I/O
# errors are OperationalError/DatabaseError and stop the run instead, since no retry can help.
STORE_FAILURES = (sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.ProgrammingError,
                  UnicodeEncodeError, ValueError, OverflowError)


@dataclass
class IngestSummary:
    """Counts of one ingest run."""

    read: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    repeated: int = 0  # copies of messages this run stored first (an epoch holding a message twice)
    rejected: int = 0
    skipped: int = 0
    noted: int = 0  # stored with notes: something was cut to the limits or kept with a doubt
    threads: int = 0
    seconds: float = 0.0
    empty_paths: list[str] = field(default_factory=list)  # inputs in which no mail at all was found

    def problems(self) -> list[str]:
        """One line per input that gave nothing: the run did not do what was asked of it."""
        return [f"{path}: no mail found (not an mbox, Maildir, .eml, public-inbox git or archive page,"
                " or empty)" for path in self.empty_paths]

    def line(self) -> str:
        """The one-line summary printed at the end of a run."""
        rate = self.read / self.seconds if self.seconds > 0 else 0.0
        return (
            f"{self.read} messages read: {self.new} new"
            f"{f' (+{self.repeated} repeated copies)' if self.repeated else ''},"
            f" {self.updated} updated, {self.unchanged} unchanged,"
            f" {self.rejected} rejected, {self.skipped} skipped"
            f"{f' ({self.noted} stored with notes: messages.notes)' if self.noted else ''};"
            f" {self.threads} threads in the database"
            f" ({self.seconds:.1f} s, {rate:,.0f} msg/s)"
        )


@dataclass
class Rejected:
    """A message that could not be parsed."""

    mail: RawMail
    reason: str


def prepare(mail: RawMail) -> ParsedMail | Rejected:
    """Parse one raw message into what the store needs (runs in worker processes)."""
    if mail.problem:
        return Rejected(mail, mail.problem)
    try:
        message, lines, runs = ((mail.parsed, None, None) if mail.parsed
                                else parse_message_and_lines(mail.raw, mail.archive_date))
    except Exception as error:  # any parse failure rejects this message only
        return Rejected(mail, f"{type(error).__name__}: {error}")
    if mail.notes:
        message.notes = [*mail.notes, *message.notes]
    if mail.date_precision:
        message.date_precision = mail.date_precision
    provenance = mail.provenance
    if provenance.list_id is None and message.list_id:  # Provenance's fields made in C, not by _replace's Python
        provenance = tuple.__new__(Provenance, (*provenance[:LIST_ID_FIELD], message.list_id,
                                                *provenance[LIST_ID_FIELD + 1:]))
    return rows_for(message, provenance, mail.raw, lines, runs)


class Ingester:
    """Runs one ingest: feeds RawMail through parsing into the store, batch by batch."""

    def __init__(self, store: Store, command: str, progress: bool = True, workers: int | None = None,
                 batch_size: int = BATCH_SIZE):
        self.store = store
        self.batch_size = batch_size
        self.summary = IngestSummary()
        self.progress = progress
        self.workers = workers if workers is not None else default_workers()
        store.prepare_for_batches()
        self.run_id = store.begin_run(command)
        self.started = time.monotonic()
        self.bar: tqdm | None = None

    def __enter__(self) -> "Ingester":
        # ingest makes no reference cycles worth collecting; the collector would only cost time
        self._gc_was_enabled = gc.isenabled()
        gc.disable()
        return self

    def _message_bar(self) -> tqdm:
        """The run's bar in messages (made when the first stream counted in messages begins)."""
        if self.bar is None:
            self.bar = tqdm(unit=" msg", disable=not self.progress, desc="ingest", dynamic_ncols=True,
                            smoothing=0.1)
        return self.bar

    def __exit__(self, kind, value, traceback) -> None:
        if self.bar is not None:
            self.bar.close()
        if self._gc_was_enabled:
            gc.enable()
        status = "done" if kind is None else "interrupted"
        self._save_run(status, finished=True)

    def _save_run(self, status: str, finished: bool = False) -> None:
        s = self.summary
        self.store.update_run(self.run_id, status, s.read, s.new, s.updated, s.rejected, s.skipped, finished)

    def ingest_path(self, path: Path) -> None:
        """Ingest everything under ``path`` (formats detected, folders walked)."""
        before = self._items_seen()
        resumed = False
        for stream in sources.streams(path):
            resumed |= self.ingest_stream(stream)
        if self._items_seen() == before and not resumed:  # a stream read before may have nothing new
            self.summary.empty_paths.append(str(path))

    def _items_seen(self) -> int:
        return self.summary.read + self.summary.skipped

    def ingest_stream(self, stream: sources.MailStream) -> bool:
        """Ingest one stream from its stored cursor (True if it had one: it was read before).

        With parser processes a stream may hand over references (public-inbox commits) that the
        workers read themselves: the messages never pass through this process, which only stores.
        """
        cursor = self.store.get_state(stream.state_key) if stream.state_key else None
        mails = stream.read(cursor, self.workers > 1)
        if stream.size is not None and self.progress:  # a file read in bytes: a bar of its own, in bytes
            with tqdm(total=stream.size, unit="B", unit_scale=True, unit_divisor=1024, desc=stream.location.name,
                      dynamic_ncols=True, smoothing=0.1) as bar:
                self.ingest_mails(mails, state_key=stream.state_key,
                                  advance=lambda item: bar.update(stream.bytes_read(_position(item)) - bar.n))
            return cursor is not None
        if stream.format == "public-inbox" and self.progress:
            # an epoch knows how many commits it brings: what earlier inputs counted, plus those
            bar = self._message_bar()
            bar.total = (bar.total or bar.n) + len(publicinbox.new_commits(stream.location, cursor))
            bar.refresh()
        self.ingest_mails(mails, state_key=stream.state_key)
        return cursor is not None

    def ingest_mails(self, mails: Iterable[RawMail | Skipped], state_key: str | None = None,
                     advance: Callable[[object], object] | None = None) -> None:
        """Parse and store ``mails`` in batches; ``state_key`` records the last commit per batch.

        ``advance(item)`` moves the progress bar on for each item stored (default: one message on the
        run's bar).
        """
        if advance is None:
            bar = self._message_bar() if self.progress else None
            advance = (lambda item: bar.update(1)) if bar is not None else _nothing
        prepared = self._prepared(mails)
        try:
            self._consume(prepared, state_key, advance)
        finally:
            prepared.close()  # stops the parser processes now, not when the generator is collected

    def _consume(self, prepared: Iterator, state_key: str | None, advance: Callable[[object], object]) -> None:
        batch: list[ParsedMail] = []
        batch_bytes = 0
        last_position: str | None = None
        for item in prepared:
            advance(item)
            if isinstance(item, Skipped):  # a commit without a message: counted on an epoch's bar all the same
                self.summary.skipped += 1
                last_position = item.commit
                continue
            self.summary.read += 1
            if isinstance(item, Rejected):
                self._reject(item)
            else:
                batch.append(item)
                batch_bytes += item.raw_size
                if item.row[NOTES_COLUMN] is not None:
                    self.summary.noted += 1
            last_position = item.mail.provenance.position if isinstance(item, Rejected) else item.provenance.position
            if len(batch) >= self.batch_size or batch_bytes >= BATCH_BYTES:
                self._store(batch, state_key, last_position)
                batch, batch_bytes = [], 0
        if batch or (state_key and last_position):
            self._store(batch, state_key, last_position)

    def _prepared(self, mails: Iterable) -> Iterator:
        iterator = iter(mails)
        head = list(itertools.islice(iterator, PARALLEL_THRESHOLD))
        parallel = self.workers > 1 and len(head) >= PARALLEL_THRESHOLD
        pending = itertools.chain(head, iterator)
        del head  # the chain drops the list once it has been read
        chunks = iter(lambda: list(itertools.islice(pending, CHUNK)), [])
        if not parallel:
            for chunk in chunks:
                yield from _prepare_chunk(chunk)
            return
        # Pool.imap reads its input as fast as it can: without a bound the whole archive would
        # sit in memory. Each message holds a slot from the time it is read until it is stored.
        # The chunks sent are kept until their results come back (in order): a worker does not send
        # back the raw mail it was given (see _prepare_sent_chunk).
        sent: deque[list] = deque()

        def sending() -> Iterator[list]:
            for chunk in chunks:
                sent.append(chunk)  # before the pool has it: its result cannot come back first
                yield chunk

        parsed = bounded_imap(_prepare_sent_chunk, sending(), self.workers, MAX_IN_FLIGHT // CHUNK,
                              freeze_parent=True)
        try:
            for results in parsed:
                yield from _with_raw(sent.popleft(), results)
        finally:
            parsed.close()

    def _reject(self, rejected: Rejected) -> None:
        provenance = rejected.mail.provenance
        if self.store.add_reject(self.run_id, provenance.location, provenance.position, rejected.reason,
                                 rejected.mail.raw):
            self.summary.rejected += 1
            tqdm.write(f"miner: rejected {provenance.location}"
                       f"{' @ ' + provenance.position if provenance.position else ''}: {rejected.reason}",
                       file=sys.stderr)

    def _store(self, batch: list[ParsedMail], state_key: str | None, last_position: str | None) -> None:
        with _interrupts_held():
            self._store_batch(batch, state_key, last_position)

    def _store_batch(self, batch: list[ParsedMail], state_key: str | None, last_position: str | None) -> None:
        state = (state_key, last_position) if state_key and last_position else None
        try:
            counts: BatchCounts = self.store.add_batch(batch, self.run_id, state)
        except STORE_FAILURES:
            # one message the database cannot take must not cost the batch: store them one by one
            # (the batch's transaction was rolled back) and reject the ones that fail
            counts = BatchCounts()
            for item in batch:
                try:
                    self._count(self.store.add_batch([item], self.run_id))
                except STORE_FAILURES as error:
                    self._reject(Rejected(RawMail(item.raw, item.provenance),
                                          f"cannot be stored: {type(error).__name__}: {error}"))
            if state:
                self.store.add_batch([], self.run_id, state)
        self._count(counts)
        self._save_run("running")

    def _count(self, counts: BatchCounts) -> None:
        self.summary.new += counts.new
        self.summary.updated += counts.updated
        self.summary.unchanged += counts.unchanged
        self.summary.repeated += counts.repeated

    def finish(self) -> IngestSummary:
        """Close the run's numbers and return them."""
        self.summary.seconds = time.monotonic() - self.started
        self.summary.threads = self.store.conn.execute("SELECT count(*) FROM threads").fetchone()[0]
        return self.summary


def _nothing(item) -> None:
    """No progress to show."""


def _position(item) -> str | None:
    """Where a prepared item was in its source (None for a commit without a message)."""
    if isinstance(item, Rejected):
        return item.mail.provenance.position
    return item.provenance.position if isinstance(item, ParsedMail) else None


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Ctrl-C waits while a batch is stored and counted: between the batch's commit and its counts it
    would leave the run's row short of messages the database holds."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught and callable(previous):
            previous(signal.SIGINT, None)  # Python's own handler raises KeyboardInterrupt here


def _prepare_or_pass(item: RawMail | Skipped):
    """Parse a RawMail; a Skipped passes through."""
    return item if isinstance(item, Skipped) else prepare(item)


def _prepare_chunk(items: list) -> list:
    """Parse a chunk (in a worker: forked with the collector off); deferred items are read first."""
    return [_prepare_or_pass(item) for item in sources.fetch_deferred(items)]


def _prepare_sent_chunk(items: list) -> list:
    """:func:`_prepare_chunk` in a parser process, without the raw mail of the RawMail it was sent: the
    parent has it (:func:`_with_raw`). Measured on the btrfs mbox, the parsed chunks of 20,000 messages
    are 188 MiB pickled with their raw mail: 0.54 CPU s to pickle in the workers, 0.67 s to unpickle in
    the storing process. The mail a worker read itself (a public-inbox commit) goes back whole.

    What goes back for a RawMail is a plain tuple (:func:`_sent_back`), not the ParsedMail: a NamedTuple is
    pickled and unpickled through Python calls (``__getnewargs__``, ``__new__``), a tuple in C alone (over
    10,000 btrfs messages 0.30 CPU s to pickle and unpickle, 0.16 s so)."""
    results = _prepare_chunk(items)
    return [_sent_back(result, item) if isinstance(result, ParsedMail) and isinstance(item, RawMail) else result
            for item, result in zip(items, results)]


RAW_FIELD = ParsedMail._fields.index("raw")
PROVENANCE_FIELD = ParsedMail._fields.index("provenance")


def _sent_back(result: ParsedMail, item: RawMail) -> tuple:
    """The fields of ``result`` as a tuple, raw mail None, and provenance None when it is the item's (else a
    plain tuple of its fields): what :func:`_with_raw` makes a ParsedMail of again."""
    provenance = result.provenance
    return (*result[:RAW_FIELD], None, *result[RAW_FIELD + 1:PROVENANCE_FIELD],
            None if provenance is item.provenance else tuple(provenance), *result[PROVENANCE_FIELD + 1:])


def _with_raw(items: list, results: list) -> Iterator:
    """The results of :func:`_prepare_sent_chunk` for ``items``, with the raw mail and provenance it left
    out put back."""
    make = tuple.__new__  # a ParsedMail of its fields in C (ParsedMail's own __new__ is Python)
    for item, result in zip(items, results):
        if type(result) is tuple:
            provenance = result[PROVENANCE_FIELD]
            yield make(ParsedMail, (*result[:RAW_FIELD], item.raw, *result[RAW_FIELD + 1:PROVENANCE_FIELD],
                                    item.provenance if provenance is None else make(Provenance, provenance),
                                    *result[PROVENANCE_FIELD + 1:]))
        else:
            yield result


def ingest_paths(store: Store, paths: Iterable[str | Path], progress: bool = True,
                 workers: int | None = None, batch_size: int = BATCH_SIZE) -> IngestSummary:
    """Ingest every path (mbox, Maildir, .eml, public-inbox git, archive pages, directories)."""
    resolved = [Path(p) for p in paths]
    for path in resolved:
        if not path.exists():
            raise MinerError(f"{path}: no such file or directory")
        sources.detect_format(path)  # unknown formats fail before anything is stored
    command = "ingest " + " ".join(str(p) for p in resolved)
    with Ingester(store, command, progress, workers, batch_size) as ingester:
        for path in resolved:
            ingester.ingest_path(path)
        return ingester.finish()
