"""miner/trailers.py against b4 (kernel.org's patch tool): names by shape, what is no trailer, follow-ups.

Every mail here is real (tests/fixtures/mail/trailers, see PROVENANCE.md); the two cases no real
mail of the corpus shows ("Cc:" below ``---``, "Reviewed-by: yet.") are one line added to a real
mail, said so where they are made.
"""

from __future__ import annotations

import email
import glob
from pathlib import Path

import b4
import pytest

from b4_reference import (Agreement, b4_followup_trailers, b4_message, b4_patch_trailers, compare_message,
                          miner_trailers)
from conftest import FIXTURES
from miner.ingest import ingest_paths
from miner.parse import parse_message
from miner.sources.mbox import split_mbox
from miner.trailers import canonical_name

TRAILERS = FIXTURES / "mail" / "trailers"


def raw(name: str) -> bytes:
    return (TRAILERS / name).read_bytes()


def trailers_of(data: bytes) -> list[tuple[str, str, str | None, str | None]]:
    return [(t.written_name, t.name, t.kind, t.person_email) for t in parse_message(data).trailers]


# -- item 2: names are an open set, told by shape -------------------------------------------------

@pytest.mark.parametrize("fixture,written,address", [
    ("reported-and-tested-by-cgroups.eml", "Reported-and-tested-by", "xuewen.yan@unisoc.com"),
    ("reported-and-tested-by-syzbot-reply.eml", "Reported-and-tested-by",
     "syzbot+ac39856cb1b332dbbdda@syzkaller.appspotmail.com"),
    ("reveiwed-by-reply.eml", "Reveiwed-by", "wqu@suse.com"),
])
def test_names_outside_any_list_are_kept_as_written_with_a_canonical_form(fixture, written, address):
    data = raw(fixture)
    found = [t for t in parse_message(data).trailers if t.person_email == address]
    assert [(t.written_name, t.kind) for t in found] == [(written, "person")]
    assert found[0].name == canonical_name(written)
    assert (written.lower(), address) in b4_followup_trailers(b4_message(data))  # b4 reads the same line


def test_canonical_names():
    assert canonical_name("Reveiwed-by") == "Reviewed-by"
    assert canonical_name("reviewed-By") == "Reviewed-by"
    assert canonical_name("Reported-and-tested-by") == "Reported-and-tested-by"
    assert canonical_name("BUGLINK") == "BugLink"
    assert canonical_name("co-authored-by") == "Co-authored-by"


# -- item 3: what is no trailer --------------------------------------------------------------------

def test_outlook_quoted_header_block_and_the_mail_below_it_are_not_the_authors():
    data = raw("outlook-quoted-header-block.eml")
    text = parse_message(data).body
    assert "\nCc: kasan-dev@googlegroups.com;" in text and "\nSigned-off-by: Yeoreum Yun" in text
    assert trailers_of(data) == []
    # b4 hands the quoted patch's own trailers to the reply as follow-ups: the reply's author gave none
    assert ("signed-off-by", "yeoreum.yun@arm.com") in b4_followup_trailers(b4_message(data))


def test_cc_below_the_separator_is_not_a_trailer():
    # derived: the real patch with a "Cc:" line put below its "---", as git send-email users do
    original = raw("blank-line-before-last-trailer.eml")
    data = original.replace(b"\n---\n", b"\n---\nCc: David Sterba <dsterba@suse.com>\n", 1)
    assert data != original
    assert [t.person_email for t in parse_message(data).trailers if t.name == "Cc"] == []
    assert ("cc", "dsterba@suse.com") not in b4_patch_trailers(b4_message(data))  # b4 agrees


def test_prose_with_a_trailer_name_is_not_a_trailer():
    # derived: one prose line added to a real reply
    original = raw("reveiwed-by-reply.eml")
    data = original.replace(b"\nReveiwed-by:", b"\nReviewed-by: yet.\nReveiwed-by:", 1)
    assert data != original
    assert [t.value for t in parse_message(data).trailers if t.name == "Reviewed-by"] == [
        "Qu Wenruo <wqu@suse.com>"]
    assert ("reviewed-by", "yet.") not in b4_followup_trailers(b4_message(data))  # b4 agrees


