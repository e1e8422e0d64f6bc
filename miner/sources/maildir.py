"""Maildir folders (cur/, new/)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from miner.limits import MAX_MESSAGE_BYTES, REJECT_KEEP_BYTES
from miner.model import Provenance, RawMail


def read_bounded(path: Path, provenance: Provenance) -> RawMail:
    """A one-message file; one over MAX_MESSAGE_BYTES is a reject that keeps only its head."""
    size = path.stat().st_size
    if size <= MAX_MESSAGE_BYTES:
        return RawMail(path.read_bytes(), provenance)
    with open(path, "rb") as handle:
        head = handle.read(REJECT_KEEP_BYTES)
    return RawMail(head, provenance, problem=f"message of {size} bytes is over the limit of {MAX_MESSAGE_BYTES}")


def is_maildir(path: Path) -> bool:
    """True for a directory with the Maildir cur/ and new/ subdirectories."""
    return (path / "cur").is_dir() and (path / "new").is_dir()


def read_maildir(path: Path) -> Iterator[RawMail]:
    """Yield every message of the Maildir, keyed by its unique name."""
    for sub in ("new", "cur"):
        for entry in sorted((path / sub).iterdir()):
            if entry.is_file() and not entry.name.startswith("."):
                key = entry.name.split(":2,")[0]
                yield read_bounded(entry, Provenance("maildir", str(path), f"{sub}/{key}"))
