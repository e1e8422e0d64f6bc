"""Message kinds and what of each kind counts (miner/classify/kinds.py), on real subjects and lines.

Subjects and lines are copied from the linux-btrfs epoch (../shared/corpus/bulk), named by
Message-ID, and from the dev sets (tests/fixtures/labels/dev.jsonl).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from miner.classify import classify_message, classify_thread
from miner.classify.kinds import (
    APPLIED_NOTICE,
    COVER_LETTER,
    KINDS,
    PATCH,
    PULL_REQUEST,
    REPLY,
    REPORT,
    ROBOT_REPORT,
    STABLE_BACKPORT,
    SYZBOT_DIGEST,
    SYZBOT_REPORT,
    TIP_COMMIT,
    message_kind,
)

DEV = {item["id"]: item for item in map(
    json.loads, (Path(__file__).parent / "fixtures" / "labels" / "dev.jsonl").read_text().splitlines())}


@pytest.mark.parametrize("subject, sender, text, kind", [
    ("[PATCH v9 00/41] btrfs: zoned block device support", "naohiro.aota@wdc.com", "", COVER_LETTER),
    ("[PATCH v3 7/8] btrfs: introduce rescue=ignoredatacsums", "josef@toxicpanda.com", "", PATCH),
    ("Re: find snapshot parent?", "nborisov@suse.com", "", REPLY),
    ("[GIT PULL] Btrfs fixes for 5.4-rc5", "dsterba@suse.com", "", PULL_REQUEST),
    ("Re: [GIT PULL] Btrfs fixes for 5.9-rc4", "pr-tracker-bot@kernel.org", "", ROBOT_REPORT),
    ("[PATCH AUTOSEL 5.7 067/274] btrfs: account for trans_block_rsv in may_commit_transaction",
     "sashal@kernel.org", "", STABLE_BACKPORT),
    ("[tip: sched/urgent] sched/rt, btrfs: Use CONFIG_PREEMPTION", "tip-bot2@linutronix.de", "", TIP_COMMIT),
    ("possible deadlock in start_transaction", "syzbot+ec309a632856890f2635@syzkaller.appspotmail.com",
     "Hello,\n\nsyzbot found the following issue on:\n\nHEAD commit:    ccc1d052 Merge tag 'dmaengine-fix-5.9'", SYZBOT_REPORT),
    (DEV["dev-094"]["subject"], None, DEV["dev-094"]["text"], SYZBOT_DIGEST),
    ("[btrfs] 5dd570e069: xfstests.btrfs.220.fail", "oliver.sang@intel.com",
     "Greeting,\n\nFYI, we noticed the following commit (built with gcc-9):", ROBOT_REPORT),
    ("Re[2]: [Samba] Fw: Btrfs Samba and Quotas", "hendrik@friedels.name", "", REPLY),
    ("Possible data race on btrfs_set_block_group_used(&cache->item, ...) when two syncfs runs in parallel",
     "mengxu.gatech@gmail.com", "", REPORT),
])
def test_kind_from_subject_sender_and_head(subject, sender, text, kind):
    assert message_kind(subject, text, sender) == kind
    assert kind in KINDS


def test_applied_notice_is_a_short_reply_saying_so():
    # 20191024182450.GJ3001@twin.jikos.cz: the first and last lines of the reply
    text = ("On Tue, Sep 03, 2019 at 07:46:19AM +0800, Qu Wenruo wrote:\n"
            "> In check_extent_data_item(), we read file extent type without verifying\n"
            "> if the item size is valid.\n> \n> Signed-off-by: Qu Wenruo <wqu@suse.com>\n\n"
            "I lost track of this patch, now added to for-next. Thanks.\n")
    subject = "Re: [PATCH] btrfs: tree-checker: Check item size before reading file extent type"
    assert message_kind(subject, text, "dsterba@suse.cz") == APPLIED_NOTICE


def test_a_pull_request_thread_lists_other_work():
    # 20191022153514.GZ3001@twin.jikos.cz, lines 1-10, a reply in the pull request
    # cover.1571751313.git.dsterba@suse.com: a corrected merge-log entry, not a race discussion
    root = ("cover.1571751313.git.dsterba@suse.com", "[GIT PULL] Btrfs fixes for 5.4-rc5",
            "Hi,\n\nplease pull the following updates, all stable material.\nThanks.\n", "dsterba@suse.com")
    reply = ("20191022153514.GZ3001@twin.jikos.cz", "Re: [GIT PULL] Btrfs fixes for 5.4-rc5",
             "On Tue, Oct 22, 2019 at 03:52:07PM +0200, David Sterba wrote:\n"
             "> * fix during file sync, the full-sync status might get dropped\n"
             ">   externally, eg. by background witeback under some circumstances\n\n"
             "Please replace the above merge log entry with\n\n"
             "* fix race when handling full sync flag\n\n"
             "The above wording was wrong and misleading, the changelog has all the\n"
             "deatils and my attempt to condense it did not work very well. Thanks.\n", "dsterba@suse.cz")
    result = classify_thread([root, reply])
    assert result.kinds == {root[0]: PULL_REQUEST, reply[0]: REPLY}
    assert "race" not in result.labels and result.scores["race"] > 0


def test_a_digest_names_titles_it_does_not_discuss():
    # dev-094 (linux-xfs): a monthly syzbot report listing "possible deadlock in" titles
    item = DEV["dev-094"]
    assert message_kind(item["subject"], item["text"]) == SYZBOT_DIGEST
    assert classify_message(item["subject"], item["text"]).labels == []
    assert classify_thread([("d", item["subject"], item["text"])]).labels == []


ZONED_CHANGELOG = (  # cover.1604065156.git.naohiro.aota@wdc.com, lines 260-273 (the v9 cover letter)
    "v6:\n"
    " - Use bitmap helpers (Johannes)\n"
    " - Code cleanup (Johannes)\n"
    " - Rebased on kdave/for-5.5\n"
    " - Enable the tree-log feature.\n"
    " - Implement log-structured superblock\n"
    "   - No need for one conventional zone at the beginning of a device.\n"
    " - Fix deadlock of direct IO writing\n"
    " - Fix building with !CONFIG_BLK_DEV_ZONED (Johannes)\n"
    " - Fix leak of zone_info (Johannes)\n"
    "v5:\n"
    " - Rebased on kdave/for-5.5\n")


def test_a_changelog_bullet_of_a_cover_letter_does_not_label_the_thread():
    subject = "[PATCH v9 00/41] btrfs: zoned block device support"
    result = classify_thread([("cover", subject, "This series adds zoned block device support.\n\n" + ZONED_CHANGELOG)])
    assert result.labels == []
    assert result.kinds == {"cover": COVER_LETTER}


def test_a_series_member_needs_its_own_analysis():
    # [PATCH v8 35/41] (2020-10) line 2: one sentence of design rationale in a 41-patch series
    cover = ("cover", "[PATCH v8 00/41] btrfs: zoned block device support", "This series adds zoned support.")
    member = ("p35", "[PATCH v8 35/41] btrfs: enable relocation in ZONED mode",
              "To serialize allocation and submit_bio, we introduced mutex around them. As\n"
              "a result, preallocation must be completely disabled to avoid a deadlock.\n")
    assert classify_thread([cover, member]).labels == []
    assert "deadlock" in classify_message(member[1], member[2]).labels  # alone, the patch is about it
