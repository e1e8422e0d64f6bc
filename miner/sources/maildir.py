"""Maildir folders (cur/, new/)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from miner.model import Provenance, RawMail


def is_maildir(path: Path) -> bool:
    """True for a directory with the Maildir cur/ and new/ subdirectories."""
    return (path / "cur").is_dir() and (path / "new").is_dir()


def read_maildir(path: Path) -> Iterator[RawMail]:
    """Yield every message of the Maildir, keyed by its unique name."""
    for sub in ("new", "cur"):
        for entry in sorted((path / sub).iterdir()):
            if entry.is_file() and not entry.name.startswith("."):
                key = entry.name.split(":2,")[0]
                yield RawMail(entry.read_bytes(), Provenance("maildir", str(path), f"{sub}/{key}"))
