"""SQLite storage: schema creation and migration, messages with provenance, the threading miner.thread decides, runs."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import NamedTuple
from pathlib import Path

from miner import textstore
from miner.compress import compress
from miner.errors import MinerError
from miner.model import Message, Provenance
from miner.thread import COPY, FILLED, BatchThreading, Known, Placement
from miner.schema import CASCADING_PARENT, FTS_COLUMNS, FTS_TABLE, SCHEMA_VERSION, TABLES, VIEWS
from miner.trailers import ThreadMessage, trailer_targets
from miner.utc import utc_now
from miner.mid import clean_message_id

DEFAULT_DB = Path("data/lkml.db")
BATCH_SIZE = 1000  # messages stored per transaction: an interrupted ingest loses at most one batch
SQLITE_VARIABLE_CHUNK = 500
# Set by Store.prepare_for_batches (an ingest or scrape run). Measured on a 20,000-message scale step
# into a 200,000-message database (benchmarks/scale.py's mix): a 64 MiB page cache reads 1.4 GiB less
# from the file than 8 MiB did (the indexes a batch updates by Message-ID stay in it); a checkpoint every
# 8,000 pages (128 MiB of log) instead of 1,000 copied a page that several batches change into the file
# once. The log is now folded by a thread of its own (_Checkpointer) every CHECKPOINT_BATCHES batches
# (about 64 MiB of log), not by the writer's commits. Neither matters after a crash: the write-ahead log
# with synchronous=NORMAL is what leaves a kill -9 safe. Other commands keep 8 MiB of page cache (the
# classifier's parent would hold 40 MB more at its peak).
BATCH_PRAGMAS = ("cache_size=-65536", "wal_autocheckpoint=0")  # the log is folded by a thread: _Checkpointer
CHECKPOINT_BATCHES = 8  # batches (up to 64 MiB of mail) between two folds of the write-ahead log
# The full-text index is a set of segments that FTS5 merges as they pile up: once a level holds
# automerge segments it merges them a little at every commit, and once it holds crisismerge it merges
# them all at once, in one commit. Inserting 200,000 prose texts (scale.py's mix) 1,000 a transaction:
# at automerge 16 and crisismerge 16 (as both were) every merge was a crisis: the tenth 20,000 took
# 2.6-3.6 s against 0.8-1.2 s for the first (one commit of 1.8-2.5 s), 11.6-16.2 s in all, and the
# file grew to 204 MiB. At automerge 8 merges begin before a crisis: no commit over 0.19 s, 11.8-12.7 s
# in all, 101 MiB (crisismerge 64 instead smoothed as well, but left the merged-away pages of the
# last batches free: the btrfs database 1.3 MB larger, over the 0.5 of its mail that disk.py allows;
# now 0.2 MB larger, 0.497).
FTS_SETTINGS = (("automerge", 8), ("crisismerge", 16))


def in_chunks(values: list) -> Iterator[tuple[list, str]]:
    """(chunk, "?,?,...") pairs that keep an ``IN (...)`` list under SQLite's variable limit."""
    for start in range(0, len(values), SQLITE_VARIABLE_CHUNK):
        chunk = values[start:start + SQLITE_VARIABLE_CHUNK]
        yield chunk, ",".join("?" * len(chunk))


class Where:
    """The terms of a WHERE clause and their parameters, built one optional filter at a time."""

    def __init__(self, *terms: str):
        self.terms: list[str] = list(terms)
        self.params: list = []

    def add(self, term: str, value, given: bool | None = None) -> None:
        """``term`` (one ``?``) bound to ``value`` when the filter is given (by default: ``value`` is not empty)."""
        if value if given is None else given:
            self.terms.append(term)
            self.params.append(value)

    def sql(self) -> str:
        """`` WHERE a AND b`` (empty without terms)."""
        return f" WHERE {' AND '.join(self.terms)}" if self.terms else ""


def _merge_people(rows: list[tuple]) -> list[tuple]:
    """One (email, name, first_seen, last_seen) per address: the name of its latest message."""
    merged: dict[str, list] = {}
    for email, name, first, last in rows:
        entry = merged.get(email)
        if entry is None:
            merged[email] = [email, name, first, last]
            continue
        if name and (last or "") >= (entry[3] or ""):
            entry[1] = name
        if first and (not entry[2] or first < entry[2]):
            entry[2] = first
        if last and (not entry[3] or last > entry[3]):
            entry[3] = last
    return [tuple(entry) for entry in merged.values()]


def subsystem_of(path: str) -> str:
    """The first two components of a kernel path (``fs/btrfs``), or the file for top-level paths."""
    parts = path.split("/")
    return "/".join(parts[:2]) if len(parts) > 2 else (parts[0] if len(parts) == 2 else path)


class ParsedMail(NamedTuple):
    """What the store writes for one parsed message, built where it was parsed (see :func:`rows_for`).

    Plain tuples, so parser processes hand thousands of them a second to the writer cheaply.
    """

    message_id: str
    parent_ids: tuple[str, ...]
    row: tuple  # the messages columns from parent_id to notes (MESSAGE_ROW_COLUMNS)
    raw: bytes | None  # the raw mail: the writer puts it into a block of mail_blocks (miner.textstore); None
    #                    only on its way back from a parser process that was sent it (ingest._with_raw)
    prose: str  # for the full-text index (the row keeps it as line ranges of the body)
    raw_size: int
    provenance: Provenance
    trailers: tuple[tuple, ...]  # (position, name, value, person_name, person_email, written_name, kind)
    patch_files: tuple[tuple, ...]  # (path, subsystem, added, removed)
    people: tuple[tuple, ...]  # (email, name, date)
    alias_ids: tuple[str, ...] = ()  # other Message-IDs of the same message (ghosts in its thread)


MESSAGE_ROW_COLUMNS = (
    "parent_id", "subject", "base_subject", "patch_tags", "patch_version", "patch_index", "patch_total",
    "is_patch", "from_name", "from_email", "date", "date_flagged", "list_id", "in_reply_to", "references",
    "body_at", "body_length", "body_encoding", "body_z", "prose_spans", "prose_z", "sha256", "raw_size",
    "message_id_synthetic", "notes", "date_precision",
)
SUBJECT_COLUMN = MESSAGE_ROW_COLUMNS.index("subject")


