"""Writers of exported tables (CSV, JSON Lines, Hive-partitioned Parquet) and of the mbox of raw mail (mboxrd)."""

from __future__ import annotations

import csv
import itertools
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import quote

from miner.schema import TABLES_BY_NAME
from miner.utc import parse_utc

TABLE_FORMATS = ("csv", "jsonl", "parquet")
MBOX_SEPARATOR = b"From mboxrd@z Thu Jan  1 00:00:00 1970\n"
_FROM_LINE = re.compile(rb"^(>*From )", re.MULTILINE)


def write_csv(path: Path, columns: list[str], rows: Iterable[tuple]) -> int:
    """Rows as CSV with a header line (NULL as an empty cell); returns the row count."""
    count = 0
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def write_jsonl(path: Path, columns: list[str], rows: Iterable[tuple]) -> int:
    """One JSON object per row and line; returns the row count."""
    count = 0
    with path.open("w", encoding="utf-8") as stream:
        for row in rows:
            stream.write(json.dumps(dict(zip(columns, row)), ensure_ascii=False) + "\n")
            count += 1
    return count


# Parquet columns whose SQLite TEXT holds something richer: a JSON array of strings, or a UTC ISO 8601 date.
JSON_LIST_COLUMNS = {"lists", "labels", "patch_tags", "references", "notes", "subtypes", "locks", "functions",
                     "tools", "files", "subsystems"}
TIMESTAMP_COLUMNS = {"first_date", "last_date", "date", "changed_at", "added_at", "first_seen", "last_seen",
                     "fetched_at", "ingested_at", "classified_at", "first_report", "first_patch", "merged_at",
                     "built_at"}


def parquet_type(table_name: str, column_name: str):
    """The Arrow type of a column in the Parquet export: list<string>, timestamp[ms, UTC], int64, float64..."""
    import pyarrow as pa

    column = next(c for c in TABLES_BY_NAME[table_name].columns if c.name == column_name)
    if column.type == "TEXT" and column_name in JSON_LIST_COLUMNS:
        return pa.list_(pa.string())
    if column.type == "TEXT" and column_name in TIMESTAMP_COLUMNS:
        return pa.timestamp("ms", tz="UTC")  # what Parquet stores (it has no second unit)
    return {"INTEGER": pa.int64(), "REAL": pa.float64(), "TEXT": pa.string(), "BLOB": pa.binary()}[column.type]


def parquet_type_name(table_name: str, column_name: str) -> str:
    """The Parquet type of a column as the dataset card states it (list<string>, timestamp[ms, UTC], int64...)."""
    import pyarrow as pa

    arrow_type = parquet_type(table_name, column_name)
    if pa.types.is_list(arrow_type):
        return "list<string>"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp[ms, UTC]"
    return str(arrow_type)


def _parquet_value(value, arrow_type):
    """A stored value as the Parquet column wants it (JSON text -> list, ISO text -> datetime)."""
    import pyarrow as pa

    if value is None:
        return None
    if pa.types.is_list(arrow_type):
        items = json.loads(value) if isinstance(value, str) else value
        return [str(item) for item in items] if isinstance(items, list) else None
    if pa.types.is_timestamp(arrow_type):
        try:
            return parse_utc(value)
        except ValueError:
            return None  # not a date: NULL rather than a wrong one
    return value


def parquet_schema(table_name: str, columns: list[str]):
    """The Arrow schema of ``columns`` of ``table_name`` in a Parquet export, with the schema's descriptions."""
    import pyarrow as pa

    by_name = {column.name: column for column in TABLES_BY_NAME[table_name].columns}
    return pa.schema([
        pa.field(name, parquet_type(table_name, name), metadata={"description": by_name[name].description})
        for name in columns
    ], metadata={"description": TABLES_BY_NAME[table_name].description})


