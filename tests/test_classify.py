"""The classifier on real excerpts: one test per taxonomy decision (D0-D9) and tricky negative.

Every excerpt is copied verbatim from a message in tests/fixtures/labels/dev.jsonl (named by
its dev id and line numbers) or from a seed thread; none is invented.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from miner.classify import (
    CLASSIFIER_VERSION,
    LABELS,
    Evidence,
    Result,
    classify_message,
    classify_thread,
)

FIXTURES = Path(__file__).parent / "fixtures"
DEV = {
    item["id"]: item
    for item in map(json.loads, (FIXTURES / "labels" / "dev.jsonl").read_text().splitlines())
}


def dev_lines(item_id: str, first: int, last: int) -> str:
    """Lines first..last (1-based, inclusive) of a dev item's text, verbatim."""
    return "\n".join(DEV[item_id]["text"].split("\n")[first - 1 : last])


def labels(subject: str, text: str) -> list[str]:
    """Labels of one message."""
    return classify_message(subject, text).labels


def test_public_api_shapes() -> None:
    result = classify_message("[PATCH] xfs: fix data races in inode->i_*time", "")  # dev-002
    assert isinstance(CLASSIFIER_VERSION, str) and CLASSIFIER_VERSION
    assert LABELS == ("deadlock", "race", "ordering")
    assert isinstance(result, Result)
    assert set(result.scores) == set(LABELS)
    assert all(0.0 <= score <= 1.0 for score in result.scores.values())
    assert result.labels == ["race"]
    assert all(isinstance(e, Evidence) for e in result.evidence)
    assert result.evidence[0].line == 0  # the subject


def test_no_keyword_means_no_label_and_no_evidence() -> None:
    # dev-140, whole body: a reply about a wrong Cc: tag.
    result = classify_message(DEV["dev-140"]["subject"], DEV["dev-140"]["text"])
    assert result.labels == [] and result.evidence == []


def test_evidence_points_at_the_line() -> None:
    text = dev_lines("dev-047", 1, 8)  # missing smp_rmb in a seqcount retry
    result = classify_message("", text, "msg-1")
    lines = text.split("\n")
    for found in result.evidence:
        assert found.message_id == "msg-1"
        assert lines[found.line - 1] == found.text
        assert not found.quoted and not found.in_diff


# --- D0: topic, not truth -------------------------------------------------------------------

def test_d0_benign_annotated_race_is_race() -> None:
    # dev-020 subject and lines 3-5: an intentional, harmless race wrapped in data_race().
    assert labels(DEV["dev-020"]["subject"], dev_lines("dev-020", 3, 5)) == ["race"]


def test_d0_disputed_lockdep_report_is_still_deadlock() -> None:
    # dev-038 subject: maintainers suspect a junk report; topic is the wait-context splat.
    assert labels(DEV["dev-038"]["subject"], "") == ["deadlock"]


# --- D1: lock order is deadlock only ---------------------------------------------------------

def test_d1_lock_order_is_deadlock_not_ordering() -> None:
    # dev-103 subject and lines 4-5, 11.
    text = dev_lines("dev-103", 4, 5) + "\n" + dev_lines("dev-103", 11, 11)
    result = classify_message(DEV["dev-103"]["subject"], text)
    assert result.labels == ["deadlock"]
    assert result.scores["ordering"] < 0.5


def test_d1_lockdep_circular_report_is_deadlock_only() -> None:
    # dev-073 lines 2-10: quoted lockdep "possible circular locking dependency" splat.
    assert labels("", dev_lines("dev-073", 2, 10)) == ["deadlock"]


# --- D2: passing mentions --------------------------------------------------------------------

def test_d2_in_order_to_is_not_ordering() -> None:
    # dev-129 line 4 and dev-007 subject + body ("in order to" purpose clauses).
    assert labels("", dev_lines("dev-129", 1, 6)) == []
    assert labels(DEV["dev-007"]["subject"], DEV["dev-007"]["text"]) == []


def test_d2_comment_only_in_diff_is_a_passing_mention() -> None:
    # dev-043 lines 11-27: the diff alone; its only "race" is a code comment on a + line.
    diff = dev_lines("dev-043", 11, 27)
    assert "race" in diff
    assert classify_message("", diff).scores["race"] == 0.0
    # ...while the commit message (lines 1-4) is a specific claim.
    assert "race" in labels("", dev_lines("dev-043", 1, 4))


def test_d2_reply_inherits_the_thread_topic() -> None:
    # dev-096: a syzbot patch-test reply; only the subject carries the topic.
    item = DEV["dev-096"]
    assert labels(item["subject"], item["text"]) == ["deadlock"]
    assert labels("", item["text"]) == []
    # In a thread, a reply without the keyword inherits the first message's subject.
    thread = [("root", item["subject"].removeprefix("Re: "), ""), ("reply", "Re: test", item["text"])]
    assert classify_thread(thread).labels == ["deadlock"]