# Rows queued by _write_pending are [thread_id, *row, added_at, raw_block, raw_offset, raw_length, message_id];
# both statements take that order.
_ROW_COLUMNS = ('"thread_id"', *(f'"{column}"' for column in MESSAGE_ROW_COLUMNS), '"added_at"', '"raw_block"',
                '"raw_offset"', '"raw_length"')
_INSERT_MESSAGE = (
    f"INSERT INTO messages(ghost, {', '.join(_ROW_COLUMNS)}, message_id)"
    f" VALUES (0, {', '.join('?' * (len(_ROW_COLUMNS) + 1))})"
)
_FILL_GHOST = f"UPDATE messages SET ghost=0, {', '.join(c + '=?' for c in _ROW_COLUMNS)} WHERE message_id=?"


_json_string = json.encoder.encode_basestring_ascii  # what json.dumps writes for a str (the C function)


def _json_strings(values: list) -> str:
    """``json.dumps(values)`` of a list of strings, without the encoder json.dumps sets up at each call
    (0.2 CPU s of the 40,000 calls over the btrfs epoch; the same text)."""
    try:
        return "[" + ", ".join(map(_json_string, values)) + "]"
    except TypeError:  # not all strings: json.dumps says what they are
        return json.dumps(values)


def rows_for(message: Message, provenance: Provenance, raw: bytes, body_lines: list[str] | None = None,
             prose_runs: list[tuple[int, int]] | None = None) -> ParsedMail:
    """The rows of one parsed message, ready for :meth:`Store.add_batch` (``body_lines`` and ``prose_runs``:
    the lines of its body and the runs of them its prose joins, when the parser has them, see
    :func:`miner.parse.parse_message_and_lines`)."""
    texts = textstore.encode_texts(raw, message.body, message.prose, body_lines, prose_runs)
    raw_size = len(raw)
    row = (
        message.parent_id, message.subject, message.base_subject, _json_strings(message.patch_tags),
        message.patch_version, message.patch_index, message.patch_total, int(message.is_patch),
        message.from_name, message.from_email, message.date, int(message.date_flagged),
        message.list_id or provenance.list_id, message.in_reply_to, _json_strings(message.references),
        *texts, hashlib.sha256(raw).digest(), raw_size, int(message.message_id_synthetic),
        json.dumps(message.notes) if message.notes else None, message.date_precision,
    )
    people = [(message.from_email, message.from_name, message.date)] if message.from_email else []
    trailers = []
    for position, trailer in enumerate(message.trailers):
        trailers.append((position, trailer.name, trailer.value, trailer.person_name, trailer.person_email,
                         trailer.written_name or trailer.name, trailer.kind))
        if trailer.person_email:
            people.append((trailer.person_email, trailer.person_name, message.date))
    files = tuple((f.path, subsystem_of(f.path), f.added, f.removed) for f in message.patch_files)
    return ParsedMail(message.message_id, tuple(message.parent_ids), row, raw, message.prose or "", raw_size,
                      provenance, tuple(trailers), files, tuple(people), tuple(message.alias_ids))


