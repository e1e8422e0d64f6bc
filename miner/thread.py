"""Threading: which thread each message joins, decided as public-inbox's OverIdx.pm decides it.

Pure: no SQLite here. The store looks up what the database already holds for a batch's
Message-IDs (``Known`` rows), this module decides, and the store persists the decisions.

The model, as public-inbox's: every Message-ID resolves to a thread; a Message-ID only
referenced (In-Reply-To, References) and never seen is a *ghost* in that thread, so a parent
that arrives late finds its children. A message links all its references: when they resolve to
different threads those threads merge into one. Invariants: a thread id, once given, is kept by
the thread it names until that thread merges into another (the lower id survives, unless the
message was waited for as a ghost: then the ghost's thread survives); every Message-ID a message
references belongs to that message's thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

# What happened to a message of the batch (the store counts and writes by it)
NEW = "new"  # never seen nor referenced before
VIVIFIED = "vivified"  # referenced earlier in this batch (a ghost queued here), now seen
FILLED = "filled"  # a ghost stored by an earlier batch, now seen
COPY = "copy"  # already stored: only another copy of it (another list, file or commit)


class Known(NamedTuple):
    """What the database already holds for a Message-ID."""

    thread_id: int
    ghost: bool


@dataclass
class Ghost:
    """A Message-ID referenced but not seen: a row in its thread, waiting for the message."""

    message_id: str
    thread_id: int
    parent_id: str | None


@dataclass
class Placement:
    """Where one message of the batch goes."""

    message_id: str
    thread_id: int
    outcome: str  # NEW, VIVIFIED, FILLED or COPY


@dataclass
class BatchThreading:
    """The threading decisions for one batch, made against what the database holds (``known``).

    ``next_thread_id`` is the first id free for new threads. After :meth:`link` has placed every
    message, ``new_threads``, ``merged``, ``ghosts`` and ``placements`` say what to write; thread
    ids in them are final (merges already followed).
    """

    known: dict[str, Known]
    next_thread_id: int
    new_threads: list[int] = field(default_factory=list)
    merged: dict[int, int] = field(default_factory=dict)  # thread merged away -> the thread it joined
    ghosts: dict[str, Ghost] = field(default_factory=dict)
    placements: list[Placement] = field(default_factory=list)

    def resolve(self, message_id: str) -> Known | None:
        """The thread (and ghost state) of a Message-ID, as of the decisions made so far."""
        return self.known.get(message_id)

    def new_thread(self) -> int:
        """A new thread id."""
        thread_id = self.next_thread_id
        self.next_thread_id += 1
        self.new_threads.append(thread_id)
        return thread_id

    def create_ghost(self, message_id: str, thread_id: int, parent_id: str | None) -> None:
        """A referenced Message-ID not seen yet becomes a ghost of ``thread_id``."""
        self.ghosts[message_id] = Ghost(message_id, thread_id, parent_id)
        self.known[message_id] = Known(thread_id, True)

    def merge_threads(self, winner: int, loser: int) -> None:
        """Thread ``loser`` joins ``winner``: everything decided for it follows."""
        if winner == loser:
            return
        self.merged[loser] = winner
        for earlier, joined in self.merged.items():
            if joined == loser:
                self.merged[earlier] = winner
        for message_id, known in self.known.items():
            if known.thread_id == loser:
                self.known[message_id] = Known(winner, known.ghost)
        for ghost in self.ghosts.values():
            if ghost.thread_id == loser:
                ghost.thread_id = winner
        for placement in self.placements:
            if placement.thread_id == loser:
                placement.thread_id = winner

    def link(self, message_id: str, parent_ids: tuple[str, ...], alias_ids: tuple[str, ...] = ()) -> Placement:
        """Place one message: its thread from its own ghost or its references, merging the threads
        those resolve to, with ghosts for references (and its other Message-IDs) not seen yet.

        ``parent_ids`` are oldest first, ending with the direct parent; each ghost's parent is the
        reference before it, as References lists them.
        """
        own = self.resolve(message_id)
        if own is not None and not own.ghost:
            placement = Placement(message_id, own.thread_id, COPY)
            self.placements.append(placement)
            return placement
        linked = {known.thread_id for mid in (*parent_ids, *alias_ids) if (known := self.resolve(mid))}
        if own is not None:  # waited for as a ghost: its thread keeps its id
            thread_id = own.thread_id
        elif linked:
            thread_id = min(linked)
        else:
            thread_id = self.new_thread()
        for other in sorted(linked - {thread_id}):
            self.merge_threads(thread_id, other)
        previous = None
        for parent_id in parent_ids:
            if self.resolve(parent_id) is None:
                self.create_ghost(parent_id, thread_id, previous)
            previous = parent_id
        for alias_id in alias_ids:  # under the message itself, so replies to it find this thread
            if self.resolve(alias_id) is None:
                self.create_ghost(alias_id, thread_id, message_id)
        if own is None:
            outcome = NEW
        elif self.ghosts.pop(message_id, None) is not None:
            outcome = VIVIFIED
        else:
            outcome = FILLED
        self.known[message_id] = Known(thread_id, False)
        placement = Placement(message_id, thread_id, outcome)
        self.placements.append(placement)
        return placement

    def final_thread(self, thread_id: int) -> int:
        """The thread ``thread_id`` ended up in after this batch's merges."""
        return self.merged.get(thread_id, thread_id)

    def surviving_new_threads(self) -> list[int]:
        """New thread ids that were not merged away within the batch."""
        return [thread_id for thread_id in self.new_threads if thread_id not in self.merged]