def test_d2_request_pull_titles_are_passing_mentions() -> None:
    # dev-088: a pull request for lockless lookups whose shortlog names a race fix.
    item = DEV["dev-088"]
    assert labels(item["subject"], item["text"]) == []


# --- D3: missing barrier in concrete code is ordering + race ---------------------------------

def test_d3_missing_barrier_is_ordering_and_race() -> None:
    # dev-047 lines 1-8.
    assert labels("", dev_lines("dev-047", 1, 8)) == ["race", "ordering"]


def test_d3_removing_a_redundant_barrier_is_ordering_even_with_lockless_words() -> None:
    # dev-114 "remove pointless barrier from btrfs_sync_file()": "read using READ_ONCE() ... written
    # using WRITE_ONCE()" is the barrier's reasoning; dev-087 "remove useless smp_mb in start_transaction"
    for item_id in ("dev-114", "dev-087"):
        assert labels(DEV[item_id]["subject"], DEV[item_id]["text"]) == ["ordering"] == DEV[item_id]["labels"]


def test_a_cpu_barrier_is_memory_ordering_even_in_a_mail_about_disks() -> None:
    # dev2-178 (linux-raid) line 5, after the patch's "to member disks" comment: in a mail about disks
    # "barrier" alone is a write barrier, an smp_mb is not
    disks = "  * to member disks to avoid memory alloc and performance decrease\n\n"
    assert "ordering" in labels("", disks + "And for the patch itself, do you think we should add a smp_mb\n")
    assert labels("", disks + "And for the patch itself, do you think we should add a barrier\n") == []


def test_a_barrier_named_with_what_a_cpu_orders_is_memory_ordering_in_a_mail_about_disks() -> None:
    # dev2-238's subject and dev2-127 line 46 (linux-raid): "memory barrier", a barrier for atomic
    # bitops, orders a CPU's accesses; a subject's plain "barrier" stays a write barrier there
    disks = "  * to member disks to avoid memory alloc and performance decrease\n\n"
    assert "ordering" in labels("", disks + "see the memory changes without any memory barrier apis?\n")
    assert "ordering" in labels("Re: [PATCH] md: optimize barrier usage for Rmw atomic bitops",
                                disks + "Thanks for the patch.\n")
    assert labels("Re: [PATCH] md: optimize barrier usage for resync", disks + "Thanks for the patch.\n") == []


DEV2_D3 = {item["id"]: item for item in map(json.loads, (Path(__file__).parent / "fixtures" / "labels" / "dev2-d3.jsonl")
                                             .read_text().splitlines())}


def test_d3_a_barrier_the_code_needs_is_ordering_and_race() -> None:
    # dev2-185 (virtualization): "I think I needed a smp_wmb to always make sure worker->vtask ..."
    item = DEV2_D3["dev2-185"]
    assert labels(item["subject"], item["text"]) == ["race", "ordering"] == sorted(item["labels"], reverse=True)


def test_d3_a_quoted_added_barrier_is_ordering_and_race() -> None:
    # dev2-004 (virtualization): a review of "Use write memory barrier after updating CQ index",
    # quoting the patch's "+\twmb();"; the quote alone (no added line) draws no race
    item = DEV2_D3["dev2-004"]
    assert labels(item["subject"], item["text"]) == ["race", "ordering"]
    without_added = item["text"].replace("> > > +\twmb();", "> > >  \twmb();")
    assert labels(item["subject"], without_added) == ["ordering"]


def test_d3_a_barriers_kind_is_ordering_only() -> None:
    # dev2-008 (virtualization): bit ops "end up being full memory barriers" describes a barrier, claims none missing
    item = DEV2_D3["dev2-008"]
    assert labels(item["subject"], item["text"]) == ["ordering"] == item["labels"]


def test_d3_redundant_barrier_is_ordering_only() -> None:
    # dev-021 lines 5-10 (quoted), dev-087 subject.
    assert labels("", dev_lines("dev-021", 5, 10)) == ["ordering"]
    assert labels(DEV["dev-087"]["subject"], "") == ["ordering"]


# --- D4: a race whose consequence is a hang is race + deadlock -------------------------------

def test_d4_race_causing_hang_is_race_and_deadlock() -> None:
    # dev-043 subject: "Fix a soft lockup race in nfsd_file_mark_find_or_create()".
    assert labels(DEV["dev-043"]["subject"], "") == ["deadlock", "race"]


