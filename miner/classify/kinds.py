"""What a message is (patch, cover letter, reply, syzbot report, robot mail, ...) and what of it counts.

A kind is decided from the subject, the sender when known, and the first lines of the text,
so it works on a `miner tag` item (no headers) as well as on a stored message.  Each kind has
a policy (``KIND_POLICY``): which of its lines are the author's own claim and which only list
other work.  A syzbot digest lists twenty report titles and discusses none of them; a
pull request lists commit titles; a build robot pastes logs; a tip-bot notice or a stable
backport carries a full commit message and counts like a patch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PATCH = "patch"
COVER_LETTER = "cover-letter"
REPLY = "reply"
SYZBOT_REPORT = "syzkaller-report"  # syzbot is syzkaller's bot; "syzbot" is also a sender name that exports pseudonymise
SYZBOT_DIGEST = "syzkaller-digest"
ROBOT_REPORT = "robot-report"
APPLIED_NOTICE = "applied-notice"
PULL_REQUEST = "pull-request"
STABLE_BACKPORT = "stable-backport"
TIP_COMMIT = "tip-commit"
REPORT = "report"  # a human's new thread: bug report, question, discussion
KINDS = (PATCH, COVER_LETTER, REPLY, SYZBOT_REPORT, SYZBOT_DIGEST, ROBOT_REPORT, APPLIED_NOTICE,
         PULL_REQUEST, STABLE_BACKPORT, TIP_COMMIT, REPORT)

REPLY_SUBJECT = re.compile(r"^\s*(?:re|aw|sv|antw)\s*(?:\[\d+\])?\s*:", re.IGNORECASE)
FORWARD_SUBJECT = re.compile(r"^\s*fwd?\s*:", re.IGNORECASE)
COVER_SUBJECT = re.compile(r"\[[^\]]*?\b0+/\d+\b[^\]]*\]")
PATCH_SUBJECT = re.compile(r"\[[^\]]*\b(?:patch|rfc)\b[^\]]*\]", re.IGNORECASE)
PULL_SUBJECT = re.compile(r"\[git pull\]|\bgit pull\b|\bpull request\b|\[pull\]", re.IGNORECASE)
PULL_BODY = ("are available in the git repository at", "the following changes since commit")
STABLE_SUBJECT = re.compile(
    r"\[patch (?:autosel |\d+\.\d+[\w.-]* |stable )|\bautosel\b|\[\d+\.\d+[\d.]*(?:-stable)?\]|"
    r"has been added to the [\w.-]+ tree|\bfor[- ]stable\b|\bstable-queue\b",
    re.IGNORECASE)
STABLE_BODY = re.compile(r"^\s*(?:\[ upstream )?commit [0-9a-f]{12,40} upstream\b|"
                         r"this is a note to let you know that i've just added the patch",
                         re.MULTILINE)  # on the lower-cased head, and only if it says "upstream"
TIP_SUBJECT = re.compile(r"^\s*\[tip: [\w/.-]+\]", re.IGNORECASE)
SYZBOT_SENDER = re.compile(r"syzbot|syzkaller")
SYZBOT_SUBJECT = re.compile(r"^\s*\[syzbot\]|^\s*\[syzbot ci\]", re.IGNORECASE)
SYZBOT_BODY = ("syzbot found the following", "\nhead commit:")  # in the lower-cased head
SYZBOT_DIGEST_TEXT = re.compile(
    r"\bmonthly\b.*\breport\b|\breminder\b|open (?:syzbot )?(?:bugs|issues)|"
    r"\d+ issues? (?:are|is) still open|syzbot has found \d+ |"
    r"you may be able to help|\bdashboard\b.*\bissues\b",
    re.IGNORECASE)
ROBOT_SENDER = re.compile(r"lkp@intel\.com|kernel test robot|0-?day|ci@|-bot@|bot@|noreply")
ROBOT_TEXT = re.compile(
    r"kernel test robot|\b0-?day\b|\bci\b.{0,40}\b(?:report|notice|result)|"
    r"(?:build|compile)(?:r)? (?:error|warning|failure|regression)s?\b|"
    r"\bfailed to (?:build|compile)\b|\bsparse warnings?\b|\bsmatch warnings?\b|"
    r"\bkbuild\b|\blkp\b|xfstests\.\S+\.(?:fail|pass)|we noticed the following",
    re.IGNORECASE)
LKP_SUBJECT = re.compile(r"^\s*\[[\w./:-]+\]\s+[0-9a-f]{8,12}:\s|\bbuild (?:regression|success|failure|error|warning)",
                         re.IGNORECASE)
APPLIED_TEXT = re.compile(
    r"^\s*(?:thanks|thank you)?[,.!]?\s*(?:applied|queued|pushed|merged|picked up|added)\b|"
    r"\b(?:applied|queued|pushed|picked up|added)\b[^.\n]{0,40}\b(?:to|into|for) "
    r"(?:[\w./-]+[- ])?(?:next|tree|branch|queue|for-\S+|misc-next|master|fixes)\b|"
    r"^\s*(?:thanks,?\s*)?applied[,.!]?",
    re.IGNORECASE | re.MULTILINE)
QUOTE_LINE = re.compile(r"^[ \t]?>", re.MULTILINE)


@dataclass(frozen=True)
class KindPolicy:
    """What of a message of this kind is evidence of its own topic.

    ``prose``: how much the author's own text counts (1 = fully).  ``signatures_only``: only
    machine signatures (a lockdep or KCSAN splat) count in the body, words do not (robot logs).
    ``lists_patches``: indented "subsys: title" lines name other patches (cover letter, pull).
    ``thread_factor``: how much the message can give its thread a label beyond its root
    (a patch deep in a series is one topic of many; a digest names other threads' topics).
    """

    prose: float = 1.0
    signatures_only: bool = False
    lists_patches: bool = False
    thread_factor: float = 1.0


KIND_POLICY: dict[str, KindPolicy] = {
    PATCH: KindPolicy(),
    COVER_LETTER: KindPolicy(prose=0.8, lists_patches=True),
    REPLY: KindPolicy(),
    SYZBOT_REPORT: KindPolicy(),
    SYZBOT_DIGEST: KindPolicy(prose=0.0, lists_patches=True, thread_factor=0.0),
    ROBOT_REPORT: KindPolicy(signatures_only=True),
    APPLIED_NOTICE: KindPolicy(prose=0.5),
    PULL_REQUEST: KindPolicy(prose=0.7, lists_patches=True, thread_factor=0.5),
    STABLE_BACKPORT: KindPolicy(),
    TIP_COMMIT: KindPolicy(),
    REPORT: KindPolicy(),
}


def message_kind(subject: str, text: str, sender: str | None = None) -> str:
    """The kind of one message (one of KINDS) from its subject, text and sender address.

    A reply stays a reply whatever its subject ("Re: [GIT PULL] ..." answers a pull
    request), unless a robot sent it or it only says the patch was applied.
    """
    subject = subject or ""
    sender = (sender or "").lower()
    if TIP_SUBJECT.match(subject) or "tip-bot" in sender:
        return TIP_COMMIT
    is_reply = bool(REPLY_SUBJECT.match(subject))
    if SYZBOT_SENDER.search(sender) or SYZBOT_SUBJECT.match(subject):
        head = text[:3000]
        syzbot_body = any(marker in head.lower() for marker in SYZBOT_BODY)
        if SYZBOT_DIGEST_TEXT.search(subject) or (not syzbot_body and SYZBOT_DIGEST_TEXT.search(head)):
            return SYZBOT_DIGEST
        if not is_reply:
            return SYZBOT_REPORT
    if is_reply:
        if ROBOT_SENDER.search(sender) or "kernel test robot" in text[:400].lower():
            return ROBOT_REPORT
        return APPLIED_NOTICE if _is_applied_notice(text[:3000]) else REPLY
    head = text[:3000]
    lower = head.lower()
    if any(marker in lower for marker in SYZBOT_BODY) and "syzbot" in lower:
        return SYZBOT_REPORT
    if ROBOT_SENDER.search(sender) or (LKP_SUBJECT.search(subject) and ROBOT_TEXT.search(subject + "\n" + head)):
        return ROBOT_REPORT
    if PULL_SUBJECT.search(subject) or any(marker in lower for marker in PULL_BODY):
        return PULL_REQUEST
    if STABLE_SUBJECT.search(subject) or ("upstream" in lower and STABLE_BODY.search(lower)):
        return STABLE_BACKPORT
    if COVER_SUBJECT.search(subject):
        return COVER_LETTER
    if PATCH_SUBJECT.search(subject) or "\ndiff --git " in text or text.startswith("diff --git "):
        return PATCH
    return REPORT


APPLIED_WORDS = ("appl", "queue", "push", "merg", "pick", "added")


def _is_applied_notice(head: str) -> bool:
    """A reply whose own (unquoted) text is a few lines saying the patch was applied."""
    lower = head[:1500].lower()
    if not any(word in lower for word in APPLIED_WORDS):
        return False
    own = [line for line in head.split("\n") if line.strip() and not QUOTE_LINE.match(line)]
    own = [line for line in own if not line.rstrip().endswith(("wrote:", "writes:"))]
    return len(own) <= 6 and bool(APPLIED_TEXT.search("\n".join(own[:3])))
