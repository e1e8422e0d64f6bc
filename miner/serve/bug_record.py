"""The bug record block at the top of the thread page: the stored ``bugs`` row with its links (pure data).

The template (templates/lkml_bug_record.html) lays it out; commits link to git.kernel.org,
messages to lore.kernel.org, a syzbot id to its dashboard page.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from miner.bugs.store import bug_record
from miner.store import Store

GIT_KERNEL_COMMIT = "https://git.kernel.org/linus/{}"  # redirects to the commit in Linus' tree
GIT_KERNEL_TIP_COMMIT = "https://git.kernel.org/tip/{}"
SYZBOT_BUG = "https://syzkaller.appspot.com/bug?extid={}"


@dataclass
class AppliedView:
    """One piece of merge evidence, with its links."""

    commit: str | None
    commit_url: str | None
    source: str
    match: str
    branch: str | None
    date: str | None
    release: str | None
    message_id: str | None
    message_url: str | None


@dataclass
class BugView:
    """What the thread page shows of the thread's bug record."""

    record: dict
    lore_thread_url: str | None
    syzbot_url: str | None
    first_patch_url: str | None
    applied: list[AppliedView] = field(default_factory=list)


def commit_url(commit: str, branch: str | None = None) -> str:
    """The git.kernel.org page of a commit (tip commits on the tip tree)."""
    template = GIT_KERNEL_TIP_COMMIT if (branch or "").startswith("tip/") else GIT_KERNEL_COMMIT
    return template.format(commit)


def load_bug_view(store: Store, thread_id: int) -> BugView | None:
    """The bug record of ``thread_id`` ready for the page, or None if the thread has none."""
    from miner.serve.thread_page import lore_url

    record = bug_record(store, thread_id)
    if record is None:
        return None
    applied = [
        AppliedView(item.get("commit"), commit_url(item["commit"], item.get("branch")) if item.get("commit") else None,
                    item.get("source", ""), item.get("match", ""), item.get("branch"), item.get("date"),
                    item.get("release"), item.get("message_id"),
                    lore_url(item["message_id"]) if item.get("message_id") else None)
        for item in record["applied"]
    ]
    root = record.get("root_message_id")
    return BugView(
        record,
        f"{lore_url(root)}/T/" if root else None,
        SYZBOT_BUG.format(record["syzbot_id"]) if record.get("syzbot_id") else None,
        lore_url(record["first_patch_message_id"]) if record.get("first_patch_message_id") else None,
        applied,
    )
