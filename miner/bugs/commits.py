"""Commits of a kernel git log and the messages they come from (pure: text in, dataclasses out).

``git log`` is read in one streaming process (:data:`GIT_LOG_FORMAT`, records split by
:func:`parse_git_log`); a commit is tied to a message by a ``Link:`` / ``Message-ID:`` trailer
(:func:`linked_message_ids`), or, without one, by the subject and author of a patch posted in
the thread's time window (:class:`PatchIndex`, the weaker match).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from miner.bugs.timeline import LINK_TRAILER, message_id_of_link
from miner.utc import parse_utc, utc_text

RECORD = "\x1e"
FIELD = "\x1f"
# sha, author name, author e-mail, author date, committer date, raw message
GIT_LOG_FORMAT = "%x1e%H%x1f%an%x1f%ae%x1f%aI%x1f%cI%x1f%B"
# git am keeps the mail's Date as the author date; a day either side covers time zones and resends
SUBJECT_MATCH_SLACK = timedelta(days=1)
SUBJECT_PREFIX = re.compile(r"^\s*(?:\[[^\]]*\]\s*)+")


@dataclass(frozen=True)
class GitCommit:
    """One commit as ``git log`` printed it."""

    sha: str
    author_name: str
    author_email: str
    author_date: str  # UTC, ISO 8601 with Z
    commit_date: str
    message: str

    @property
    def subject(self) -> str:
        """First line of the message."""
        return self.message.split("\n", 1)[0].strip()


def utc_iso(value: str) -> str:
    """``2021-03-07T10:49:21+01:00`` -> ``2021-03-07T09:49:21Z`` (the stored form of dates)."""
    try:
        return utc_text(parse_utc(value))
    except ValueError:
        return value.strip()


def parse_git_log(chunks: Iterable[str]) -> Iterator[GitCommit]:
    """Commits from the text of ``git log --format=GIT_LOG_FORMAT``, read chunk by chunk (any chunk size)."""
    pending = ""
    for chunk in chunks:
        pending += chunk
        records = pending.split(RECORD)
        pending = records.pop()
        for record in records:
            commit = _commit(record)
            if commit:
                yield commit
    if pending:
        commit = _commit(pending)
        if commit:
            yield commit


def _commit(record: str) -> GitCommit | None:
    fields = record.split(FIELD, 5)
    if len(fields) != 6 or not re.fullmatch(r"[0-9a-f]{40,64}", fields[0].strip()):
        return None
    sha, name, email, author_date, commit_date, message = fields
    return GitCommit(sha.strip(), name, email.strip().lower(), utc_iso(author_date), utc_iso(commit_date),
                     message.strip("\n"))


def linked_message_ids(message: str) -> list[tuple[str, str]]:
    """(Message-ID, trailer line) of each ``Link:`` / ``Message-ID:`` trailer that names a message."""
    found: dict[str, str] = {}
    for line in message.split("\n"):
        if ":" not in line:
            continue
        match = LINK_TRAILER.match(line)
        if match and (target := message_id_of_link(match.group("value"))):
            found.setdefault(target, line.strip())
    return list(found.items())


def subject_key(subject: str) -> str:
    """A subject compared across mail and git: no ``[PATCH ...]`` markers, case and spacing folded."""
    subject = SUBJECT_PREFIX.sub("", subject or "")
    return " ".join(subject.split()).rstrip(".").casefold()


@dataclass(frozen=True)
class PostedPatch:
    """A patch posted to a list: what a commit without a Link: is compared with."""

    message_id: str
    subject: str
    from_name: str | None
    from_email: str | None
    thread_first: str | None  # the thread's time window (UTC ISO dates)
    thread_last: str | None


def _moment(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parse_utc(value)
    except ValueError:
        return None


class PatchIndex:
    """Posted patches by subject, to match commits that carry no Link: trailer."""

    def __init__(self, patches: Iterable[PostedPatch]):
        self.by_subject: dict[str, list[PostedPatch]] = {}
        for patch in patches:
            key = subject_key(patch.subject)
            if key:
                self.by_subject.setdefault(key, []).append(patch)

    def match(self, commit: GitCommit) -> PostedPatch | None:
        """The patch with the commit's subject, by the commit's author, in its thread's time window."""
        candidates = self.by_subject.get(subject_key(commit.subject))
        if not candidates:
            return None
        authored = _moment(commit.author_date)
        for patch in candidates:
            same_author = (patch.from_email or "").lower() == commit.author_email or (
                patch.from_name and patch.from_name.casefold() == commit.author_name.casefold())
            if not same_author:
                continue
            first, last = _moment(patch.thread_first), _moment(patch.thread_last)
            if authored and first and last and first - SUBJECT_MATCH_SLACK <= authored <= last + SUBJECT_MATCH_SLACK:
                return patch
        return None


def release_of(name_rev: str) -> str | None:
    """The tag of a ``git name-rev --tags`` answer (``v5.12-rc3~12^2~3`` -> ``v5.12-rc3``), None if undefined."""
    name = name_rev.strip()
    if not name or name == "undefined":
        return None
    name = re.split(r"[~^]", name, maxsplit=1)[0]
    return name.removeprefix("tags/") or None
