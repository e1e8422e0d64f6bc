"""JSON Lines in and out of the classifier: the contract of ``miner tag`` and ``miner eval``.

Input: one JSON object per line with ``id``, ``subject`` and ``text`` (``eval`` also needs
``labels``, and reads ``borderline`` when present).  Blank lines are skipped.  The first bad
line stops the run with a MinerError naming the file and line number: ``tag`` output must
stay aligned with its input, so a line is never silently dropped.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from miner.classify.patterns import LABELS
from miner.classify.score import Result
from miner.errors import MinerError

EVIDENCE_PER_LABEL = 5  # evidence lines written per assigned label


@dataclass
class Item:
    """One message to classify, as read from a JSONL line."""

    id: Any
    subject: str
    text: str
    line_number: int
    labels: list[str] | None = None
    borderline: bool | None = None
    mailing_list: str | None = None  # the mailing list, when the file says (leave-one-list-out)


@contextmanager
def open_input(path: str) -> Iterator[IO[bytes]]:
    """Open ``path`` for reading bytes; ``-`` is standard input."""
    if path == "-":
        yield sys.stdin.buffer
        return
    try:
        handle = Path(path).open("rb")
    except OSError as error:
        raise MinerError(f"cannot read {path}: {error.strerror or error}") from None
    with handle:
        yield handle


def read_items(stream: IO[bytes], name: str, need_labels: bool = False) -> Iterator[Item]:
    """Items from a JSONL stream; raise MinerError at the first malformed line."""
    for line_number, raw in enumerate(stream, start=1):
        if not raw.strip():
            continue
        where = f"{name}:{line_number}"
        try:
            record = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise MinerError(f"{where}: not UTF-8 text") from None
        except json.JSONDecodeError as error:
            raise MinerError(f"{where}: not valid JSON ({error.msg} at column {error.colno})") from None
        yield parse_item(record, where, line_number, need_labels)


def parse_item(record: Any, where: str, line_number: int, need_labels: bool) -> Item:
    """Check one decoded JSON line against the contract and turn it into an Item."""
    if not isinstance(record, dict):
        raise MinerError(f"{where}: expected a JSON object with id, subject and text")
    if "id" not in record:
        raise MinerError(f"{where}: missing field 'id'")
    subject = record.get("subject")
    text = record.get("text")
    if subject is None:
        subject = ""
    if not isinstance(subject, str):
        raise MinerError(f"{where}: field 'subject' must be a string")
    if not isinstance(text, str):
        missing = "missing field 'text'" if text is None else "field 'text' must be a string"
        raise MinerError(f"{where}: {missing}")
    item = Item(record["id"], subject, text, line_number)
    if isinstance(record.get("list"), str):
        item.mailing_list = record["list"]
    if need_labels:
        labels = record.get("labels")
        if not isinstance(labels, list) or any(label not in LABELS for label in labels):
            raise MinerError(
                f"{where}: field 'labels' must be a list drawn from {', '.join(LABELS)}"
            )
        item.labels = sorted(set(labels))
        borderline = record.get("borderline")
        item.borderline = bool(borderline) if borderline is not None else None
    return item


def tag_record(item_id: Any, result: Result) -> dict[str, Any]:
    """The output object of ``miner tag`` for one item (field names are the contract)."""
    evidence = []
    for label in result.labels:
        for found in [e for e in result.evidence if e.label == label][:EVIDENCE_PER_LABEL]:
            evidence.append({
                "label": found.label,
                "pattern": found.pattern,
                "line": found.line,
                "text": found.text,
                "quoted": found.quoted,
            })
    return {
        "id": item_id,
        "labels": list(result.labels),
        "scores": {label: result.scores[label] for label in LABELS},
        "evidence": evidence,
    }


def tag_line(item_id: Any, result: Result) -> str:
    """One JSON line of ``miner tag`` output."""
    return json.dumps(tag_record(item_id, result))
