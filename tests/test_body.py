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


def test_a_hunk_without_file_headers_is_diff():
    # dev2-035 (linux-raid): a pasted patch whose hunks have no "diff --git"/"---" headers
    import json
    from pathlib import Path

    from miner.body import DIFF, PROSE, scan as scan_body
    item = next(json.loads(line) for line in (Path(__file__).parent / "fixtures" / "labels" / "dev2-excerpts.jsonl")
                .read_text().splitlines() if json.loads(line)["id"] == "dev2-035")
    scanned = scan_body(item["text"])
    comment = scanned.lines.index("+\t/* need a memory barrier to detect the race with raid5_quiesce() */")
    assert scanned.kinds[comment] == DIFF
    assert scanned.kinds[0] == PROSE


ZONED_V9_COVER = (  # cover.1604065156.git.naohiro.aota@wdc.com (linux-btrfs epoch), lines 258-273
    " - Split some patches\n"
    " - Rebased on kdave/for-5.9-rc3 + iomap direct IO\n"
    "v6:\n"
    " - Use bitmap helpers (Johannes)\n"
    " - Code cleanup (Johannes)\n"
    " - Implement log-structured superblock\n"
    "   - No need for one conventional zone at the beginning of a device.\n"
    " - Fix deadlock of direct IO writing\n"
    " - Fix building with !CONFIG_BLK_DEV_ZONED (Johannes)\n"
    " - Fix leak of zone_info (Johannes)\n"
    "v5:\n"
    " - Rebased on kdave/for-5.5\n")
PULL_REPLY = (  # 20191022153514.GZ3001@twin.jikos.cz, lines 1-10
    "On Tue, Oct 22, 2019 at 03:52:07PM +0200, David Sterba wrote:\n"
    "> * fix during file sync, the full-sync status might get dropped\n"
    ">   externally, eg. by background witeback under some circumstances\n"
    "\n"
    "Please replace the above merge log entry with\n"
    "\n"
    "* fix race when handling full sync flag\n")
CRYPTO_PULL_END = (  # dev2-233 (linux-crypto), the last lines of the pull request
    "padata: upgrade smp_mb__after_atomic to smp_mb in padata_do_serial (2020-06-18 17:09:54 +1000)\n"
    "\n"
    "Daniel Jordan (1):\n"
    "      padata: upgrade smp_mb__after_atomic to smp_mb in padata_do_serial\n"
    "\n"
    " crypto/af_alg.c         | 26 +++++++++++---------------\n"
    " 6 files changed, 24 insertions(+), 37 deletions(-)\n"
    "\n"
    "Thanks,\n"
    "-- \n"
    "Email: Herbert Xu <herbert@gondor.apana.org.au>\n")


def test_prose_roles_mark_changelogs_attributions_lists_and_signatures():
    from miner.body import ATTRIBUTION, CHANGELOG, LISTING, SIGNATURE, TEXT, prose_roles, scan as scan_body

    def roles(text, lists_patches=False):
        scanned = scan_body(text)
        return dict(zip(scanned.lines, prose_roles(scanned, lists_patches)))

    cover = roles(ZONED_V9_COVER, lists_patches=True)
    assert cover[" - Fix deadlock of direct IO writing"] == CHANGELOG
    assert cover["v6:"] == CHANGELOG
    reply = roles(PULL_REPLY)
    assert reply["On Tue, Oct 22, 2019 at 03:52:07PM +0200, David Sterba wrote:"] == ATTRIBUTION
    assert reply["Please replace the above merge log entry with"] == TEXT
    pull = roles(CRYPTO_PULL_END, lists_patches=True)
    assert pull["Daniel Jordan (1):"] == LISTING
    assert pull["      padata: upgrade smp_mb__after_atomic to smp_mb in padata_do_serial"] == LISTING
    assert pull[" 6 files changed, 24 insertions(+), 37 deletions(-)"] == LISTING
    assert pull["Email: Herbert Xu <herbert@gondor.apana.org.au>"] == SIGNATURE
    assert pull["Thanks,"] == TEXT