def _record_batch(schema, rows: list[tuple]):
    import pyarrow as pa

    arrays = [pa.array([_parquet_value(row[index], field.type) for row in rows], type=field.type)
              for index, field in enumerate(schema)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


# Hive partition keys of the Parquet export: the list a row belongs to and the UTC year (see docs/outputs.md).
PARTITION_FIELDS = (("list", "string"), ("year", "int64"))
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"  # Hive's name for a NULL key; DuckDB, Spark and pyarrow read it as NULL
PARQUET_BATCH_ROWS = 2_000  # rows converted and written at a time (one row group): memory stays flat
# ... or fewer, when their texts reach PARQUET_BATCH_CHARACTERS: 2,000 messages hold 16-25 MB of body and
# prose, which the conversion holds twice (Python's and Arrow's), and Arrow's allocator (mimalloc) keeps what
# it freed unless asked to give it back. The export of the btrfs epoch (19,979 messages) peaked at 260 MB
# PSS in batches of 2,000 rows, at 204-216 MB so; that of scale.py's 200,000 messages at 308 MB, 233-261 MB.
PARQUET_BATCH_CHARACTERS = 4 << 20
PARQUET_FILE_ROWS = 500_000  # a partition with more rows gets part-1, part-2, ... (files readers can split)


def partition_schema():
    """The Arrow schema of the Hive partition keys (``list=<list-id>/year=<yyyy>``)."""
    import pyarrow as pa

    return pa.schema([(name, getattr(pa, kind)()) for name, kind in PARTITION_FIELDS])


def hive_folder(keys: tuple) -> str:
    """``list=<list-id>/year=<yyyy>`` for partition key values, escaped as pyarrow's hive partitioning does."""
    return "/".join(f"{name}={HIVE_NULL if value is None else quote(str(value), safe='')}"
                    for (name, _), value in zip(PARTITION_FIELDS, keys))


def write_parquet_dataset(folder: Path, columns: list[str], rows: Iterable[tuple],
                          table_name: str) -> list[tuple[str, int]]:
    """Rows of ``table_name``, each led by its partition keys (list, year), as a Hive-partitioned Parquet dataset.

    Writes ``folder/list=<list-id>/year=<yyyy>/part-<i>.parquet``, the layout of
    ``pyarrow.dataset.write_dataset(..., partitioning_flavor="hive")``: the keys live in the path,
    not in the files. Rows must come sorted by partition; they are written in batches as they come,
    so memory stays flat however large the table (write_dataset itself would pull the rows from
    its own threads, which an SQLite cursor refuses). A table column named like a key
    (``threads.year``) is that key, read back from the path. Returns (path relative to
    ``folder.parent``, rows) of every file written.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    keys = len(PARTITION_FIELDS)
    schema = parquet_schema(table_name, [name for name in columns if name not in dict(PARTITION_FIELDS)])
    kept = [index for index, name in enumerate(columns) if name not in dict(PARTITION_FIELDS)]
    written: list[tuple[str, int]] = []
    writer, current, in_file = None, None, 0
    next_part: dict[tuple, int] = {}  # a partition met again (rows not sorted) gets a new file, never overwrites
    iterator = iter(rows)
    pool = pa.default_memory_pool()
    try:
        while chunk := _batch(iterator):
            for partition, group in itertools.groupby(chunk, key=lambda row: row[:keys]):
                group = [tuple(row[keys + index] for index in kept) for row in group]
                if partition != current or in_file >= PARQUET_FILE_ROWS:
                    part = next_part.get(partition, 0)
                    next_part[partition] = part + 1
                    if writer:
                        writer.close()
                    current, in_file = partition, 0
                    path = folder / hive_folder(partition) / f"part-{part}.parquet"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    writer = pq.ParquetWriter(path, schema)
                    written.append([str(path.relative_to(folder.parent)), 0])
                writer.write_batch(_record_batch(schema, group))
                pool.release_unused()  # Arrow's allocator (mimalloc) would keep what a batch took
                in_file += len(group)
                written[-1][1] += len(group)
    finally:
        if writer:
            writer.close()
    return [(name, count) for name, count in written]


def _batch(rows: Iterator[tuple]) -> list[tuple]:
    """The next rows to convert at once: PARQUET_BATCH_ROWS, or fewer that hold PARQUET_BATCH_CHARACTERS of text
    and bytes."""
    batch: list[tuple] = []
    size = 0
    for row in rows:
        batch.append(row)
        size += sum(len(value) for value in row if isinstance(value, (str, bytes)))
        if len(batch) >= PARQUET_BATCH_ROWS or size >= PARQUET_BATCH_CHARACTERS:
            break
    return batch


def write_table(fmt: str, path: Path, columns: list[str], rows: Iterable[tuple]) -> int:
    """Write rows in ``fmt`` (csv or jsonl: one file; Parquet is a partitioned dataset); returns the row count."""
    return write_csv(path, columns, rows) if fmt == "csv" else write_jsonl(path, columns, rows)


def mboxrd_entry(raw: bytes) -> bytes:
    """One mboxrd entry: separator, the mail with '>*From ' lines quoted once more, a blank line."""
    body = _FROM_LINE.sub(rb">\1", raw)
    if not body.endswith(b"\n"):
        body += b"\n"
    return MBOX_SEPARATOR + body + b"\n"


def read_mboxrd(data: bytes) -> Iterator[bytes]:
    """The mails of an mboxrd file written by :func:`write_mbox`, unquoted (the inverse of mboxrd_entry)."""
    if data.endswith(b"\n\n"):
        data = data[:-1]  # the blank line after the last mail
    for chunk in data.split(b"\n" + MBOX_SEPARATOR):
        if chunk.startswith(MBOX_SEPARATOR):
            chunk = chunk[len(MBOX_SEPARATOR):]
        if not chunk:
            continue
        yield re.sub(rb"^>(>*From )", rb"\1", chunk, flags=re.MULTILINE)


def write_mbox(path: Path, raw_mails: Iterable[bytes]) -> int:
    """Write raw mails as mboxrd (how public-inbox writes t.mbox); returns the message count."""
    count = 0
    with path.open("wb") as stream:
        for raw in raw_mails:
            stream.write(mboxrd_entry(raw))
            count += 1
    return count
