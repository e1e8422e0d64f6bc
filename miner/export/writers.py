"""Writers of exported tables (CSV, JSON Lines, Parquet) and of the mbox of raw mail (mboxrd)."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

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


def write_parquet(path: Path, columns: list[str], rows: Iterable[tuple], table_name: str) -> int:
    """Rows as a Parquet file typed from the schema: lists as list<string>, dates as UTC timestamps, counts int64."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    by_name = {column.name: column for column in TABLES_BY_NAME[table_name].columns}
    schema = pa.schema([
        pa.field(name, parquet_type(table_name, name), metadata={"description": by_name[name].description})
        for name in columns
    ], metadata={"description": TABLES_BY_NAME[table_name].description})
    data = list(rows)
    arrays = [pa.array([_parquet_value(row[index], field.type) for row in data], type=field.type)
              for index, field in enumerate(schema)]
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), path)
    return len(data)


def write_table(fmt: str, path: Path, columns: list[str], rows: Iterable[tuple], table_name: str) -> int:
    """Write rows of ``table_name`` in ``fmt`` (one of TABLE_FORMATS); returns the row count."""
    if fmt == "csv":
        return write_csv(path, columns, rows)
    if fmt == "jsonl":
        return write_jsonl(path, columns, rows)
    return write_parquet(path, columns, rows, table_name)


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
