"""Dataclasses that cross stage boundaries: parse -> thread -> store -> classify."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


class BodyLine(NamedTuple):
    """One line of a decoded body, with what kind of text it is.

    ``kind`` is ``prose`` (new text by the author), ``quote`` (a ``>``-quoted
    line, ``depth`` is the number of ``>`` marks) or ``diff`` (inside a diff
    hunk or its file headers, ``path`` is the file it touches).
    """

    number: int
    text: str
    kind: str
    depth: int = 0
    path: str | None = None


class PatchFile(NamedTuple):
    """A file touched by a diff in a message, with its added/removed line counts."""

    path: str
    added: int = 0
    removed: int = 0


class Trailer(NamedTuple):
    """A ``Key: value`` trailer such as ``Signed-off-by`` or ``Fixes`` (see :mod:`miner.trailers`).

    ``name`` is the canonical spelling, ``written_name`` the name as the author typed it; ``kind``
    is ``person`` (the value names someone), ``utility`` (Fixes, Link, a URL...) or ``unknown``
    (another ``Name: value`` line inside a block of trailers).
    """

    name: str
    value: str
    person_name: str | None = None
    person_email: str | None = None
    written_name: str | None = None
    kind: str | None = None


@dataclass
class Message:
    """One parsed e-mail message."""

    message_id: str
    subject: str
    base_subject: str
    from_name: str | None
    from_email: str | None
    date: str | None
    date_flagged: bool
    in_reply_to: str | None
    references: list[str]
    list_id: str | None
    body: str
    patch_tags: list[str] = field(default_factory=list)
    patch_version: int | None = None
    patch_index: int | None = None
    patch_total: int | None = None
    is_patch: bool = False
    trailers: list[Trailer] = field(default_factory=list)
    patch_files: list[PatchFile] = field(default_factory=list)
    prose: str = ""
    message_id_synthetic: bool = False
    notes: list[str] = field(default_factory=list)  # what parsing cut or guessed (limits.py)
    date_precision: str = "second"  # "day" when the source shows only the day (an archive thread page)
    alias_ids: list[str] = field(default_factory=list)  # a second Message-ID, X-Alt-Message-ID

    @property
    def parent_ids(self) -> list[str]:
        """Ancestors of this message, oldest first, ending with the direct parent."""
        parents = list(self.references)
        if self.in_reply_to and self.in_reply_to not in parents:
            parents.append(self.in_reply_to)
        return [p for p in parents if p != self.message_id]

    @property
    def parent_id(self) -> str | None:
        """The direct parent: In-Reply-To, else the last of References."""
        if self.in_reply_to and self.in_reply_to != self.message_id:
            return self.in_reply_to
        parents = self.parent_ids
        return parents[-1] if parents else None


class Provenance(NamedTuple):
    """Where one copy of a message came from."""

    source_type: str  # mbox, maildir, eml, public-inbox, archive-page, lore, url...
    location: str  # file path, URL or git repository
    position: str | None = None  # mbox offset, git commit, Maildir key
    list_id: str | None = None
    fetched_at: str | None = None


@dataclass(frozen=True)
class Skipped:
    """An input that is not a message but is counted (e.g. a commit without a message blob)."""

    commit: str
    reason: str


@dataclass(frozen=True)
class RawMail:
    """Bytes of one message as read from a source, before parsing."""

    raw: bytes
    provenance: Provenance
    archive_date: str | None = None  # used when the Date header is unparsable
    parsed: Message | None = None  # set by sources that build the Message themselves
    problem: str | None = None  # set by a source that could not read the message whole: a reject
    notes: tuple[str, ...] = ()  # what the source noticed (kept on the stored message)
    date_precision: str | None = None  # "day" when the source knows only the day (Date says 00:00 UTC)
