"""Readers of local archives: each format finds its mail under a path and yields it as streams.

One table (FORMATS) says what each format is and how it is read; one walker (:func:`streams`)
goes through folders. A stream is what ingest reads: :class:`~miner.model.RawMail` items (or
``Skipped`` ones, counted), from a resume cursor where the format has one (a public-inbox
epoch's last commit). The network side (polite HTTP, the raw cache, lore, legacy web archives,
scrape runs) is :mod:`miner.fetch`: it builds on the same RawMail and stores through the same ingest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from miner.errors import MinerError
from miner.model import RawMail, Skipped
from miner.sources import archive_text, eml, maildir, mbox, publicinbox

MBOX_NAMES = (".mbox", ".mbox.gz", ".mboxrd", ".mboxrd.gz", ".mbx")
HEAD_BYTES = 8192  # what format detection reads of a file


@dataclass(frozen=True)
class MailStream:
    """One stream of mail found under an input: a file, a Maildir or a public-inbox epoch.

    ``read(cursor, deferred)`` yields its items from ``cursor`` (None: from the start); with
    ``deferred`` a format may yield references that parser processes read themselves
    (:func:`fetch_deferred`). ``state_key`` names where the cursor is kept (None: no cursor; the
    whole stream is read again and known messages are recognised as such).
    """

    format: str
    location: Path
    read: Callable[[str | None, bool], Iterable]
    state_key: str | None = None
    size: int | None = None  # bytes the stream holds, when its progress is told in bytes (an mbox)
    bytes_read: Callable[[str | None], int] | None = None  # (a message's position) -> bytes read up to it


@dataclass(frozen=True)
class Format:
    """A local archive format: how to recognise it and the streams it holds."""

    name: str
    is_folder: bool  # a folder format: the walker does not look inside it
    matches: Callable[[Path, bytes], bool]  # (path, first bytes of a file; b"" for a folder)
    streams: Callable[[Path], list[MailStream]]


def _file_stream(name: str, reader: Callable[[Path], Iterator[RawMail]]) -> Callable[[Path], list[MailStream]]:
    return lambda path: [MailStream(name, path, lambda cursor, deferred: reader(path))]


def mbox_stream(path: Path) -> MailStream:
    """An mbox file: its progress is the bytes of the file read so far."""
    mbox_file = mbox.MboxFile(path)
    return MailStream("mbox", path, lambda cursor, deferred: mbox_file.messages(), size=mbox_file.size,
                      bytes_read=mbox_file.bytes_read)


def epoch_stream(epoch: Path, list_id: str | None = None) -> MailStream:
    """A public-inbox epoch, resumed after the last commit stored; deferred: commit references."""
    def read(after: str | None, deferred: bool) -> Iterable:
        if deferred:
            return publicinbox.commit_refs(epoch, after, list_id)
        return publicinbox.read_epoch(epoch, after, list_id)

    return MailStream("public-inbox", epoch, read, publicinbox.state_key(epoch))


FORMATS: tuple[Format, ...] = (
    Format("public-inbox", True, lambda path, head: publicinbox.is_epoch(path) or publicinbox.is_inbox(path),
           lambda path: [epoch_stream(epoch) for epoch in publicinbox.epochs(path)]),
    Format("maildir", True, lambda path, head: maildir.is_maildir(path), _file_stream("maildir", maildir.read_maildir)),
    Format("mbox", False, lambda path, head: path.name.lower().endswith(MBOX_NAMES) or mbox.looks_like_mbox(head),
           lambda path: [mbox_stream(path)]),
    Format("archive-page", False, lambda path, head: archive_text.looks_like_archive_page(head),
           _file_stream("archive-page", archive_text.read_archive_page)),
    Format("eml", False, lambda path, head: path.name.lower().endswith(".eml") or eml.looks_like_message(head),
           _file_stream("eml", eml.read_eml)),
)
UNKNOWN = "unknown format (expected mbox, Maildir, .eml, public-inbox git or archive page text)"


def _format_of(path: Path) -> Format | None:
    if path.is_dir():
        return next((f for f in FORMATS if f.is_folder and f.matches(path, b"")), None)
    with open(path, "rb") as handle:
        head = handle.read(HEAD_BYTES)
    return next((f for f in FORMATS if not f.is_folder and f.matches(path, head)), None)


def detect_format(path: Path) -> str:
    """Name the format of ``path``: mbox, maildir, eml, public-inbox, archive-page or directory."""
    if not path.exists():
        raise MinerError(f"{path}: no such file or directory")
    found = _format_of(path)
    if found is not None:
        return found.name
    if path.is_dir():
        return "directory"
    raise MinerError(f"{path}: {UNKNOWN}")


def streams(path: Path) -> Iterator[MailStream]:
    """Every stream of mail under ``path``: the path's own format, or a folder's contents, recursively.

    A folder that is itself an archive (a Maildir, an epoch or inbox) is read as one and never
    entered as a plain folder, so no message is read twice. Files of no known format inside
    plain folders (README files and the like) are passed over; hidden names are not read.
    """
    found = _format_of(path)
    if found is not None:
        yield from found.streams(path)
        return
    if not path.is_dir():
        raise MinerError(f"{path}: {UNKNOWN}")
    for child in sorted(path.iterdir()):
        if child.name.startswith("."):
            continue
        if child.is_dir() or _format_of(child) is not None:
            yield from streams(child)


def read_path(path: Path) -> Iterator[RawMail | Skipped]:
    """Every message under ``path``, from the start (for tools and tests; ingest reads streams)."""
    for stream in streams(path):
        yield from stream.read(None, False)


def fetch_deferred(items: list) -> list:
    """``items`` with the deferred references a stream yielded replaced by what they refer to
    (run in a parser process: it reads git itself)."""
    refs = [item for item in items if isinstance(item, publicinbox.CommitRef)]
    if not refs:
        return items
    read = iter(publicinbox.read_commits(refs))
    return [next(read) if isinstance(item, publicinbox.CommitRef) else item for item in items]
