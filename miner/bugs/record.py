"""One bug record per labelled thread: the report's facts and the fix's timeline together (pure).

:func:`build_record` takes the thread's messages (:class:`ThreadMessage`), its labels and
subtypes, and the "applied" evidence found outside the thread (commit notices whose ``Link:``
points into it, commits matched by ``miner link-commits``); it returns a :class:`BugRecord`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from miner.bugs import reports
from miner.classify.patterns import SUBTYPE_NAMES
from miner.bugs.timeline import (
    Applied, ThreadMessage, applied_in_reply, commit_notice, files_and_subsystems, first_patch, fixes_targets,
    last_patch_version, reviews,
)

FIX_STATUSES = ("applied", "reviewed", "patch posted", "no patch")
SYZBOT_TEST_RESULT = "syzbot has tested the proposed patch"
SYZBOT_TEST_FAILED = "syzbot tried to test the proposed patch"
MAX_LINES_PER_MESSAGE = 4000  # a splat is near the top; whole logs pasted below it add nothing


def subtype_name(code: str) -> str:
    """A subtype as the classifier names it (``D1`` -> ``D1 lock-order inversion (ABBA)``); evidence already
    carries named subtypes, and those and unknown codes stay as they are."""
    name = SUBTYPE_NAMES.get(code)
    return f"{code} {name}" if name else code


@dataclass
class BugRecord:
    """What a labelled thread is about, who found it, and how and when it was fixed."""

    thread_id: int
    root_message_id: str | None
    subject: str | None
    labels: list[str]
    subtypes: list[str]
    locks: list[str]
    functions: list[str]
    tools: list[str]
    syzbot_id: str | None
    files: list[str]
    subsystems: list[str]
    first_report: str | None
    first_report_message_id: str | None
    first_patch: str | None
    first_patch_message_id: str | None
    last_patch_version: int | None
    reviewers: list[dict] = field(default_factory=list)
    fixes: list[dict] = field(default_factory=list)
    applied: list[dict] = field(default_factory=list)
    fix_status: str = "no patch"
    merged_at: str | None = None


def _body_lines(message: ThreadMessage) -> list[str]:
    return message.body.split("\n", MAX_LINES_PER_MESSAGE)[:MAX_LINES_PER_MESSAGE]


_function_name = reports.function_name


def report_facts(subject: str, messages: list[ThreadMessage]) -> tuple[list[str], list[str], list[str], str | None]:
    """Locks, functions, tools and syzbot id of a thread's reports."""
    locks: dict[str, None] = {}
    from_syzbot = any(reports.SYZBOT_ADDRESS.search(m.from_email or "") for m in messages[:1]) \
        or "[syzbot]" in subject.lower()
    functions: dict[str, None] = dict.fromkeys(
        _function_name(f) for f in reports.title_functions(subject, syzbot=from_syzbot))
    trace: list[str] = []
    tools: set[str] = set(reports.title_detectors(subject))
    syzbot_id = None
    for message in messages:
        if SYZBOT_TEST_RESULT in message.body[:2000] or SYZBOT_TEST_FAILED in message.body[:2000]:
            continue  # a patch test run: its splats (if any) are what the fix attempt met, not the bug
        body = message.body
        lines = _body_lines(message)
        # each reader runs only on bodies holding its report's mark: most mail holds none
        if "){" in body or "lock(" in body:
            locks.update(dict.fromkeys(reports.lock_classes(lines)))
        if "KCSAN" in body:
            functions.update(dict.fromkeys(_function_name(f) for f in reports.kcsan_functions(lines)))
        if not trace and "Call Trace:" in body:
            trace = [_function_name(f) for f in reports.trace_functions(lines)]
        if any(mark in body for mark in reports.DETECTOR_MARKS):
            tools.update(reports.detectors(lines))
        sender_is_syzbot = reports.SYZBOT_ADDRESS.search(message.from_email or "")
        if sender_is_syzbot:
            tools.add("syzbot")
            syzbot_id = syzbot_id or sender_is_syzbot.group("id").lower()
        if "lkp@intel.com" in (message.from_email or "") and message is messages[0]:
            tools.add("kernel test robot")  # its replies to patches report build errors of the patch, not the bug
        for name, value, person_name, person_email in message.trailers:
            if name != "Reported-by":
                continue
            if found := reports.syzbot_id(value):
                tools.add("syzbot")
                syzbot_id = syzbot_id or found
            elif reports.TEST_ROBOT.search(value):
                tools.add("kernel test robot")
            elif person_email and not reports.is_bot(person_email, person_name):
                tools.add("human")
    first = messages[0] if messages else None
    if first is not None and not first.has_diff and not reports.is_bot(first.from_email, first.from_name) \
            and not first.is_reply and tools & set(reports.TOOL_ORDER[:6]):
        tools.add("human")  # a person posted the splat they met
    if syzbot_id is None and "syzbot" in tools:
        for message in messages:
            if found := reports.syzbot_id(message.body[:20000]):
                syzbot_id = found
                break
    functions.update(dict.fromkeys(trace))
    return list(locks), list(functions), reports.order_tools(tools), syzbot_id


def build_record(thread_id: int, root_message_id: str | None, subject: str | None, labels: list[str],
                 subtype_codes: list[str], messages: list[ThreadMessage],
                 outside_applied: list[Applied] = ()) -> BugRecord:
    """The bug record of one thread from its messages (oldest first) and applied evidence found elsewhere."""
    messages = sorted(messages, key=lambda m: (m.date is None, m.date or ""))
    locks, functions, tools, syzbot = report_facts(subject or "", messages)
    files, subsystems = files_and_subsystems(messages)
    patch = first_patch(messages)
    applied: list[Applied] = []
    for message in messages:
        notice = commit_notice(message.body) if "Commit-ID:" in message.body else None
        if notice:
            applied.append(Applied(notice.commit, "commit-notice", "notice-in-thread", message.message_id,
                                   notice.branch, message.date))
        elif found := applied_in_reply(message):
            applied.append(found)
    found_reviews = reviews(messages)
    if applied:
        status = "applied"
    elif found_reviews and patch:
        status = "reviewed"
    elif patch:
        status = "patch posted"
    else:
        status = "no patch"
    dates = [a.date for a in applied if a.date]
    first = messages[0] if messages else None
    return with_outside(BugRecord(
        thread_id, root_message_id, subject, labels,
        [subtype_name(code) for code in dict.fromkeys(subtype_codes) if code],
        locks, functions, tools, syzbot, files, subsystems,
        first.date if first else None, first.message_id if first else None,
        patch.date if patch else None, patch.message_id if patch else None,
        last_patch_version(messages),
        [review.as_dict() for review in found_reviews],
        [target.as_dict() for target in fixes_targets(messages)],
        [item.as_dict() for item in applied],
        status, min(dates) if dates else None,
    ), outside_applied)


def with_outside(record: BugRecord, outside_applied: Iterable[Applied]) -> BugRecord:
    """``record`` with the applied evidence found outside its thread added (what it has seen in the
    thread stays): applied then, merged at the earliest date of them all."""
    seen = {(item["commit"], item.get("message_id")) for item in record.applied}
    added = [a.as_dict() for a in outside_applied if (a.commit, a.message_id) not in seen]
    if not added:
        return record
    applied = record.applied + added
    dates = [item["date"] for item in applied if item.get("date")]
    return replace(record, applied=applied, fix_status="applied", merged_at=min(dates) if dates else None)
