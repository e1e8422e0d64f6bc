"""Sources: each reads one kind of archive and yields :class:`~miner.model.RawMail`.

Local formats live here (mbox, Maildir, .eml, public-inbox git, archive-page text);
network archives (lore, legacy web archives) build on the same RawMail interface.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from miner.errors import MinerError
from miner.model import RawMail
from miner.sources import archive_text, eml, maildir, mbox, publicinbox


def detect_format(path: Path) -> str:
    """Name the format of ``path``: mbox, maildir, eml, public-inbox, archive-page or directory."""
    if not path.exists():
        raise MinerError(f"{path}: no such file or directory")
    if path.is_dir():
        if publicinbox.is_epoch(path) or publicinbox.is_inbox(path):
            return "public-inbox"
        if maildir.is_maildir(path):
            return "maildir"
        return "directory"
    head = _head(path)
    name = path.name.lower()
    if name.endswith((".mbox", ".mbox.gz", ".mboxrd", ".mboxrd.gz", ".mbx")) or mbox.looks_like_mbox(head):
        return "mbox"
    if archive_text.looks_like_archive_page(head):
        return "archive-page"
    if name.endswith(".eml") or eml.looks_like_message(head):
        return "eml"
    raise MinerError(f"{path}: unknown format (expected mbox, Maildir, .eml, public-inbox git or archive page text)")


def _head(path: Path, size: int = 8192) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(size)


def read_path(path: Path, format_name: str | None = None) -> Iterator[RawMail]:
    """Yield every message of ``path`` (recursing into plain directories)."""
    kind = format_name or detect_format(path)
    if kind == "mbox":
        yield from mbox.read_mbox(path)
    elif kind == "maildir":
        yield from maildir.read_maildir(path)
    elif kind == "eml":
        yield from eml.read_eml(path)
    elif kind == "archive-page":
        yield from archive_text.read_archive_page(path)
    elif kind == "directory":
        for child in sorted(path.rglob("*")):
            if child.is_file() and not any(part.startswith(".") for part in child.relative_to(path).parts):
                try:
                    child_kind = detect_format(child)
                except MinerError:
                    continue  # plain directories hold README files and the like
                yield from read_path(child, child_kind)
            elif child.is_dir() and (publicinbox.is_epoch(child) or maildir.is_maildir(child)):
                yield from read_path(child)
    else:
        raise MinerError(f"{path}: format {kind!r} is read by its own reader")
