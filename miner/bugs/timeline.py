"""What happened to a bug in its thread: patches, versions, reviews, Fixes targets, "applied" evidence (pure).

Input is :class:`ThreadMessage` rows (what the store keeps of each message, trailers and patch
files included); output is plain dataclasses. Follow-up trailers are attributed the way b4 does
(``b4/__init__.py``, ``LoreMailbox.get_series``): walk up the replies to the first patch with a
diff, or to the first message that is not a reply (a cover letter), and a cover letter's
trailers apply to the whole series.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from miner.bugs.reports import unquoted
from miner.classify.kinds import REPLY_SUBJECT
from miner.mid import clean_message_id

REVIEW_TRAILERS = ("Reviewed-by", "Acked-by", "Tested-by")
SHA = r"[0-9a-f]{7,40}"
FIXES_VALUE = re.compile(rf"^(?:commit\s+)?(?P<sha>{SHA})\b\s*(?:\(\s*\"?(?P<subject>.*?)\"?\s*\)?)?\s*$",
                         re.IGNORECASE)

# -- path clean-up -----------------------------------------------------------------------------

KERNEL_TOP_LEVEL = frozenset((
    "arch", "block", "certs", "crypto", "drivers", "fs", "include", "init", "io_uring", "ipc", "kernel", "lib",
    "mm", "net", "rust", "samples", "scripts", "security", "sound", "tools", "usr", "virt", "Documentation",
    "LICENSES", "MAINTAINERS", "Makefile", "Kconfig", "CREDITS", "firmware", "README",
))
# "a/", "b/", "linux-2.6/", "linux-2.6.orig/", "linux/", "orig/", "new/": prefixes of old diff tools
TREE_PREFIX = re.compile(r"^(?:[ab]|linux(?:-[\w.+-]+)?|[\w.+-]+\.orig|orig|new|old|tmp)/")


def kernel_path(path: str) -> str:
    """A diff path as a kernel tree path: ``a/``, ``b/`` and ``linux-2.6/``-style prefixes stripped."""
    path = path.strip()
    while path.startswith("./"):
        path = path[2:]
    for _ in range(2):  # "a/linux-2.6/fs/..." carries two
        first, _, rest = path.partition("/")
        if not rest or first in KERNEL_TOP_LEVEL:
            break
        if first in ("a", "b") or (TREE_PREFIX.match(path) and rest.split("/", 1)[0] in KERNEL_TOP_LEVEL):
            path = rest
        else:
            break
    return path


def subsystem(path: str) -> str:
    """The first two components of a kernel path (``fs/btrfs``); the file itself at the top level."""
    parts = path.split("/")
    return "/".join(parts[:2]) if len(parts) > 2 else (parts[0] if len(parts) == 2 else path)


# -- the thread as the store gives it ----------------------------------------------------------

@dataclass
class ThreadMessage:
    """One stored message of a thread, with its trailers and the files its diffs touch."""

    message_id: str
    parent_id: str | None
    subject: str
    from_name: str | None
    from_email: str | None
    date: str | None
    body: str
    patch_version: int | None = None
    patch_index: int | None = None
    patch_total: int | None = None
    trailers: list[tuple[str, str, str | None, str | None]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def is_reply(self) -> bool:
        """True if the subject says Re: (b4's ``reply``), as the classifier's message kinds read it."""
        return bool(REPLY_SUBJECT.match(self.subject or ""))

    @property
    def has_diff(self) -> bool:
        """True if a diff of this message touches a file."""
        return bool(self.files)

    @property
    def is_posted_patch(self) -> bool:
        """A patch as b4 sees one: a diff in a message that is not a reply."""
        return self.has_diff and not self.is_reply


@dataclass(frozen=True)
class Review:
    """A Reviewed-by / Acked-by / Tested-by given in the thread, and what it applies to."""

    trailer: str
    name: str | None
    email: str | None
    message_id: str  # the message that gave it
    applies_to: str | None  # the patch (or cover letter) it was given for
    series: bool  # True when given to a cover letter: it applies to every patch of the series

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {"trailer": self.trailer, "name": self.name, "email": self.email, "message_id": self.message_id,
                "applies_to": self.applies_to, "series": self.series}


@dataclass(frozen=True)
class FixesTarget:
    """The commit a ``Fixes:`` trailer of a patch names."""

    commit: str
    subject: str | None
    message_id: str

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {"commit": self.commit, "subject": self.subject, "message_id": self.message_id}


@dataclass(frozen=True)
class Applied:
    """Evidence that a patch was merged: a commit, where it was seen and how it was matched to the thread."""

    commit: str | None
    source: str  # reply, patchwork-bot, commit-notice, git
    match: str  # applied-reply, notice-link, notice-in-thread, link, subject
    message_id: str | None = None  # the message it was seen in (or the one a commit's Link: names)
    branch: str | None = None
    date: str | None = None
    release: str | None = None

    def as_dict(self) -> dict:
        """JSON-ready form (None fields left out, except ``commit``)."""
        data = {"commit": self.commit, "source": self.source, "match": self.match}
        for key in ("message_id", "branch", "date", "release"):
            value = getattr(self, key)
            if value:
                data[key] = value
        return data


# -- patches and reviews ---------------------------------------------------------------------

def first_patch(messages: list[ThreadMessage]) -> ThreadMessage | None:
    """The earliest message with a diff (a posted patch, or a fix proposed in a reply)."""
    dated = [m for m in messages if m.has_diff]
    return min(dated, key=lambda m: (m.date is None, m.date or "")) if dated else None


def last_patch_version(messages: list[ThreadMessage]) -> int | None:
    """The highest ``vN`` of the thread's patches (1 for patches without one), None without patches."""
    versions = [m.patch_version or 1 for m in messages if m.has_diff or (m.patch_index == 0 and not m.is_reply)]
    return max(versions) if versions else None


def _review_target(message: ThreadMessage, by_id: dict[str, ThreadMessage]) -> ThreadMessage | None:
    """The patch or cover letter a follow-up's trailers belong to (b4: up the replies to a patch or a non-reply)."""
    seen = {message.message_id}
    current = by_id.get(message.parent_id or "")
    while current is not None and current.message_id not in seen:
        if current.is_posted_patch or not current.is_reply:
            return current
        seen.add(current.message_id)
        current = by_id.get(current.parent_id or "")
    return None


def reviews(messages: list[ThreadMessage]) -> list[Review]:
    """Review trailers of the thread: those carried in patches and those given in follow-ups."""
    by_id = {m.message_id: m for m in messages}
    found: dict[tuple, Review] = {}
    for message in messages:
        for name, _value, person_name, person_email in message.trailers:
            if name not in REVIEW_TRAILERS:
                continue
            if message.is_posted_patch:
                target, series = message, False
            else:
                target = _review_target(message, by_id)
                if target is None:
                    continue  # b4 drops trailers it cannot tie to a patch
                series = not target.has_diff and (target.patch_total or 0) > 1 or target.patch_index == 0
            review = Review(name, person_name, person_email, message.message_id, target.message_id, bool(series))
            found.setdefault((name, person_email or person_name, target.message_id), review)
    return list(found.values())


def fixes_targets(messages: list[ThreadMessage]) -> list[FixesTarget]:
    """``Fixes: <sha> ("subject")`` of the thread's patches, each commit once (by its 12-digit prefix)."""
    found: dict[str, FixesTarget] = {}
    for message in messages:
        if not message.has_diff:
            continue
        for name, value, _, _ in message.trailers:
            if name != "Fixes":
                continue
            match = FIXES_VALUE.match(value.strip())
            if match:
                sha = match.group("sha").lower()
                found.setdefault(sha[:12], FixesTarget(sha, match.group("subject") or None, message.message_id))
    return list(found.values())


# -- applied / merged ------------------------------------------------------------------------

APPLIED_LINE = re.compile(
    r"^\s*(?:(?:thanks|thank you)[,!.]*\s+)?(?:(?:i've|i have|i|we've|we have|now|patch|series)\s+)?"
    r"(?:(?:been\s+)?applied|queued(?:\s+up)?|pushed|picked\s+up|merged|added)\b(?P<rest>.*)$",
    re.IGNORECASE,
)
PATCHWORK_BOT = re.compile(r"^\s*This (?:patch|series) was applied to (?P<branch>\S+(?: \([\w./-]+\))?)",
                           re.IGNORECASE)
BRANCH_AFTER = re.compile(r"\b(?:to|into|in|on|for)\s+(?:the\s+)?(?P<branch>[\w][\w./:+-]*)"
                          r"(?:\s+(?P<kind>branch|tree|queue))?", re.IGNORECASE)
NOT_A_BRANCH = frozenset(("my", "your", "a", "it", "this", "that", "local", "top", "his", "her", "our", "their",
                          "me", "you", "now", "here", "there", "testing", "order", "case", "which", "some"))
BRANCH_WORDS = frozenset(("master", "main", "next", "linux-next", "mainline", "upstream", "fixes", "urgent",
                          "for-next", "stable"))
COMMIT_IN_REPLY = re.compile(
    rf"(?:\bcommit:?\s+(?P<a>{SHA})\b|git\.kernel\.org/\S+?/c/(?P<b>{SHA})\b|[?&;]id=(?P<c>{SHA})\b)",
    re.IGNORECASE)
QUESTION = re.compile(r"\?\s*$")


def _branch(rest: str) -> str | None:
    for match in BRANCH_AFTER.finditer(rest):
        branch = match.group("branch").rstrip(".,:;!)")
        if branch.lower() in NOT_A_BRANCH or re.fullmatch(r"v\d+", branch, re.IGNORECASE):
            continue  # "Added in v3": the author's next version, not a branch
        if match.group("kind") or any(c in branch for c in "/-.") or any(c.isdigit() for c in branch) \
                or branch.lower() in BRANCH_WORDS:
            return branch
    return None


def applied_in_reply(message: ThreadMessage) -> Applied | None:
    """A maintainer's "Applied to X, thanks" (b4 ty, patchwork-bot, "Queued for ...") naming a branch or commit."""
    if message.has_diff:
        return None
    lines = [unquoted(line) for line in message.body.split("\n") if not line.lstrip().startswith(">")]
    for index, line in enumerate(lines):
        bot = PATCHWORK_BOT.match(line)
        applied = bot or APPLIED_LINE.match(line)
        if not applied or QUESTION.search(line):
            continue
        if not bot and index > 0 and lines[index - 1].strip():
            continue  # "Applied to X, thanks" opens its paragraph; "...I had\nadded a few" continues a sentence
        branch = bot.group("branch") if bot else _branch(applied.group("rest"))
        commit = None
        for later in lines[index:index + 12]:
            found = COMMIT_IN_REPLY.search(later)
            if found:
                commit = (found.group("a") or found.group("b") or found.group("c")).lower()
                break
        if branch or commit:
            return Applied(commit, "patchwork-bot" if bot else "reply", "applied-reply", message.message_id,
                           branch, message.date)
    return None


NOTICE_BRANCH = re.compile(
    r"^The following commit has been merged into the (?P<branch>\S+) branch of (?P<tree>\S+?):?$")
NOTICE_COMMIT = re.compile(rf"^Commit-ID:\s+(?P<sha>{SHA})\s*$")
LINK_TRAILER = re.compile(r"^\s*(?:Link|Closes|Message-ID|Message-Id):\s*(?P<value>\S+)", re.IGNORECASE)
# lore.kernel.org/r/<id>, lkml.kernel.org/r/<id>, lore.kernel.org/<list>/<id>, patch.msgid.link/<id>
MSGID_URL = re.compile(
    r"^(?:https?://)?(?:(?:lore|lkml)\.kernel\.org/(?:r/|[\w.+-]+/)|patch\.msgid\.link/|"
    r"marc\.info/\?i=|msgid\.link/)(?P<msgid>[^/\s>]+(?:@|%40)[^/\s>]+?)(?:/(?:T/?|t/?|raw)?)?(?:[#?].*)?$",
    re.IGNORECASE)


def message_id_of_link(value: str) -> str | None:
    """The Message-ID a ``Link:`` or ``Message-ID:`` trailer points at, or None for other links."""
    from urllib.parse import unquote

    value = clean_message_id(value)
    if "://" not in value and "/" not in value and "@" in value:
        return value  # Message-ID: <id> / Link: <id>
    match = MSGID_URL.match(value)
    return clean_message_id(unquote(match.group("msgid"))) if match else None


@dataclass(frozen=True)
class CommitNotice:
    """A tip-bot style "The following commit has been merged" notice."""

    commit: str
    branch: str | None
    links: tuple[str, ...]  # Message-IDs of its Link: trailers


def commit_notice(body: str) -> CommitNotice | None:
    """The commit, branch and ``Link:`` targets of a commit notice, or None if the body is not one."""
    commit = branch = None
    links: list[str] = []
    for line in body.split("\n")[:400]:
        if line.startswith(">"):
            continue
        if branch is None and (match := NOTICE_BRANCH.match(line.strip())):
            branch = f"{match.group('tree')}/{match.group('branch')}"
        elif commit is None and (match := NOTICE_COMMIT.match(line.strip())):
            commit = match.group("sha").lower()
        elif (match := LINK_TRAILER.match(line)) and (target := message_id_of_link(match.group("value"))):
            links.append(target)
        elif line.startswith("diff --git "):
            break
    if commit is None:
        return None
    return CommitNotice(commit, branch, tuple(dict.fromkeys(links)))


def files_and_subsystems(messages: Iterable[ThreadMessage]) -> tuple[list[str], list[str]]:
    """Kernel paths touched by the thread's diffs and their subsystems, in order of first appearance."""
    files: dict[str, None] = {}
    for message in messages:
        for path in message.files:
            cleaned = kernel_path(path)
            if cleaned and cleaned != "/dev/null":
                files.setdefault(cleaned)
    subsystems = dict.fromkeys(subsystem(path) for path in files)
    return list(files), list(subsystems)