def test_d4_lost_wakeup_is_race_and_deadlock() -> None:
    # dev-090 subject and lines 1-5: congestion-window race, no wake-up of the next task.
    assert labels(DEV["dev-090"]["subject"], dev_lines("dev-090", 1, 5)) == ["deadlock", "race"]


# --- D5: ordering needs the problem framed as an order across contexts -----------------------

def test_d5_order_across_contexts_is_ordering() -> None:
    # dev-046 subject and lines 8-9: mod_timer() may run after del_timer_sync().
    assert labels(DEV["dev-046"]["subject"], dev_lines("dev-046", 8, 9)) == ["race", "ordering"]


def test_d5_same_path_statement_order_is_not_ordering() -> None:
    # dev-058: defer-op processing order in one path; dev-107: lock acquisition order cleanup.
    for item_id in ("dev-058", "dev-107"):
        assert "ordering" not in labels(DEV[item_id]["subject"], DEV[item_id]["text"])


# --- D6: RCU --------------------------------------------------------------------------------

def test_d6_suspicious_rcu_usage_is_race() -> None:
    # dev-029 lines 9-12: the splat header.
    assert labels("", dev_lines("dev-029", 9, 12)) == ["race"]


def test_d6_grace_period_alone_is_nothing() -> None:
    # dev-061 (NFS reboot grace period) and dev-089 (quota grace interval).
    for item_id in ("dev-061", "dev-089"):
        assert labels(DEV[item_id]["subject"], DEV[item_id]["text"]) == []


def test_d6_reuse_before_grace_period_is_race() -> None:
    # dev-001 subject: "require an rcu grace period before inode recycle".
    assert labels(DEV["dev-001"]["subject"], "") == ["race"]


# --- D7: sleep in atomic context is deadlock ------------------------------------------------

def test_d7_sleeping_in_invalid_context_is_deadlock() -> None:
    # dev-075 and dev-055 subjects.
    assert labels(DEV["dev-075"]["subject"], "") == ["deadlock"]
    assert labels(DEV["dev-055"]["subject"], "") == ["deadlock"]


# --- D8: tooling and infrastructure ---------------------------------------------------------

def test_d8_lockdep_infrastructure_warnings_are_nothing() -> None:
    # dev-102 (MAX_LOCKDEP_CHAIN_HLOCKS too low) and dev-036 (non-static key), whole messages.
    for item_id in ("dev-102", "dev-036"):
        assert labels(DEV[item_id]["subject"], DEV[item_id]["text"]) == []


def test_d8_lockdep_annotation_for_deadlocks_is_deadlock() -> None:
    # dev-079: adds a lockdep annotation because flush_space() can be involved in a deadlock.
    assert labels(DEV["dev-079"]["subject"], DEV["dev-079"]["text"]) == ["deadlock"]


# --- D9: userspace tools on kernel lists are in scope ---------------------------------------

def test_d9_userspace_tool_race_is_race() -> None:
    # dev-028 subject: "btrfs-progs: fix race window during mkfs".
    assert labels(DEV["dev-028"]["subject"], "") == ["race"]


# --- tricky negatives of the taxonomy -------------------------------------------------------

@pytest.mark.parametrize("item_id", [
    "dev-138",  # tracepoint ("trace")
    "dev-108",  # mq-deadline
    "dev-146",  # dead code
    "dev-023",  # struct reordering for packing
    "dev-011",  # page order
    "dev-034",  # storage "device barriers"
    "dev-110",  # raw KASAN use-after-free, no race analysis
    "dev-092",  # soft lockup with no wait cycle
    "dev-142",  # PCIe relaxed ordering
])
def test_tricky_negatives_get_no_label(item_id: str) -> None:
    assert labels(DEV[item_id]["subject"], DEV[item_id]["text"]) == []


def test_quoted_lines_count_less_than_new_prose() -> None:
    # dev-122 line 12, as quoted in the review and without its quote mark.
    quoted = dev_lines("dev-122", 12, 12)
    assert quoted.startswith("> ")
    quoted_score = classify_message("", quoted).scores["race"]
    prose_score = classify_message("", quoted[2:]).scores["race"]
    assert 0 < quoted_score < prose_score


# --- seeds (thread level) -------------------------------------------------------------------

SEEDS = FIXTURES / "seeds"
THREAD_ENTRY = re.compile(r"\n(?=\d{4}-\d\d-\d\d Thread )")


def seed(name: str) -> str:
    """Text of one seed page."""
    return next(SEEDS.glob(f"{name}_*.txt")).read_text()


