"""Splitting bodies into prose, quotes and diffs (miner/body.py), on real mail."""

from __future__ import annotations

from miner.body import scan, split_lines
from miner.parse import parse_message
from miner.sources.mbox import read_mbox

from conftest import SAMPLE


def bodies(path):
    return [parse_message(m.raw).body for m in read_mbox(path)]


def test_patch_lines_are_diff_with_their_file():
    body = bodies(SAMPLE / "mail" / "cgroups" / "patch-fix-AA-deadlock-cgroup_bpf_release.mbox")[0]
    lines = split_lines(body)
    by_text = {line.text: line for line in lines}
    added = by_text["+\tqueue_work(cgroup_destroy_wq, &cgrp->bpf.release_work);"]
    assert added.kind == "diff" and added.path == "kernel/bpf/cgroup.c"
    assert by_text["diff --git a/kernel/cgroup/cgroup.c b/kernel/cgroup/cgroup.c"].path == "kernel/cgroup/cgroup.c"
    # a code comment inside the hunk is diff, not prose, even though it reads like prose
    comment = next(line for line in lines if "which may lead to deadlock." in line.text)
    assert comment.kind == "diff"
    assert by_text["Signed-off-by: Chen Ridong <chenridong@huawei.com>"].kind == "prose"
    assert [line.number for line in lines] == list(range(1, len(lines) + 1))


def test_quotes_have_depth_and_prose_after_a_hunk_is_prose():
    replies = bodies(SAMPLE / "mail" / "io-uring" / "syzbot-possible-deadlock-in-io_sq_thread_finish.mbox")
    reply = next(body for body in replies if "\n> > " in body or "\n>> " in body)
    lines = split_lines(reply)
    depths = {line.depth for line in lines if line.kind == "quote"}
    assert 1 in depths and max(depths) >= 2
    assert all(line.depth == 0 for line in lines if line.kind != "quote")


def test_hunk_counts_end_the_diff():
    # the xarray READ_ONCE patch: prose after the diff must not be swallowed by it
    body = bodies(SAMPLE / "mail" / "linux-btrfs" / "patch-xarray-fix-data-race-xas_find_chunk-READ_ONCE.mbox")[0]
    scanned = scan(body)
    assert "include/linux/xarray.h" in scanned.files
    added, removed = scanned.files["include/linux/xarray.h"]
    assert added >= 1 and removed >= 1
    diff_lines = [line for line, kind in zip(scanned.lines, scanned.kinds) if kind == "d"]
    assert any("READ_ONCE" in line for line in diff_lines)
    assert all(line.startswith(("+", "-", " ", "@@", "diff ", "index ", "\\")) or line == ""
               for line in diff_lines)