@pytest.mark.parametrize("fixture", ["in-body-from-date-headers.eml", "tip-bot-commit-headers.eml"])
def test_in_body_headers_are_not_trailers_as_b4_reads_them(fixture):
    data = raw(fixture)
    assert sorted(miner_trailers(data)) == sorted(b4_patch_trailers(b4_message(data)))


# -- where miner is right and b4 is not ------------------------------------------------------------

def test_quilt_index_lines_are_no_trailers_and_the_sign_off_above_them_is():
    data = raw("quilt-index-wait_on_buffer.eml")
    assert miner_trailers(data) == [("signed-off-by", "mpatocka@redhat.com"), ("cc", "stable@vger.kernel.org")]
    # b4 am splits at "---" only; quilt has none, so its last paragraph is the Index: lines
    assert b4_patch_trailers(b4_message(data)) == [("index", "linux-2.6/include/linux/buffer_head.h"),
                                                     ("index", "linux-2.6/fs/buffer.c")]


@pytest.mark.parametrize("fixture,b4_misses", [
    ("blank-line-before-last-trailer.eml", [("fixes", '9e271ae27e44 ("Btrfs: kernel operation should come after'
                                                      ' user input has been verified")')]),
    ("notes-after-trailers.eml", [("signed-off-by", "anand.jain@oracle.com")]),
    ("cc-paragraph-before-last-trailers.eml", [("cc", "jbaron@akamai.com"), ("cc", "clm@fb.com"),
                                                ("cc", "josef@toxicpanda.com"), ("cc", "dsterba@suse.com"),
                                                ("cc", "rjw@rjwysocki.net"), ("cc", "lenb@kernel.org"),
                                                ("cc", "davem@davemloft.net"), ("cc", "kuba@kernel.org"),
                                                ("cc", "pmladek@suse.com"), ("cc", "sergey.senozhatsky@gmail.com"),
                                                ("cc", "rostedt@goodmis.org"), ("cc", "gregkh@linuxfoundation.org")]),
])
def test_trailers_before_a_blank_line_are_kept_where_b4_reads_only_the_last_paragraph(fixture, b4_misses):
    result = compare_message(raw(fixture))
    assert result.only_b4 == []
    assert result.only_miner == b4_misses


def test_two_attached_patches_each_keep_their_sign_off():
    data = raw("two-attached-patches.eml")
    assert miner_trailers(data) == [("signed-off-by", "hch@lst.de")] * 2
    assert b4_followup_trailers(b4_message(data)) == [("signed-off-by", "hch@lst.de")]  # b4: one, as a follow-up


# -- agreement with b4 on every patch mail of the fixtures (and of the btrfs epoch, when at hand) ------

def fixture_mails() -> list[tuple[str, bytes]]:
    mails = []
    for path in sorted(glob.glob(str(FIXTURES / "**" / "*.mbox"), recursive=True)):
        with open(path, "rb") as handle:
            mails += [(f"{Path(path).name}:{i}", mail.raw) for i, mail in enumerate(split_mbox(handle, path))]
    mails += [(path.name, path.read_bytes()) for path in sorted(TRAILERS.glob("*.eml"))]
    return mails


EXPLAINED = {  # patch mails where miner and b4 differ, each shown above: (only b4, only miner) line counts
    "blank-line-before-last-trailer.eml": (0, 1),
    "notes-after-trailers.eml": (0, 1),
    "cc-paragraph-before-last-trailers.eml": (0, 12),
    "quilt-index-wait_on_buffer.eml": (2, 2),
}


