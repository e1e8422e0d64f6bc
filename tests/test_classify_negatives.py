"""Tricky negatives for `ordering` (taxonomy 2.3, D1, D2), as they occur in real list traffic.

Every excerpt is copied verbatim from a message of the real linux-btrfs public-inbox epoch
(../shared/corpus/bulk/linux-btrfs-0-first20k.bundle, GitHub linux-mailinglist-archives/
linux-btrfs.vger.kernel.org.0); the Message-ID is given with each. None of these was in the
hand-labelled dev set: they were found by reading what the rules tagged on the bulk epoch.
"""

from __future__ import annotations

import pytest

from miner.classify import classify_message

NEGATIVES = {
    # D1: a lockdep splat's own wording is lock order (deadlock), never memory ordering
    "lockdep_dependency_chain": (
        "20190612075745.25024-1-wqu@suse.com",
        "[PATCH] btrfs: qgroup: Don't hold qgroup_ioctl_lock in btrfs_qgroup_inherit()",
        "  which lock already depends on the new lock.\n\n"
        "  the existing dependency chain (in reverse order) is:\n\n"
        "  -> #2 (&fs_info->tree_log_mutex){+.+.}:\n",
    ),
    # speculation barriers in a pasted boot log
    "spectre_boot_log": (
        "2433d4cb-e7f7-72c5-977b-02f51e9717b3@petezilla.co.uk",
        "Re: Chasing IO errors. BTRFS: error (device dm-2) in btrfs_run_delayed_refs:2907: errno=-5 IO failure",
        "[    0.006019] Last level dTLB entries: 4KB 1536, 2MB 1536, 4MB 768, 1GB 0\n"
        "[    0.006156] Spectre V1 : Mitigation: usercopy/swapgs barriers and\n"
        "__user pointer sanitization\n"
        "[    0.006225] Spectre V2 : Mitigation: Full AMD retpoline\n",
    ),
    # storage write barriers (disk cache flushes), not CPU barriers: the opening of the reply,
    # whose quoted part sets the storage context ("all disks", "across disks")
    "disk_write_barrier": (
        "20191026000157.GA1046@hungrycats.org",
        "Re: MD RAID 5/6 vs BTRFS RAID 5/6",
        "> > \tOrdering:  a commit completes all uncommitted tree updates on\n"
        "> > \tall disks in any order, then updates superblocks to point to the\n"
        "> > \tupdated tree roots.  A barrier is used to separate these phases\n"
        "> > \tof updates across disks.\n"
        "> I hope my WD Reds implement write barriers correctly. Does anyone know for certain?\n\n"
        "Some WD Red and Green models definitely do not have correct write barrier\n"
        "behavior.  Some WD Black models are OK until they have bad sectors,\n"
        "then during sector reallocation events they discard the contents of the\n",
    ),
    # I/O reordering of bios by workers (zoned writes), not memory ordering
    "bio_reordering": (
        "20190808093038.4163421-22-naohiro.aota@wdc.com",
        "[PATCH v3 21/27] btrfs: avoid async checksum/submit on HMZONED mode",
        "Even with these serialization, write bios sent from\n"
        "{btree,btrfs}_write_cache_pages can be reordered by async checksum workers\n"
        "as these workers are per CPU and not per zone.\n",
    ),
    # D2: naming the memory model in passing
    "memory_model_mention": (
        "20190606135219.1086-1-nborisov@suse.com",
        "[PATCH 0/2] Refactor snapshot vs nocow writers locking",
        "details and invariants that the lock provide. \n\n"
        "I have also CC'ed a copule of the maintainer of linux memory model since my \n"
        "patches just factor out the code and I would really like someone proficient \n",
    ),
    # single-threaded initialisation order
    "not_yet_initialised_single_path": (
        "20200114060920.4527-4-anand.jain@oracle.com",
        "[PATCH 4/4] btrfs: use btrfs consistent logging wrappers",
        "Now as we could use the btrfs_info(), btrfs_warn() etc.. in the context\n"
        "where fs_info is not yet initialized, so replace pr_info with btrfs_info\n"
        "in device_list_add() for a consistent log format from btrfs.\n",
    ),
}


@pytest.mark.parametrize("name", sorted(NEGATIVES))
def test_not_ordering(name):
    message_id, subject, text = NEGATIVES[name]
    result = classify_message(subject, text, message_id)
    assert "ordering" not in result.labels, [e for e in result.evidence if e.label == "ordering"]


def test_a_race_scenario_is_race_not_ordering():
    # "[PATCH v2] btrfs: qgroup: Fix data leakage caused by race between writeback and truncate"
    # <20200717071205.26027-1-wqu@suse.com>: an interleaving, framed as a race (D5)
    text = ("The following sequence of events could happen after the writev():\n"
            "\tCPU1 (writeback)\t\t|\t\tCPU2 (truncate)\n"
            "-----------------------------------------------------------------\n")
    result = classify_message("[PATCH v2] btrfs: qgroup: Fix data leakage caused by race between writeback "
                              "and truncate", text, "20200717071205.26027-1-wqu@suse.com")
    assert "race" in result.labels and "ordering" not in result.labels