@dataclass
class BatchCounts:
    """What one batch did to the database."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    repeated: int = 0  # another copy of a message this same run stored first: nothing stored before changed
    touched_threads: set[int] = field(default_factory=set)
    people: list[tuple] = field(default_factory=list)
    trailers: list[tuple] = field(default_factory=list)
    patch_files: list[tuple] = field(default_factory=list)


_INSERT_PROVENANCE = (
    "INSERT OR IGNORE INTO provenance(message_id, source_type, location, position, list_id, fetched_at,"
    " run_id, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def _provenance_row(message_id: str, provenance: Provenance, run_id: int | None, now: str) -> tuple:
    return (message_id, provenance.source_type, provenance.location, provenance.position or "",
            provenance.list_id, provenance.fetched_at, run_id, now)


@dataclass
class PendingRows:
    """Rows of one batch, written together by :meth:`Store._write_pending` (thread ids are read from
    the placements then, when the batch's merges are all known)."""

    placed: list[tuple[Placement, ParsedMail]] = field(default_factory=list)
    provenance: dict[tuple, tuple] = field(default_factory=dict)
    stored_ids: set[str] = field(default_factory=set)

    def add_provenance(self, row: tuple) -> bool:
        """Queue a provenance row; False if the same copy is already queued."""
        key = row[:4]
        if key in self.provenance:
            return False
        self.provenance[key] = row
        return True


class Store:
    """The lkml-miner database: open it with :func:`open_store`."""

    def __init__(self, conn: sqlite3.Connection, path: Path | None):
        self.conn = conn
        self.path = path
        self.closed = False
        self.migrated_texts = False
        # the store's writes never read a body back before they commit (a reader that must: _migrate_texts)
        self.text_reader = textstore.register_text_functions(self.conn, skip_in_writes=True)
        # ghosts this run created: a message filling one is new to the database, not an update of it
        self.run_ghosts: set[str] = set()
        self.checkpointer: _Checkpointer | None = None
        self.batches_written = 0

    # -- set-up -----------------------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create every table, index and the FTS index that is missing; migrate an older database.

        A database of an older schema version gets the tables and columns added since (NULL in old
        rows: every change so far only added); one of a newer version is refused, since this code
        cannot know what it would break.
        """
        existing = self._schema_names()
        found = self.schema_version() if "meta" in existing else None
        if found is not None and found > SCHEMA_VERSION:
            raise MinerError(f"{self.path}: made by a newer lkml-miner (schema version {found}; this one reads up"
                             f" to {SCHEMA_VERSION}): upgrade it with 'pip install -U lkml-miner'")
        self.migrated_texts = "messages" in existing and not self._is_virtual("messages", "body")
        if self.migrated_texts:
            self._migrate_texts()
            existing = self._schema_names()
        for table in TABLES:
            if table.name in existing:
                self._add_missing_columns(table)
                if _cascades(table) and "ON DELETE CASCADE" not in self._table_sql(table.name):
                    self._rebuild_with_cascade(table)
                if table.without_rowid and "WITHOUT ROWID" not in self._table_sql(table.name).upper():
                    self._rebuild_without_rowid(table)
                if table.dropped_indexes:
                    self._create_indexes(table)
                continue
            # the schema's own SQL, not sqlite-utils: importing it (numpy, dateutil) took 0.3 s of every
            # ingest into a new database, a tenth of the time to the first stored batch
            self.conn.execute(_create_table_sql(table))
            self._create_indexes(table)
        views = self._schema_names("view")
        for view in VIEWS:
            if view.name not in views:
                self.conn.execute(f'CREATE VIEW "{view.name}" AS {view.sql}')
        if f"{FTS_TABLE}_fts" not in existing:
            # kept in step by add_batch, not triggers: FTS5 inserts from triggers are ~4x slower
            self.conn.execute(f'CREATE VIRTUAL TABLE "{FTS_TABLE}_fts" USING FTS5 (\n    {_names_sql(FTS_COLUMNS)},\n'
                              f"    tokenize='porter',\n    content=\"{FTS_TABLE}\"\n)")
        self._configure_fts()
        self._store_dictionary()
        if found != SCHEMA_VERSION:
            self.conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        self.conn.commit()

    def _configure_fts(self) -> None:
        """FTS_SETTINGS on the full-text index, new or of an older database (where they differ)."""
        config = dict(self.conn.execute(f"SELECT k, v FROM {FTS_TABLE}_fts_config"))
        for name, value in FTS_SETTINGS:
            if config.get(name) != value:
                self.conn.execute(f"INSERT INTO {FTS_TABLE}_fts({FTS_TABLE}_fts, rank) VALUES (?, ?)", (name, value))

    def _store_dictionary(self) -> None:
        """The package's zstd dictionary in zstd_dictionaries (the bodies it compresses name it)."""
        self.conn.execute("INSERT OR IGNORE INTO zstd_dictionaries(dict_id, data, source) VALUES (?, ?, ?)",
                          (textstore.DICTIONARY_ID, textstore.DICTIONARY.as_bytes(), "miner/mail.zdict"))

    def _schema_names(self, kind: str = "table") -> set[str]:
        """The names of the database's tables (or views, or indexes: ``kind``)."""
        return {row[0] for row in self.conn.execute("SELECT name FROM sqlite_master WHERE type=?", (kind,))}

    def _columns(self, table: str) -> dict[str, int]:
        """Column name -> hidden flag (0 stored, 2 or 3 generated), generated columns included."""
        return {row[1]: row[6] for row in self.conn.execute(f'PRAGMA table_xinfo("{table}")')}

    def _is_virtual(self, table: str, column: str) -> bool:
        return self._columns(table).get(column, 0) in (2, 3)

    def _migrate_texts(self) -> None:
        """Schema 7: a database of the previous layout (body, prose and each raw mail zstd-compressed, all
        stored in full) gets each text once (miner.textstore): raw mail in mail_blocks, body and prose
        as virtual columns over it.

        One transaction; every body and prose is read back through the new columns and compared
        with the old before the old columns go (open_store then runs VACUUM to give the room back).
        """
        from miner.compress import decompress

        conn = self.conn
        tables = {table.name: table for table in TABLES}
        with conn:
            for name in ("mail_blocks", "zstd_dictionaries"):
                if name not in self._schema_names():
                    conn.execute(_create_table_sql(tables[name]))
            self._store_dictionary()
            present = self._columns("messages")
            for column in tables["messages"].columns:
                if column.internal and column.name not in present:
                    conn.execute(f'ALTER TABLE messages ADD COLUMN "{column.name}" {column.type}')
            last = 0
            while True:
                rows = conn.execute(
                    "SELECT m.rowid, m.body, m.prose, r.raw, r.sha256 FROM messages m LEFT JOIN raw_messages r"
                    " ON r.message_id = m.message_id WHERE m.rowid > ? ORDER BY m.rowid LIMIT 1000", (last,)).fetchall()
                if not rows:
                    break
                last = rows[-1][0]
                raws = [decompress(row[3]) if row[3] is not None else None for row in rows]
                places = iter(_write_blocks(conn, [raw for raw in raws if raw is not None]))
                updates = []
                for (rowid, body, prose, _, sha256), raw in zip(rows, raws):
                    texts = textstore.encode_texts(raw or b"", body, prose)
                    place = next(places) if raw is not None else (None, None, None)
                    updates.append((*texts, bytes.fromhex(sha256) if sha256 else None, *place, rowid))
                conn.executemany(
                    "UPDATE messages SET body_at=?, body_length=?, body_encoding=?, body_z=?, prose_spans=?, prose_z=?,"
                    " sha256=?,"
                    " raw_block=?, raw_offset=?, raw_length=? WHERE rowid=?", updates)
            conn.execute("DROP TABLE raw_messages")
            conn.execute("ALTER TABLE messages RENAME COLUMN body TO body_before_7")
            conn.execute("ALTER TABLE messages RENAME COLUMN prose TO prose_before_7")
            for column in tables["messages"].columns:
                if column.generated:
                    conn.execute(f"ALTER TABLE messages ADD COLUMN {_column_sql(column)}")
            self.text_reader.skip_in_writes = False  # the check reads the new columns inside the transaction
            try:
                changed = conn.execute("SELECT count(*) FROM messages WHERE body IS NOT body_before_7"
                                       " OR prose IS NOT prose_before_7").fetchone()[0]
            finally:
                self.text_reader.skip_in_writes = True
            if changed:
                raise MinerError(f"{self.path}: migrating to schema 7 would change {changed} bodies or prose;"
                                 " nothing was changed (please report this)")
            conn.execute("ALTER TABLE messages DROP COLUMN body_before_7")
            conn.execute("ALTER TABLE messages DROP COLUMN prose_before_7")

    def _rebuild_without_rowid(self, table) -> None:
        """An older database's table keyed by a row number, made anew keyed by its natural key."""
        self._rebuild_table(table, "before_7", "INSERT OR IGNORE")

    def _rebuild_table(self, table, suffix: str, insert: str = "INSERT", where: str = "") -> None:
        """Make ``table`` anew from its current definition, copying the rows (``where`` selects them)."""
        old_columns = set(self._columns(table.name))
        columns = _names_sql(column.name for column in table.columns if column.name in old_columns)
        self.conn.execute(f'ALTER TABLE "{table.name}" RENAME TO "{table.name}_{suffix}"')
        self.conn.execute(_create_table_sql(table))
        self.conn.execute(f'{insert} INTO "{table.name}" ({columns}) SELECT {columns}'
                          f' FROM "{table.name}_{suffix}"{where}')
        self.conn.execute(f'DROP TABLE "{table.name}_{suffix}"')
        self._create_indexes(table)

    def schema_version(self) -> int | None:
        """The schema version recorded in the database (None before the schema was made)."""
        row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0]) if row and str(row[0]).isdigit() else None

    def _create_indexes(self, table) -> None:
        for name in table.dropped_indexes:
            self.conn.execute(f'DROP INDEX IF EXISTS "{name}"')
        present = self._schema_names("index")
        for columns, unique in [*((columns, False) for columns in table.indexes),
                                *((columns, True) for columns in table.unique_indexes)]:
            name = f"idx_{table.name}_{'_'.join(columns)}"  # the name sqlite-utils gave the older databases'
            if name not in present:
                self.conn.execute(f'CREATE {"UNIQUE " if unique else ""}INDEX IF NOT EXISTS "{name}"'
                                  f' ON "{table.name}" ({_names_sql(columns)})')

    def _table_sql(self, name: str) -> str:
        row = self.conn.execute("SELECT sql FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone()
        return row[0] if row else ""

    def _rebuild_with_cascade(self, table) -> None:
        """An older database's table whose thread foreign key does not cascade, made anew with it."""
        self._rebuild_table(table, "before_cascade", where=" WHERE thread_id IN (SELECT thread_id FROM threads)")

    def _add_missing_columns(self, table) -> None:
        """Columns added to the schema since the database was made are added to it (NULL in old rows)."""
        present = self._columns(table.name)
        for column in table.columns:
            if column.name in present:
                continue
            self.conn.execute(f'ALTER TABLE "{table.name}" ADD COLUMN {_column_sql(column)}')

    def close(self) -> None:
        """Fold the write-ahead log into the database file and close: a copy of the .db alone is whole.

        Safe to call twice. A failing checkpoint (another reader holds the log, the disk is full)
        leaves the log for the next connection to fold; the connection is closed in any case.
        """
        if self.closed:
            return
        self.closed = True
        if self.checkpointer is not None:
            self.checkpointer.stop()
        try:
            if self.conn.in_transaction:
                self.conn.rollback()
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass
        finally:
            self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self.close()

    # -- runs, rejects, resume state -------------------------------------------------------

    def prepare_for_batches(self) -> None:
        """Set the connection up for a run of :meth:`add_batch` calls (BATCH_PRAGMAS), and start the thread
        that folds the write-ahead log into the database file while the batches go on (_Checkpointer)."""
        for pragma in BATCH_PRAGMAS:
            self.conn.execute(f"PRAGMA {pragma}")
        if self.path is not None and self.checkpointer is None:
            self.checkpointer = _Checkpointer(self.path)
            self.checkpointer.start()

    def begin_run(self, command: str) -> int:
        """Record the start of an ingest run; returns its id."""
        self.run_ghosts = set()
        with self.conn:
            # a run still marked running was killed: its committed batches stay, the rest is redone
            self.conn.execute("UPDATE ingest_runs SET status='interrupted' WHERE status='running'")
            cursor = self.conn.execute(
                "INSERT INTO ingest_runs(command, started_at, status, messages_read, messages_new,"
                " messages_updated, messages_rejected, skipped) VALUES (?, ?, 'running', 0, 0, 0, 0, 0)",
                (command, utc_now()),
            )
        return int(cursor.lastrowid)

    def update_run(self, run_id: int, status: str, read: int, new: int, updated: int, rejected: int,
                   skipped: int, finished: bool = False) -> None:
        """Store a run's counts (called after every batch, so an interrupted run keeps them)."""
        with self.conn:
            self.conn.execute(
                "UPDATE ingest_runs SET status=?, messages_read=?, messages_new=?, messages_updated=?,"
                " messages_rejected=?, skipped=?, finished_at=? WHERE id=?",
                (status, read, new, updated, rejected, skipped, utc_now() if finished else None, run_id),
            )

    def add_reject(self, run_id: int, location: str, position: str | None, reason: str, raw: bytes) -> bool:
        """Keep input that could not be parsed; False if it was already recorded."""
        with self.conn:
            cursor = self.conn.execute(
                "INSERT OR IGNORE INTO rejects(run_id, location, position, reason, raw, rejected_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, location, position or "", reason, compress(raw), utc_now()),
            )
        return cursor.rowcount > 0

    def get_state(self, source: str) -> str | None:
        """The resume point stored for ``source``."""
        row = self.conn.execute("SELECT state FROM source_state WHERE source=?", (source,)).fetchone()
        return row[0] if row else None

    # -- storing messages ------------------------------------------------------------------

    def add_batch(self, batch: list[ParsedMail], run_id: int | None,
                  state: tuple[str, str] | None = None) -> BatchCounts:
        """Store a batch in one transaction, thread it, and record ``state`` atomically with it.

        All Message-IDs of the batch (and their parents) are looked up at once; rows are then
        written with one ``executemany`` per table.
        """
        counts = BatchCounts()
        now = utc_now()
        with self.conn, textstore.writing(self.text_reader):
            wanted = {id_ for item in batch for id_ in (item.message_id, *item.parent_ids, *item.alias_ids)}
            threading = BatchThreading(self._lookup(list(wanted)), self._next_thread_id())
            pending = PendingRows()
            for item in batch:
                placement = threading.link(item.message_id, item.parent_ids, item.alias_ids)
                self._queue(item, placement, run_id, now, counts, pending)
            # the raw mail is compressed in the background while the rows are written
            blocks = _start_blocks(self.conn, [item.raw for _, item in pending.placed],
                                   [threading.final_thread(placement.thread_id) for placement, _ in pending.placed])
            self.run_ghosts.update(threading.ghosts)  # the ghosts this batch writes
            self._persist_threading(threading, now)
            self._write_pending(pending, threading, now, blocks.places)
            self._flush_rows(counts)
            self._index_text(pending)
            counts.touched_threads = {threading.final_thread(thread_id) for thread_id in counts.touched_threads}
            self.refresh_threads(counts.touched_threads, now)
            _finish_blocks(self.conn, blocks)
            if state:
                self.conn.execute(
                    "INSERT OR REPLACE INTO source_state(source, state, updated_at) VALUES (?, ?, ?)",
                    (state[0], state[1], now),
                )
        self.batches_written += 1
        if self.checkpointer is not None and self.batches_written % CHECKPOINT_BATCHES == 0:
            self.checkpointer.wake.set()
        return counts

    def _lookup(self, message_ids: list[str]) -> dict[str, Known]:
        """message_id -> (thread_id, ghost) of those already stored."""
        known: dict[str, Known] = {}
        for chunk, marks in in_chunks(message_ids):
            for found_id, found_thread, found_ghost in self.conn.execute(
                f"SELECT message_id, thread_id, ghost FROM messages WHERE message_id IN ({marks})", chunk
            ):
                known[found_id] = Known(found_thread, bool(found_ghost))
        return known

    def _next_thread_id(self) -> int:
        return self.conn.execute("SELECT coalesce(max(thread_id), 0) + 1 FROM threads").fetchone()[0]

    def _queue(self, item: ParsedMail, placement: Placement, run_id: int | None, now: str, counts: BatchCounts,
               pending: "PendingRows") -> None:
        """Queue the rows of one placed message (a copy of a stored one adds only its provenance)."""
        message_id = item.message_id
        provenance = _provenance_row(message_id, item.provenance, run_id, now)
        if placement.outcome == COPY:
            if message_id in pending.stored_ids:
                is_new_copy = pending.add_provenance(provenance)
            else:
                is_new_copy = self._insert_provenance(provenance)
            if is_new_copy:
                if message_id in pending.stored_ids or self.stored_by_run(message_id, run_id):
                    counts.repeated += 1
                else:
                    counts.updated += 1
                counts.touched_threads.add(placement.thread_id)
            else:
                counts.unchanged += 1
            return
        if placement.outcome == FILLED and message_id not in self.run_ghosts:
            counts.updated += 1  # a ghost of an earlier run filled in
        else:  # never seen, or a ghost this run made (earlier in this batch or an earlier one): new all the same
            counts.new += 1
        pending.placed.append((placement, item))
        pending.stored_ids.add(message_id)
        pending.add_provenance(provenance)
        self._collect_people_and_trailers(item, counts, replace=placement.outcome == FILLED)
        counts.touched_threads.add(placement.thread_id)

    def stored_by_run(self, message_id: str, run_id: int | None) -> bool:
        """True if the message has a stored copy and every one came with run ``run_id`` (it was new in
        this run). Asked of the runs, not of the clock: a run that starts in the second another stored
        a message must not count it as its own."""
        if run_id is None:
            return False
        copies, others = self.conn.execute(
            "SELECT count(*), count(CASE WHEN run_id IS NOT ? THEN 1 END) FROM provenance WHERE message_id=?",
            (run_id, message_id)).fetchone()
        return copies > 0 and others == 0

    def _persist_threading(self, threading: BatchThreading, now: str) -> None:
        """New threads, and threads merged into others: their messages move, their row goes (rows of
        other tables that belong to a thread go with it: ON DELETE CASCADE)."""
        self.conn.executemany(
            "INSERT INTO threads(thread_id, message_count, ghost_count, changed_at, revision, labels)"
            " VALUES (?, 0, 0, ?, 0, '[]')", [(thread_id, now) for thread_id in threading.surviving_new_threads()])
        for loser, winner in threading.merged.items():
            self.conn.execute("UPDATE messages SET thread_id=? WHERE thread_id=?", (winner, loser))
            self.conn.execute("DELETE FROM threads WHERE thread_id=?", (loser,))

    def _write_pending(self, pending: "PendingRows", threading: BatchThreading, now: str,
                       places: list[tuple[int, int, int]]) -> None:
        """Ghosts, messages (``places``: where each raw mail goes, see :func:`_start_blocks`) and provenance."""
        conn = self.conn
        conn.executemany(
            "INSERT INTO messages(message_id, thread_id, ghost, parent_id, added_at) VALUES (?, ?, 1, ?, ?)",
            [(ghost.message_id, ghost.thread_id, ghost.parent_id, now) for ghost in threading.ghosts.values()],
        )
        inserted, filled = [], []
        for (placement, item), place in zip(pending.placed, places):
            (filled if placement.outcome == FILLED else inserted).append(
                [placement.thread_id, *item.row, now, *place, item.message_id])
        conn.executemany(_INSERT_MESSAGE, inserted)
        conn.executemany(_FILL_GHOST, filled)
        conn.executemany(_INSERT_PROVENANCE, list(pending.provenance.values()))

    def _index_text(self, pending: "PendingRows") -> None:
        """Add the subject and prose of newly stored messages to the full-text index (the texts come
        with the batch: read back from the row they would be decompressed again)."""
        texts = {item.message_id: (item.row[SUBJECT_COLUMN], item.prose) for _, item in pending.placed}
        rows: list[tuple] = []
        for chunk, marks in in_chunks(list(texts)):
            rows += [(rowid, *texts[message_id]) for rowid, message_id in self.conn.execute(
                f"SELECT rowid, message_id FROM {FTS_TABLE} WHERE message_id IN ({marks})", chunk)]
        rows.sort()  # FTS5 flushes its pending terms whenever rowids go backwards
        columns = ", ".join(FTS_COLUMNS)
        self.conn.executemany(f"INSERT INTO {FTS_TABLE}_fts(rowid, {columns}) VALUES (?, ?, ?)", rows)

    def _insert_provenance(self, provenance: tuple) -> bool:
        return self.conn.execute(_INSERT_PROVENANCE, provenance).rowcount > 0

    def _collect_people_and_trailers(self, item: ParsedMail, counts: "BatchCounts", replace: bool) -> None:
        """Queue people, trailer and patch-file rows; :meth:`_flush_rows` writes them per batch."""
        message_id = item.message_id
        if replace:  # a ghost being filled in has no rows yet, but a re-parse would
            self.conn.execute("DELETE FROM trailers WHERE message_id=?", (message_id,))  # copies too
        counts.people.extend((email, name, date, date) for email, name, date in item.people)
        counts.trailers.extend((message_id, *trailer) for trailer in item.trailers)
        counts.patch_files.extend((message_id, *patch_file) for patch_file in item.patch_files)

    def _flush_rows(self, counts: "BatchCounts") -> None:
        if counts.people:
            counts.people = _merge_people(counts.people)
            self.conn.executemany(
                "INSERT INTO people(email, name, first_seen, last_seen) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(email) DO UPDATE SET"
                " name=CASE WHEN coalesce(excluded.last_seen, '') >= coalesce(people.last_seen, '')"
                " THEN coalesce(excluded.name, people.name) ELSE coalesce(people.name, excluded.name) END,"
                " first_seen=min(coalesce(people.first_seen, excluded.first_seen),"
                " coalesce(excluded.first_seen, people.first_seen)),"
                " last_seen=max(coalesce(people.last_seen, excluded.last_seen),"
                " coalesce(excluded.last_seen, people.last_seen))",
                counts.people,
            )
        if counts.trailers:
            self.conn.executemany(
                "INSERT INTO trailers(message_id, position, name, value, person_name, person_email, written_name,"
                " kind, copied) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
                counts.trailers,
            )
        if counts.patch_files:
            # A path a message's diffs touch twice keeps its last row, in that row's place, as INSERT OR
            # REPLACE kept it; but a REPLACE may delete rows, so SQLite journals every page each statement
            # changes, in a temporary file: 1.5 GiB of writes per 20,000 messages into a 200,000-message
            # database. An upsert changes one row and needs no such journal.
            last = {(row[0], row[1]): row for row in counts.patch_files}
            self.conn.executemany(
                "INSERT INTO patch_files(message_id, path, subsystem, added, removed) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(message_id, path) DO UPDATE SET subsystem=excluded.subsystem, added=excluded.added,"
                " removed=excluded.removed",
                [row for row in counts.patch_files if last[(row[0], row[1])] is row],
            )

    def refresh_threads(self, thread_ids: set[int], now: str) -> None:
        """Recompute the summary row of each thread in ``thread_ids``."""
        ids = sorted(thread_ids)
        for chunk, marks in in_chunks(ids):
            self.conn.execute(
                f"""
                UPDATE threads SET
                  message_count = (SELECT count(*) FROM messages m WHERE m.thread_id = threads.thread_id
                                   AND m.ghost = 0),
                  ghost_count = (SELECT count(*) FROM messages m WHERE m.thread_id = threads.thread_id
                                 AND m.ghost = 1),
                  first_date = (SELECT min(date) FROM messages m WHERE m.thread_id = threads.thread_id
                                AND m.ghost = 0),
                  last_date = (SELECT max(date) FROM messages m WHERE m.thread_id = threads.thread_id
                               AND m.ghost = 0),
                  participant_count = (SELECT count(DISTINCT from_email) FROM messages m
                                       WHERE m.thread_id = threads.thread_id AND m.ghost = 0),
                  has_patch = coalesce((SELECT max(is_patch) FROM messages m
                                        WHERE m.thread_id = threads.thread_id AND m.ghost = 0), 0),
                  lists = (SELECT json_group_array(list_id) FROM (SELECT DISTINCT p.list_id FROM provenance p
                           JOIN messages m ON m.message_id = p.message_id
                           WHERE m.thread_id = threads.thread_id AND p.list_id IS NOT NULL ORDER BY 1)),
                  changed_at = ?,
                  revision = coalesce(revision, 0) + 1
                WHERE thread_id IN ({marks})
                """,
                [now, *chunk],
            )
            self._refresh_roots(chunk, marks)
            self._link_trailers(chunk, marks)

    def _refresh_roots(self, thread_ids: list[int], marks: str) -> None:
        """Root, subject and year of each thread: its earliest message (the subject) and the stored message
        up that one's parent chain (the root). The earliest messages of all ``thread_ids`` are read at once."""
        conn = self.conn
        roots = []
        for thread_id, earliest, parent_id, subject, base_subject, date in conn.execute(
                "SELECT thread_id, message_id, parent_id, subject, base_subject, date FROM (SELECT thread_id,"
                " message_id, parent_id, subject, base_subject, date, row_number() OVER (PARTITION BY thread_id"
                f" ORDER BY date IS NULL, date, rowid) AS place FROM messages WHERE thread_id IN ({marks}) AND ghost=0)"
                " WHERE place=1", thread_ids).fetchall():
            root, seen = earliest, {earliest}
            while parent_id:
                if parent_id in seen:  # a reply cycle (A answers B, B answers A): its earliest message is the root
                    root = earliest
                    break
                stored = conn.execute("SELECT thread_id, parent_id FROM messages WHERE message_id=?",
                                      (parent_id,)).fetchone()
                if stored is None:
                    break
                root = parent_id
                seen.add(root)
                parent_id = stored[1] if stored[0] == thread_id else None  # the chain goes on in this thread only
            roots.append((root, subject, base_subject, int(date[:4]) if date else None, thread_id))
        conn.executemany("UPDATE threads SET root_message_id=?, subject=?, base_subject=?, year=? WHERE thread_id=?",
                         roots)

    def _link_trailers(self, thread_ids: list[int], marks: str) -> None:
        """Say which patch each trailer of the threads applies to (see :func:`miner.trailers.trailer_targets`).

        Each statement reads or writes the trailers of all ``thread_ids`` (``marks``: their "?,?,..."),
        in the order one thread at a time gave: per thread, five statements took 0.5 CPU s of the
        writer for the 3,612 threads an ingest of the btrfs mbox touches.
        """
        conn = self.conn
        rows, copied = [], []
        for row in conn.execute(
                "SELECT m.thread_id, t.id, t.message_id, t.position, t.name, t.value, t.person_name, t.person_email,"
                " t.written_name, t.kind, t.applies_to, t.applies_via, coalesce(t.copied, 0) FROM trailers t"
                f" JOIN messages m ON m.message_id = t.message_id WHERE m.thread_id IN ({marks})"
                " ORDER BY m.thread_id, m.rowid, t.id", thread_ids):
            if row[-1] == 0:
                rows.append(row[:-1])
            elif row[-1] == 1:
                copied.append((row[1],))
        conn.executemany("DELETE FROM trailers WHERE id=?", copied)  # the copies are made anew
        if not rows:
            return
        with_trailers = sorted({row[0] for row in rows})  # no more than thread_ids
        messages: dict[int, dict[str, ThreadMessage]] = {thread_id: {} for thread_id in with_trailers}
        for thread_id, *message in conn.execute(
                "SELECT m.thread_id, m.message_id, m.parent_id, m.subject, m.patch_index, m.patch_total,"
                " EXISTS (SELECT 1 FROM patch_files f WHERE f.message_id = m.message_id)"
                f" FROM messages m WHERE m.thread_id IN ({','.join('?' * len(with_trailers))}) AND m.ghost=0",
                with_trailers):
            messages[thread_id][message[0]] = ThreadMessage(*message[:5], bool(message[5]))
        changed, copies = [], []
        for thread_id, *row in rows:
            via, patches = trailer_targets(messages[thread_id], row[1], row[3])
            first = patches[0] if patches else None
            if (row[9], row[10]) != (first, via or None):
                changed.append((first, via or None, row[0]))
            copies += [(*row[1:9], patch, via) for patch in patches[1:]]
        conn.executemany("UPDATE trailers SET applies_to=?, applies_via=? WHERE id=?", changed)
        conn.executemany(
            "INSERT INTO trailers(message_id, position, name, value, person_name, person_email, written_name,"
            " kind, applies_to, applies_via, copied) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)", copies)

    # -- reading ---------------------------------------------------------------------------

    def thread_of(self, message_id: str) -> int | None:
        """Thread id of a message (real or ghost), or None."""
        row = self.conn.execute(
            "SELECT thread_id FROM messages WHERE message_id=?", (clean_message_id(message_id),)
        ).fetchone()
        return row[0] if row else None

    def raw_message(self, message_id: str) -> bytes | None:
        """The stored raw bytes of a message, byte for byte (see :func:`miner.textstore.raw_bytes`)."""
        return textstore.raw_bytes(self.conn, clean_message_id(message_id), self.text_reader)




def _cascades(table) -> bool:
    """True for a table whose rows are derived from one thread (see schema.CASCADING_PARENT)."""
    return table.of_thread


def _names_sql(names) -> str:
    """Column or table names quoted for SQL and separated by commas ("a", "b")."""
    return ", ".join(f'"{name}"' for name in names)


def _column_sql(column) -> str:
    """A column's definition, as CREATE TABLE and ALTER TABLE ADD COLUMN take it."""
    generated = f" GENERATED ALWAYS AS ({column.generated}) VIRTUAL" if column.generated else ""
    return f'"{column.name}" {column.type}{generated}'


def _create_table_sql(table) -> str:
    """CREATE TABLE for ``table``, its thread foreign key ON DELETE CASCADE."""
    parts = [_column_sql(column) for column in table.columns]
    pk = (table.pk,) if isinstance(table.pk, str) else tuple(table.pk or ())
    if pk:
        parts.append(f"PRIMARY KEY ({_names_sql(pk)})")
    for column, other, other_column in table.foreign_keys:
        cascade = " ON DELETE CASCADE" if (other, other_column) == CASCADING_PARENT else ""
        parts.append(f'FOREIGN KEY ("{column}") REFERENCES "{other}"("{other_column}"){cascade}')
    return (f'CREATE TABLE "{table.name}" (\n   ' + ",\n   ".join(parts) + "\n)"
            + (" WITHOUT ROWID" if table.without_rowid else ""))


class _Checkpointer(threading.Thread):
    """Folds the write-ahead log into the database file on a connection of its own, while the writer goes on.

    With SQLite's automatic checkpoint the writer's commit copies the log into the file itself: about
    0.6 s at every 8,000 pages (128 MiB) of an ingest, a pause of the storing process while the parser
    processes wait for it. A PASSIVE checkpoint from another connection takes no lock the writer needs,
    and Python's sqlite3 lets go of the GIL while it runs. The log is folded after every
    CHECKPOINT_BATCHES batches; Store.close folds the rest (and truncates the file).
    """

    def __init__(self, path: Path):
        super().__init__(name="wal-checkpoint", daemon=True)
        self.path = path
        self.wake = threading.Event()
        self.stopping = False
        self.folds = 0  # checkpoints run

    def run(self) -> None:
        conn = sqlite3.connect(self.path)
        try:
            while True:
                self.wake.wait()
                self.wake.clear()
                if self.stopping:
                    return
                with contextlib.suppress(sqlite3.Error):  # a busy or failing fold waits for the next one
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.folds += 1
        finally:
            conn.close()

    def stop(self) -> None:
        """End the thread (after a fold it is in the middle of)."""
        self.stopping = True
        self.wake.set()
        self.join()


class PendingBlocks(NamedTuple):
    """Mails placed in blocks whose compression has started (see :func:`_start_blocks`)."""

    places: list[tuple[int, int, int]]  # (block, offset, length) of each mail
    frames: list[tuple[int, Future]]  # (block id, its zstd frame to come)


def _start_blocks(conn: sqlite3.Connection, mails: list[bytes], threads: list[int] | None = None) -> PendingBlocks:
    """Place ``mails`` in blocks of up to textstore.BLOCK_BYTES numbered after the last stored one, and
    start compressing them in the background; :func:`_finish_blocks` stores them in the same transaction.

    ``threads``: the thread of each mail; the mails of a thread then stand one after the other, in their
    order (replies quote what they answer: the btrfs epoch's blocks at level 3 took 33,912,290 bytes in
    the order of the epoch, 33,345,121 so). The places are given in the order of ``mails``.

    The numbers are the ones SQLite would give the rows (the largest block_id plus one), and no other
    writer can take them first: once this transaction writes, none has committed since it began.
    """
    next_id = conn.execute("SELECT coalesce(max(block_id), 0) + 1 FROM mail_blocks").fetchone()[0]
    places: list[tuple[int, int, int]] = [(0, 0, 0)] * len(mails)
    frames: list[tuple[int, Future]] = []
    block: list[bytes] = []
    size = 0
    for index in sorted(range(len(mails)), key=threads.__getitem__) if threads else range(len(mails)):
        mail = mails[index]
        places[index] = (next_id + len(frames), size, len(mail))
        block.append(mail)
        size += len(mail)
        if size >= textstore.BLOCK_BYTES:
            frames.append((next_id + len(frames), textstore.compress_block_soon(block)))
            block, size = [], 0
    if block:
        frames.append((next_id + len(frames), textstore.compress_block_soon(block)))
    return PendingBlocks(places, frames)


def _finish_blocks(conn: sqlite3.Connection, pending: PendingBlocks) -> None:
    """Store the blocks :func:`_start_blocks` began (waiting for their compression to end)."""
    conn.executemany("INSERT INTO mail_blocks(block_id, data) VALUES (?, ?)",
                     [(block_id, frame.result()) for block_id, frame in pending.frames])


def _write_blocks(conn: sqlite3.Connection, mails: list[bytes]) -> list[tuple[int, int, int]]:
    """Store ``mails`` in mail_blocks (up to textstore.BLOCK_BYTES each); (block, offset, length) of each."""
    pending = _start_blocks(conn, mails)
    _finish_blocks(conn, pending)
    return pending.places


_DAMAGED = "the database file is damaged ({}); restore a copy, or build a new database with 'miner ingest'"
_STORAGE_PROBLEMS = ("disk is full", "malformed", "not a database", "corrupt", "i/o error", "unable to open")


def is_storage_error(error: sqlite3.Error) -> bool:
    """True when SQLite failed because of the file or the disk, not because of the SQL it was given."""
    return any(problem in str(error).lower() for problem in _STORAGE_PROBLEMS)


def database_error(db_path: str | Path, error: sqlite3.Error) -> MinerError:
    """One line a user can act on for an SQLite failure on ``db_path`` (disk full, damaged file, I/O)."""
    text = str(error)
    lowered = text.lower()
    if "disk is full" in lowered:
        return MinerError(f"{db_path}: disk full ({text}); free some space and run the command again")
    if "malformed" in lowered or "not a database" in lowered or "corrupt" in lowered:
        return MinerError(f"{db_path}: {_DAMAGED.format(text)}")
    if "locked" in lowered or "busy" in lowered:
        return MinerError(f"{db_path}: the database is locked by another process ({text}); try again when it is done")
    if "unable to open" in lowered or "readonly" in lowered or "i/o error" in lowered:
        return MinerError(f"{db_path}: cannot read or write the database file ({text})")
    return MinerError(f"{db_path}: SQLite error: {text}")


def check_integrity(conn: sqlite3.Connection, db_path: Path) -> None:
    """``PRAGMA quick_check``: refuse to write into a damaged database (writing would damage it more)."""
    try:
        problems = [line for row in conn.execute("PRAGMA quick_check(1)") for line in str(row[0]).splitlines()
                    if not line.startswith("***")]  # "*** in database main ***" heads the list of problems
    except sqlite3.DatabaseError as error:
        raise database_error(db_path, error) from error
    if problems != ["ok"]:
        raise MinerError(f"{db_path}: {_DAMAGED.format('quick_check: ' + problems[0])}")


def store_on(conn: sqlite3.Connection) -> Store:
    """A Store over a connection opened elsewhere (Datasette's read-only one): nothing is created or migrated."""
    return Store(conn, None)


def open_store(path: str | Path | None = None, create: bool = True, check: bool = False) -> Store:
    """Open (and if needed create) the database at ``path`` with WAL and foreign keys on.

    ``check`` runs ``PRAGMA quick_check`` on an existing database first: commands that write ask for it.
    """
    db_path = Path(path) if path else DEFAULT_DB
    existed = db_path.exists()
    if not create and not existed:
        raise MinerError(f"{db_path}: no such database (run 'miner ingest' or 'miner demo' first)")
    if create:
        try:
            db_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise MinerError(f"{db_path}: cannot create its folder {db_path.parent}"
                             f" ({error.strerror or error})") from error
    if existed and db_path.is_dir():
        raise MinerError(f"{db_path}: is a directory, not a database file")
    if not create and db_path.stat().st_size == 0:  # SQLite would happily make a schema in it
        raise MinerError(f"{db_path}: empty file, not a database (run 'miner ingest' or 'miner demo' first)")
    try:
        conn = sqlite3.connect(str(db_path), timeout=30)
    except sqlite3.Error as error:
        raise database_error(db_path, error) from error
    try:
        if not create and not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'threads'").fetchone():
            raise MinerError(f"{db_path}: an SQLite file without lkml-miner's tables (run 'miner ingest' or"
                             " 'miner demo' to build a database)")
        if check and existed:
            textstore.register_check_stubs(conn)
            check_integrity(conn, db_path)
        conn.execute("PRAGMA page_size=16384")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA cache_size=-8192")  # 8 MiB page cache (an ingest takes more: BATCH_PRAGMAS)
        store = Store(conn, db_path)
        store.ensure_schema()
        if store.migrated_texts:
            conn.execute("VACUUM")  # the migration freed about two thirds of the file
    except sqlite3.DatabaseError as error:
        conn.close()
        if "not a database" in str(error):
            raise MinerError(f"{db_path}: not a usable SQLite database ({error})") from error
        raise database_error(db_path, error) from error
    except BaseException:
        conn.close()
        raise
    return store
