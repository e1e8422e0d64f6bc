"""b4 (kernel.org's patch tool, a test dependency) as the reference for trailers.

b4 reads a patch's trailers with ``LoreMessage.get_body_parts`` (the last paragraph above the
``---`` line) and a reply's with ``LoreMessage.find_trailers(body, followup=True)``, minus the
header-like names it drops from follow-ups (``From``, ``Cc``, ``To``...). Both are compared with
miner's trailers as (lower-case name, address) for people and (lower-case name, value) otherwise.
"""

from __future__ import annotations

import email
import logging
import re
from dataclasses import dataclass, field

import b4

from miner.parse import parse_message

logging.getLogger("b4").setLevel(logging.CRITICAL)

B4_FOLLOWUP_DROPS = {"from", "author", "cc", "to", "date", "subject", "subscribe", "unsubscribe",
                     "base-commit", "change-id", "message-id"}  # b4 LoreMessage.__init__ "badtrailers"


def trailer_key(name: str, value: str, address: str | None) -> tuple[str, str]:
    """What two parsers must agree on for one trailer line."""
    if address:
        return name.lower(), address.lower()
    value = re.sub(r"\s+#[^#]*$", "", value)  # b4 keeps a "# comment" apart (extinfo)
    return name.lower(), " ".join(value.split())


def b4_message(raw: bytes) -> b4.LoreMessage | None:
    """b4's view of one raw message (None when b4 refuses it)."""
    try:
        return b4.LoreMessage(email.message_from_bytes(raw, policy=b4.emlpolicy))
    except Exception:  # b4 raises ValueError and others on mail it cannot use
        return None


def b4_patch_trailers(lmsg: b4.LoreMessage) -> list[tuple[str, str]]:
    """Trailer keys of a patch, as ``b4 am`` would keep them."""
    _headers, _message, trailers, _basement, _signature = b4.LoreMessage.get_body_parts(lmsg.body)
    return [trailer_key(t.name, t.value, t.addr[1] if t.addr else None) for t in trailers]


def b4_followup_trailers(lmsg: b4.LoreMessage) -> list[tuple[str, str]]:
    """Trailer keys a reply gives to the patch it answers, as b4 collects follow-ups."""
    trailers, _others = b4.LoreMessage.find_trailers(lmsg.body, followup=True)
    return [trailer_key(t.name, t.value, t.addr[1] if t.addr else None) for t in trailers
            if t.lname not in B4_FOLLOWUP_DROPS]


def miner_trailers(raw: bytes) -> list[tuple[str, str]]:
    """Trailer keys miner stores for one raw message."""
    message = parse_message(raw)
    return [trailer_key(t.written_name if getattr(t, "written_name", None) else t.name, t.value, t.person_email)
            for t in message.trailers]


@dataclass
class Comparison:
    """Trailer lines of one message: found by both, by b4 only, by miner only."""

    both: list = field(default_factory=list)
    only_b4: list = field(default_factory=list)
    only_miner: list = field(default_factory=list)


def compare_keys(ours: list, theirs: list) -> Comparison:
    """Multiset comparison of two lists of trailer keys."""
    remaining = list(theirs)
    result = Comparison()
    for key in ours:
        if key in remaining:
            remaining.remove(key)
            result.both.append(key)
        else:
            result.only_miner.append(key)
    result.only_b4 = remaining
    return result


def is_patch_mail(lmsg: b4.LoreMessage) -> bool:
    """A mail ``b4 am`` would apply: not a reply, and it carries a diff."""
    return not lmsg.reply and bool(b4.DIFF_RE.search(lmsg.body or ""))


def compare_message(raw: bytes) -> Comparison | None:
    """b4 against miner on one patch mail; None when it is no patch mail (or b4 cannot read it)."""
    lmsg = b4_message(raw)
    if lmsg is None or not is_patch_mail(lmsg):
        return None
    try:
        ours = miner_trailers(raw)
    except Exception:  # miner rejects it: count nothing
        return None
    return compare_keys(ours, b4_patch_trailers(lmsg))


@dataclass
class Agreement:
    """Totals over many messages, with a few examples of each difference."""

    messages: int = 0
    both: int = 0
    only_b4: int = 0
    only_miner: int = 0
    messages_equal: int = 0
    examples_b4: list = field(default_factory=list)
    examples_miner: list = field(default_factory=list)

    def add(self, result: Comparison, where: str, examples: int = 8) -> None:
        """Count one message's comparison."""
        self.messages += 1
        self.both += len(result.both)
        self.only_b4 += len(result.only_b4)
        self.only_miner += len(result.only_miner)
        self.messages_equal += not result.only_b4 and not result.only_miner
        if result.only_b4 and len(self.examples_b4) < examples:
            self.examples_b4.append((where, result.only_b4))
        if result.only_miner and len(self.examples_miner) < examples:
            self.examples_miner.append((where, result.only_miner))

    def report(self) -> str:
        """Totals and examples as text."""
        lines = [f"patch mails: {self.messages}, trailers identical in {self.messages_equal}"
                 f" ({100 * self.messages_equal / max(self.messages, 1):.1f}%)",
                 f"trailer lines: both {self.both}, only b4 {self.only_b4}, only miner {self.only_miner}"]
        lines += [f"  only b4    {where[:12]}: {keys}" for where, keys in self.examples_b4]
        lines += [f"  only miner {where[:12]}: {keys}" for where, keys in self.examples_miner]
        return "\n".join(lines)
