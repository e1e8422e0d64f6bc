"""Export a selection of threads: tables as CSV, JSON Lines or Parquet, or the raw mail as mbox.

Every export also writes ``README.md`` (a dataset card) and ``lineage.json`` (how it was made).
The threads are chosen exactly as ``miner threads`` chooses them (``miner.reading.list_threads``),
so the exported message count equals the sum of that command's ``messages`` column.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from miner.errors import MinerError
from miner.export.card import write_card
from miner.export.folder import check_target, staged_folder
from miner.export.pseudonym import Pseudonymizer, new_salt
from miner.export.writers import TABLE_FORMATS, write_mbox, write_parquet_dataset, write_table
from miner.reading import list_threads
from miner.schema import TABLES_BY_NAME
from miner.store import Store, in_chunks

EXPORT_FORMATS = (*TABLE_FORMATS, "mbox")
EXPORT_TABLES = ("threads", "messages", "labels", "evidence", "bugs")
ROW_ORDER = {
    "threads": "first_date, thread_id",
    "messages": "thread_id, date, rowid",
    "labels": "thread_id, label",
    "evidence": "thread_id, label, id",
    "bugs": "first_report, thread_id",
}


@dataclass(frozen=True)
class Selection:
    """Which threads to export (the same filters as ``miner threads``, plus a list)."""

    label: str | None = None
    since: str | None = None
    until: str | None = None
    list_id: str | None = None


@dataclass
class ExportedFile:
    """A file the export wrote."""

    name: str
    table: str
    rows: int


@dataclass
class ExportSummary:
    """What an export wrote, and from what."""

    out_dir: Path
    fmt: str
    selection: Selection
    pseudonymized: bool
    thread_ids: list[int]
    files: list[ExportedFile] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        """One line for the terminal."""
        counts = ", ".join(f"{count} {table}" for table, count in self.counts.items())
        return f"exported {counts} as {self.fmt} to {self.out_dir} (+ README.md, lineage.json)"

    def as_dict(self) -> dict:
        """JSON-ready form (for lineage.json)."""
        return {"format": self.fmt, "selection": asdict(self.selection), "pseudonymized": self.pseudonymized,
                "counts": self.counts, "files": [asdict(f) for f in self.files]}


def select_threads(store: Store, selection: Selection) -> list[int]:
    """Ids of the selected threads, oldest first."""
    threads = list_threads(store, selection.label, selection.since, selection.until)
    ids = [t["thread_id"] for t in threads]
    if selection.list_id and ids:
        wanted = set(store.conn.execute(
            "SELECT t.thread_id FROM threads t JOIN json_each(t.lists) AS list WHERE list.value = ?",
            (selection.list_id,),
        ).fetchall())
        ids = [thread_id for thread_id in ids if (thread_id,) in wanted]
    return sorted(ids)


def table_rows(store: Store, table: str, thread_ids: list[int]) -> tuple[list[str], Iterator[tuple]]:
    """Columns (from the schema) and rows of ``table`` for the given threads; real messages only."""
    columns = [column.name for column in TABLES_BY_NAME[table].exported_columns]
    quoted = ", ".join(f'"{name}"' for name in columns)
    ghost_filter = " AND ghost = 0" if table == "messages" else ""
    rows = store.conn.execute(
        f"SELECT {quoted} FROM {table} WHERE thread_id IN (SELECT value FROM json_each(?)){ghost_filter}"
        f" ORDER BY {ROW_ORDER[table]}",
        (json.dumps(thread_ids),),
    )
    return columns, rows


# The partition of a thread (and of its labels, evidence and bug record): the list and UTC year of its
# earliest real message, the one threads.first_date and threads.year come from. A thread that spans
# lists or years is filed once, there; threads.lists still names every list it reached.
THREAD_HOME = (
    "SELECT t.thread_id, t.year,"
    " (SELECT m.list_id FROM messages m WHERE m.thread_id = t.thread_id AND m.ghost = 0"
    "  ORDER BY m.date, m.rowid LIMIT 1) AS list"
    " FROM threads t WHERE t.thread_id IN (SELECT value FROM json_each(?))"
)


def partitioned_rows(store: Store, table: str, thread_ids: list[int]) -> tuple[list[str], Iterator[tuple]]:
    """Columns and rows of ``table`` as :func:`table_rows`, each row led by its Hive partition (list, year).

    Rows come partition by partition (then in the table's usual order). A message is filed under its
    own list (``list_id``) and the UTC year of its ``date``; every other table under its thread's
    partition (:data:`THREAD_HOME`), so a thread's labels, evidence and bug record sit beside it.
    """
    columns = [column.name for column in TABLES_BY_NAME[table].exported_columns]
    quoted = ", ".join(f'x."{name}"' for name in columns)
    order = ", ".join(f"x.{name.strip()}" for name in ROW_ORDER[table].split(","))
    if table == "messages":  # sorted by rowid alone, then read: SQLite would sort every body and prose
        year = "CAST(substr(x.date, 1, 4) AS INTEGER)"
        in_order = store.conn.execute(
            "SELECT x.rowid FROM messages x WHERE x.thread_id IN (SELECT value FROM json_each(?)) AND x.ghost = 0"
            f" ORDER BY x.list_id, {year}, {order}", (json.dumps(thread_ids),))
        return columns, _rows_by_rowid(store, f"SELECT x.rowid, x.list_id, {year} AS year, {quoted} FROM messages x",
                                       in_order)
    sql = (f"WITH home AS ({THREAD_HOME}) SELECT home.list, home.year, {quoted} FROM {table} x"
           f" JOIN home ON home.thread_id = x.thread_id ORDER BY home.list, home.year, {order}")
    return columns, store.conn.execute(sql, (json.dumps(thread_ids),))


ROWS_READ_AT_ONCE = 500  # rows of a table read by rowid at a time (_rows_by_rowid): bodies and prose held at once


def _rows_by_rowid(store: Store, select: str, rowids: sqlite3.Cursor) -> Iterator[tuple]:
    """The rows ``select`` (``SELECT x.rowid, ... FROM table x``) gives for each rowid of ``rowids``, in their
    order, without the rowid (a row gone meanwhile is left out): what an ``ORDER BY`` of the whole select
    gives, but SQLite's sorter holds the rowids and sort keys, not every body and prose, which it would write
    to temporary files beyond its memory (1,097 MiB at most for scale.py's 200,000 messages, the whole text
    of all of lore for lore). That export took 17.3-18.0 s so, 19.0-20.0 s sorting the rows (peak 256-261 MB
    PSS against 233-239 MB, goal 300)."""
    while chunk := [rowid for rowid, in rowids.fetchmany(ROWS_READ_AT_ONCE)]:
        found = {}
        for part, marks in in_chunks(chunk):  # under SQLite's variable limit whatever ROWS_READ_AT_ONCE is
            found.update((row[0], row[1:]) for row in store.conn.execute(f"{select} WHERE x.rowid IN ({marks})", part))
        yield from (found[rowid] for rowid in chunk if rowid in found)


def raw_mails(store: Store, thread_ids: list[int]) -> Iterator[bytes]:
    """The stored raw bytes of every real message of the threads, thread by thread, by date (one at a time:
    the mbox of a whole database is written, never held)."""
    message_ids = [row[0] for row in store.conn.execute(
        "SELECT message_id FROM messages WHERE thread_id IN (SELECT value FROM json_each(?)) AND ghost = 0"
        f" ORDER BY {ROW_ORDER['messages']}",
        (json.dumps(thread_ids),),
    )]
    for message_id in message_ids:
        raw = store.raw_message(message_id)
        if raw is None:
            raise MinerError(f"{message_id}: no raw mail stored, cannot write a byte-exact mbox")
        yield raw


def export_dataset(store: Store, out_dir: str | Path, fmt: str, selection: Selection = Selection(),
                   pseudonymize: bool = False, salt: str | None = None, command: str | None = None,
                   force: bool = False) -> ExportSummary:
    """Export the selected threads of ``store`` into ``out_dir`` in ``fmt``, with README.md and lineage.json.

    ``out_dir`` must be absent or empty unless ``force``, which replaces its whole content. The files
    are written into a hidden sibling folder that is renamed into place at the end, so an export
    that fails or is killed leaves the earlier content of ``out_dir`` as it was (or no ``out_dir``).
    """
    if fmt not in EXPORT_FORMATS:
        raise MinerError(f"{fmt}: unknown export format (choose from {', '.join(EXPORT_FORMATS)})")
    if fmt == "mbox" and pseudonymize:
        raise MinerError("--pseudonymize: not possible with --format mbox (the mbox holds the raw mail"
                         " byte for byte); use csv, jsonl or parquet")
    out = Path(out_dir)
    check_target(out, Path(store.path), force)
    thread_ids = select_threads(store, selection)
    with staged_folder(out) as staging:
        summary = ExportSummary(staging, fmt, selection, pseudonymize, thread_ids)
        _write_files(store, summary, salt)
        write_card(store, summary, command=command, salt_given=salt is not None)
    summary.out_dir = out
    return summary


def _write_files(store: Store, summary: ExportSummary, salt: str | None) -> None:
    """The data files of the export, into ``summary.out_dir``; fills ``summary.files`` and ``summary.counts``."""
    out, thread_ids = summary.out_dir, summary.thread_ids
    if summary.fmt == "mbox":
        count = write_mbox(out / "messages.mbox", raw_mails(store, thread_ids))
        summary.files.append(ExportedFile("messages.mbox", "messages", count))
        summary.counts = {"threads": len(thread_ids), "messages": count}
        return
    pseudonymizer = Pseudonymizer.from_database(store.conn, salt or new_salt()) if summary.pseudonymized else None
    for table in EXPORT_TABLES:
        if summary.fmt == "parquet":
            columns, rows = partitioned_rows(store, table, thread_ids)
            if pseudonymizer:
                rows = ((*row[:2], *pseudonymizer.row(table, columns, row[2:])) for row in rows)
            parts = write_parquet_dataset(out / table, columns, rows, table)
            summary.files += [ExportedFile(name, table, count) for name, count in parts]
            summary.counts[table] = sum(count for _, count in parts)
            continue
        columns, rows = table_rows(store, table, thread_ids)
        if pseudonymizer:
            rows = (pseudonymizer.row(table, columns, row) for row in rows)
        name = f"{table}.{summary.fmt}"
        count = write_table(summary.fmt, out / name, columns, rows)
        summary.files.append(ExportedFile(name, table, count))
        summary.counts[table] = count
