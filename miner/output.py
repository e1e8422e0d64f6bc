"""Render rows as a text table, CSV or JSON (shared by every command that prints rows)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys
from collections.abc import Collection, Sequence

FORMATS = ("table", "csv", "json", "jsonl")
MIN_CELL = 12  # a column shrunk to fit the terminal keeps at least this many characters
MAX_CELL = 80


def render(columns: Sequence[str], rows: Sequence[Sequence], fmt: str = "table", width: int | None = None,
           keep: Collection[str] = ()) -> str:
    """Rows as ``table`` (aligned text, at most ``width`` characters a line), ``csv``, ``json`` or ``jsonl``.

    Table columns named in ``keep`` (identifiers, links: text to paste) are never shortened to fit.

    CSV cells holding lists or objects are JSON (``["deadlock"]``), as in the jsonl and parquet exports.
    """
    if fmt == "json":
        return json.dumps([dict(zip(columns, row)) for row in rows], indent=2, ensure_ascii=False, default=str)
    if fmt == "jsonl":
        return "\n".join(json.dumps(dict(zip(columns, row)), ensure_ascii=False, default=str) for row in rows)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_csv_cell(value) for value in row] for row in rows])
        return buffer.getvalue().rstrip("\n")
    whole = [name in keep for name in columns]
    cells = [[_cell(value, whole=keep_it) for value, keep_it in zip(row, whole)] for row in rows]
    widths = [len(c) for c in columns]
    for row in cells:
        widths = [max(w, len(v)) for w, v in zip(widths, row)]
    if width:
        widths = _fit(widths, width, [name not in keep for name in columns])
    lines = ["  ".join(_clip(c, w).ljust(w) for c, w in zip(columns, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(_clip(v, w).ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def _fit(widths: list[int], width: int, shrinkable: list[bool]) -> list[int]:
    """Column widths shrunk, widest shrinkable first, until a line (two spaces between columns) fits ``width``."""
    widths = list(widths)
    candidates = [index for index, ok in enumerate(shrinkable) if ok]
    while candidates and sum(widths) + 2 * (len(widths) - 1) > width:
        widest = max(candidates, key=widths.__getitem__)
        if widths[widest] <= MIN_CELL:
            break
        widths[widest] -= 1
    return widths


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _csv_cell(value):
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return value


def _cell(value, whole: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, (list, dict)):
        value = json.dumps(value, ensure_ascii=False)
    text = " ".join(str(value).split())
    return text if whole or len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def terminal_width() -> int | None:
    """Columns of the terminal stdout writes to ($COLUMNS first); None when it is a pipe or a file (whole cells)."""
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None