@pytest.mark.parametrize(("name", "present", "absent"), [
    ("000", {"deadlock", "race"}, set()),
    ("001", {"deadlock"}, {"ordering"}),
    ("002", {"deadlock"}, set()),
    ("003", {"race", "ordering"}, {"deadlock"}),
])
def test_seed_pages(name: str, present: set[str], absent: set[str]) -> None:
    found = set(classify_message("", seed(name)).labels)
    assert present <= found
    assert not absent & found


def test_seed_004_split_into_messages_is_deadlock_and_race() -> None:
    parts = THREAD_ENTRY.split(seed("004"))
    assert len(parts) == 7  # the page title, then six messages
    result = classify_thread([(f"004-{n}", "", part) for n, part in enumerate(parts)])
    assert {"deadlock", "race"} <= set(result.labels)
    assert {e.message_id for e in result.evidence} <= {f"004-{n}" for n in range(7)}


def test_seed_004_ordering() -> None:
    # the patch's own prose: the cpuset update "may not be observable by sched_setaffinity() if it
    # is called immediately after uevent" -- an init-vs-use order violation across contexts (O2)
    parts = THREAD_ENTRY.split(seed("004"))
    result = classify_thread([(str(n), "", p) for n, p in enumerate(parts)])
    assert "ordering" in result.labels
    assert any(e.pattern == "visibility" and "observable by sched_setaffinity()" in e.text
               for e in result.evidence if e.label == "ordering")


def test_prose_after_a_diff_is_read_and_numbered_like_the_thread_page() -> None:
    # data/sample cgroups thread, reply 300f9efa-cc15-4bee-b710-25bff796bf28@huawei.com: a test
    # diff, then "LOCKDEP splash for 6.6:" and a hung-task splat (line 138).  The scanner used to
    # skip everything after the first diff header.
    from miner.parse import parse_message
    from miner.serve.thread_page import split_blocks
    from miner.sources.mbox import read_mbox

    mbox = Path(__file__).parent.parent / "data" / "sample" / "mail" / "cgroups" / \
        "patch-fix-AA-deadlock-cgroup_bpf_release.mbox"
    message = next(parse_message(m.raw) for m in read_mbox(mbox)
                   if parse_message(m.raw).message_id.startswith("300f9efa"))
    result = classify_message(message.subject, message.body)
    splat = [e for e in result.evidence if e.pattern == "hung_task_report" and e.zone == "prose"]
    assert "deadlock" in result.labels and splat and splat[0].line == 138
    page_lines = {line.number: line.text for block in split_blocks(message.body, "m1", {}) for line in block.lines}
    assert all(page_lines[e.line] == e.text for e in result.evidence if e.line > 0)


def test_d4_race_with_a_stated_hang_is_also_deadlock_as_a_rule() -> None:
    # linux-btrfs 20190924094954.1304-1-fdmanana@kernel.org, lines 3-7 ("Btrfs: fix race
    # setting up and completing qgroup rescan worker"): the race's consequence is a hang
    text = ("There is a race between setting up a qgroup rescan worker and completing\n"
            "a qgroup rescan worker that can lead to callers of the qgroup rescan wait\n"
            "ioctl to either not wait for the rescan worker to complete or to hang\n"
            "forever due to missing wake ups. The following diagram shows a sequence\n"
            "of steps that illustrates the race.\n")
    result = classify_message("[PATCH] Btrfs: fix race setting up and completing qgroup rescan worker", text)
    assert result.labels == ["deadlock", "race"]
    assert any(e.label == "deadlock" and e.subtype.startswith("D5") and "missing wake ups" in e.text
               for e in result.evidence)


def test_evidence_lists_each_line_once_with_its_subtype_name() -> None:
    from miner.classify.patterns import SUBTYPE_NAMES
    for item in DEV.values():
        result = classify_message(item["subject"], item["text"], item["id"])
        keys = [(e.label, e.message_id, e.line) for e in result.evidence]
        assert len(keys) == len(set(keys)), item["id"]
        for found in result.evidence:
            code, _, name = found.subtype.partition(" ")
            assert SUBTYPE_NAMES[code] == name
        for label in result.labels:
            assert any(e.label == label for e in result.evidence), (item["id"], label)


def test_natural_review_judgements_are_well_formed() -> None:
    # tests/fixtures/labels/natural-btrfs.jsonl: the blind thread-level judgements of seed 1
    rows = [json.loads(line) for line in (FIXTURES / "labels" / "natural-btrfs.jsonl").read_text().splitlines()
            if line.strip()]
    assert len(rows) >= 146 and len({row["root_message_id"] for row in rows}) == len(rows)
    for row in rows:
        assert set(row) >= {"root_message_id", "subject", "labels", "reason", "sample"}
        assert set(row["labels"]) <= set(LABELS) and row["reason"].strip()
    assert {row["sample"] for row in rows} >= {"seed-1"}