def test_fixture_patch_mails_agree_with_b4_but_for_the_cases_shown():
    total = Agreement()
    differing = {}
    for where, data in fixture_mails():
        result = compare_message(data)
        if result is None:
            continue
        total.add(result, where)
        if result.only_b4 or result.only_miner:
            differing[where] = (len(result.only_b4), len(result.only_miner))
    assert total.messages >= 60 and total.both >= 130, total.report()
    assert differing == EXPLAINED, total.report()


def test_btrfs_epoch_patch_mails_agree_with_b4(tmp_path):
    import sys

    from epochs import bulk_epoch

    repo = bulk_epoch(tmp_path, name="btrfs.git")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from trailers_vs_b4 import epoch_messages

    total = Agreement()
    for commit, data in epoch_messages(repo, 2500):
        result = compare_message(data)
        if result is not None:
            total.add(result, commit)
    assert total.messages > 500
    assert total.only_b4 <= 0.01 * total.both and total.only_miner <= 0.01 * total.both, total.report()


# -- item 4: follow-up and cover-letter trailers apply to patches, as b4 collects them ------------

SERIES = [FIXTURES / "scrape" / "linux-btrfs" / "patch-fix-deadlock-chunk-allocation-vs-chunk-tree.mbox",
          TRAILERS / "slub-sysfs-v2-series.mbox"]


def b4_followups(path: Path) -> set[tuple[str, str, str, str]]:
    """(patch Message-ID, trailer name, address, how) for each follow-up trailer b4 gives a patch."""
    mailbox = b4.LoreMailbox()
    with open(path, "rb") as handle:
        for mail in split_mbox(handle, str(path)):
            mailbox.add_message(email.message_from_bytes(mail.raw, policy=b4.emlpolicy))
    def answers(trailer, target: str) -> bool:
        """The trailer's message is a reply below ``target`` (b4 also carries trailers over to a later
        revision's identical patch by git patch-id: that is no reply, and not what the table records)."""
        current, seen = trailer.lmsg, set()
        while current is not None and current.msgid not in seen:
            if current.msgid == target:
                return True
            seen.add(current.msgid)
            current = mailbox.msgid_map.get(current.in_reply_to or "")
        return False

    found = set()
    for revision in sorted(mailbox.series):
        series = mailbox.get_series(revision, codereview_trailers=False)
        patches = [p for p in series.patches[1:] if p is not None]
        cover = series.patches[0]
        for patch in patches:
            found |= {(patch.msgid, t.name.lower(), t.addr[1].lower(), "reply") for t in patch.followup_trailers
                      if answers(t, patch.msgid)}
        if cover is not None:
            found |= {(patch.msgid, t.name.lower(), t.addr[1].lower(), "cover")
                      for t in cover.followup_trailers for patch in patches if answers(t, cover.msgid)}
    return found


@pytest.mark.parametrize("path", SERIES, ids=lambda p: p.stem)
def test_follow_up_trailers_apply_to_the_patches_b4_gives_them_to(store, path):
    ingest_paths(store, [path], progress=False, workers=1)
    rows = store.conn.execute(
        "SELECT applies_to, lower(written_name), person_email, applies_via FROM trailers"
        " WHERE applies_via IN ('reply', 'cover')").fetchall()
    expected = b4_followups(path)
    assert expected  # both threads have follow-ups
    assert set(rows) == expected and len(rows) == len(expected)


def test_own_trailers_apply_to_their_patch_and_cover_trailers_are_counted_once(store):
    path = TRAILERS / "slub-sysfs-v2-series.mbox"
    ingest_paths(store, [path], progress=False, workers=1)
    own = store.conn.execute("SELECT count(*) FROM trailers WHERE applies_via='own' AND applies_to != message_id")
    assert own.fetchone() == (0,)
    written = store.conn.execute(
        "SELECT count(*), count(DISTINCT applies_to) FROM trailers WHERE applies_via='cover' AND copied=0").fetchone()
    copies = store.conn.execute("SELECT count(*) FROM trailers WHERE applies_via='cover' AND copied=1").fetchone()
    assert written == (1, 1) and copies == (3,)  # one Tested-by on the cover of a 4-patch series
