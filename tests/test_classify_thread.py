"""Thread-level meaning (classifier issue, item 3) on whole real threads of natural traffic.

tests/fixtures/labels/natural-excerpts.jsonl holds real messages of the linux-btrfs and
virtualization epochs of ../shared/corpus/bulk (see PROVENANCE.md), each case a thread (or
the messages of one that matter) whose blind judgement in natural-<epoch>.jsonl the rule
follows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from miner.classify import classify_message, classify_thread
from miner.classify.scan import SCANNER

CASES = {
    case["case"]: case
    for case in map(json.loads, (Path(__file__).parent / "fixtures" / "labels" / "natural-excerpts.jsonl")
                    .read_text().splitlines())
}


def thread(case: str) -> list[tuple]:
    return [tuple(message) for message in CASES[case]["messages"]]


def test_a_hang_the_thread_never_ties_to_a_wait_is_no_deadlock() -> None:
    # "Trying to mount hangs": eleven messages about a mount that hangs, diagnosed as a loop in
    # log replay over a bit-flipped refcount.  Every deadlock line is the symptom word "hang".
    messages = thread("symptom-only hang report")
    root = classify_message(messages[0][1], messages[0][2])
    assert "deadlock" in root.labels  # as one message, a hang report is tagged (as dev labels it)
    result = classify_thread(messages)
    assert {e.pattern for e in result.evidence if e.label == "deadlock"} <= {"hang_word", "lockup_word"}
    assert "deadlock" not in result.labels
    # the same thread with one reply that names the wait ("blocked forever") is a deadlock thread
    diagnosis = ("diagnosis", "Re: Trying to mount hangs",
                 "The mount task is stuck in D state waiting forever for the transaction commit.")
    assert "deadlock" in classify_thread(messages + [diagnosis]).labels


def test_a_reply_remarking_on_the_hazard_in_general_does_not_label_the_thread() -> None:
    # "btrfs has had more deadlock bugs than any two ... adding new deadlocks": three lines of
    # one reply in a feature-request thread; one kind of signal and no code named.
    messages = thread("a reply's general remark in a thread not about the hazard")
    reply = messages[1]
    assert "deadlock" in classify_message(reply[1], reply[2]).labels
    assert "deadlock" not in classify_thread(messages).labels


def test_a_reply_analysing_a_race_in_named_code_labels_the_thread() -> None:
    # "BTRFS_IOC_DEVICES_READY from systemd races with forget ... who wins the race": the root
    # reports odd udev scans; a reply analyses the race, naming the ioctl.
    result = classify_thread(thread("a reply's race analysis naming the code"))
    assert "race" in result.labels
    assert any("BTRFS_IOC_DEVICES_READY" in e.text for e in result.evidence if e.label == "race")


def test_words_of_a_workload_are_no_race() -> None:
    # "concurrent fsyncs against different files", "fio for different numbers of concurrent
    # jobs", "no other tasks accessing the checksums": a latency patch, no race.
    messages = thread("workload words only")
    evidence = [e for e in classify_thread(messages).evidence if e.label == "race"]
    assert evidence and {e.pattern for e in evidence} <= {"concurrent_access", "simultaneous", "other_context"}
    assert "race" not in classify_thread(messages).labels


@pytest.mark.parametrize("subject, race", [
    # patch titles of the linux-btrfs and virtualization epochs (../shared/corpus/bulk)
    ("[PATCH] Btrfs: fix memory leak due to concurrent append writes with fiemap", True),
    ("[PATCH] vdpasim: protect concurrent access to iommu iotlb", True),
    ("[PATCH v2 0/9] x86: Concurrent TLB flushes", False),
])
def test_a_fix_for_a_bug_due_to_concurrency_is_race(subject: str, race: bool) -> None:
    # the title says the concurrency causes the bug it fixes; "Concurrent TLB flushes" is a feature
    messages = [("<root@example.org>", subject, "Signed-off-by: A U Thor <author@example.org>\n")]
    assert ("race" in classify_thread(messages).labels) is race


def test_added_documentation_lines_are_prose_not_code() -> None:
    # [PATCH 09/13] Documentation/barriers: its added lines name smp_mb() and READ_ONCE() as
    # text of memory-barriers.txt; no barrier is added to code, so D3 draws no race.
    (message,) = thread("barrier primitive on added documentation lines")
    matches = SCANNER.scan(message[1], message[2])
    assert any(m.pattern.name == "barrier_primitive" for m in matches)
    assert not any(m.zone == "code" for m in matches if m.pattern.label == "ordering")
    assert "race" not in classify_message(message[1], message[2]).labels


@pytest.mark.parametrize("line, pattern", [
    # a stable notice's list of queued patches (virtualization, 1627642217211167@kroah.com)
    ("queue-4.14/net-annotate-data-race-around-sk_ll_usec.patch", "data_race_word"),
    # a syzbot retest names the tested commit (io-uring, cd88eb14-f250-54d1-d36b-7af3917d3bec@gmail.com)
    ("> commit:         dfea9fce io_uring: close a small race gap for files cancel", "race_condition"),
    # a patch that lists its series (btrfs, 20200722112901.15626-1-fdmanana@kernel.org)
    ("1/3 btrfs: fix race between page release and a fast fsync", "race_condition"),
])
def test_a_line_that_names_other_work_is_no_claim(line: str, pattern: str) -> None:
    matches = [m for m in SCANNER.scan("", "Hello\n\n" + line + "\n") if m.pattern.name == pattern]
    assert all(m.zone == "aside" for m in matches)  # a file name, a tested commit, a listed patch


def test_a_patch_replacing_one_barrier_by_another_is_ordering_without_a_race() -> None:
    # [PATCH 07/13] alpha: Replace smp_read_barrier_depends() usage with smp_[r]mb(): the added
    # smp_rmb() lines swap a primitive, they add no missing barrier to racy code (D3 asks one).
    (message,) = thread("barriers replaced, not added")
    result = classify_message(message[1], message[2])
    assert any(e.pattern == "barrier_primitive" and e.zone == "code" for e in result.evidence)
    assert "ordering" in result.labels and "race" not in result.labels
