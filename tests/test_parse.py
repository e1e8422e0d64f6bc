"""Parsing real kernel mail into Message (miner/parse.py)."""

from __future__ import annotations

import re

from miner.parse import ParseError, normalise_date, parse_message, subject_markers
from miner.sources.mbox import read_mbox

from conftest import FIXTURES, SAMPLE

import pytest

PATCHWORK = FIXTURES / "mail" / "patchwork"


def first_message(path):
    return parse_message(next(iter(read_mbox(path))).raw)


@pytest.mark.parametrize(
    "subject, base, tags, version, index, total",
    [
        # real subjects from the corpus
        ("[PATCH v3 0/1] Fix deadlock caused by cgroup_mutex and cpu_hotplug_lock",
         "Fix deadlock caused by cgroup_mutex and cpu_hotplug_lock", ["PATCH"], 3, 0, 1),
        ("Re: [RFC PATCH 4/4] Fix: sched/membarrier: p->mm->membarrier_state racy load (v2)",
         "Fix: sched/membarrier: p->mm->membarrier_state racy load (v2)", ["RFC", "PATCH"], 1, 4, 4),
        ("[PATCH RESEND v3] ARM: multi_v7_defconfig add /proc/config.gz",
         "ARM: multi_v7_defconfig add /proc/config.gz", ["PATCH", "RESEND"], 3, None, None),
        ("Re: [syzbot] [cgroups?] [mm?] KCSAN: data-race in mem_cgroup_iter / mem_cgroup_iter",
         "KCSAN: data-race in mem_cgroup_iter / mem_cgroup_iter", ["SYZBOT"], None, None, None),
        ("[net,v2,1/2] net: ieee802154: remove explicit set skb->sk",
         "net: ieee802154: remove explicit set skb->sk", [], 2, 1, 2),
        ("[PATCH V2 0/4] PM / OPP: Minor cleanups", "PM / OPP: Minor cleanups", ["PATCH"], 2, 0, 4),
        ("Fwd: Re: [PATCH -next] cgroup: Fix AA deadlock caused by cgroup_bpf_release",
         "cgroup: Fix AA deadlock caused by cgroup_bpf_release", ["PATCH"], 1, None, None),
    ],
)
def test_subject_markers(subject, base, tags, version, index, total):
    markers = subject_markers(subject)
    assert markers["base_subject"] == base
    assert markers["tags"] == tags
    assert (markers["version"], markers["index"], markers["total"]) == (version, index, total)


def test_known_patch_headers_trailers_and_files():
    # "[PATCH -next] cgroup: Fix AA deadlock caused by cgroup_bpf_release" (cgroups list, 2024)
    message = first_message(SAMPLE / "mail" / "cgroups" / "patch-fix-AA-deadlock-cgroup_bpf_release.mbox")
    assert message.message_id == "20240607110313.2230669-1-chenridong@huawei.com"
    assert message.from_name == "Chen Ridong" and message.from_email == "chenridong@huawei.com"
    assert message.date == "2024-06-07T11:03:13Z"
    assert message.list_id == "cgroups.vger.kernel.org"
    assert message.is_patch and message.patch_tags == ["PATCH"]
    trailers = [(t.name, t.value) for t in message.trailers]
    assert trailers == [
        ("Fixes", '4bfc0bb2c60e ("bpf: decouple the lifetime of cgroup_bpf from cgroup itself")'),
        ("Signed-off-by", "Chen Ridong <chenridong@huawei.com>"),
    ]
    assert message.trailers[1].person_email == "chenridong@huawei.com"
    files = {(f.path, f.added, f.removed) for f in message.patch_files}
    assert files == {
        ("kernel/bpf/cgroup.c", 1, 1),
        ("kernel/cgroup/cgroup-internal.h", 1, 0),
        ("kernel/cgroup/cgroup.c", 1, 1),
    }
    # prose is the commit message: no diff lines, no signature
    assert "queue_work(cgroup_destroy_wq" not in message.prose
    assert "cgroup_bpf release work into system_wq" in " ".join(message.prose.split())
    assert "2.34.1" not in message.prose


def test_reply_references_are_ordered_and_quotes_are_not_prose():
    replies = list(read_mbox(SAMPLE / "mail" / "io-uring" / "syzbot-possible-deadlock-in-io_sq_thread_finish.mbox"))
    message = parse_message(replies[2].raw)
    assert message.in_reply_to == "824f3c6e-9ae7-af14-fac5-2448afa7446a@gmail.com"
    assert message.references[0] == "000000000000430bf505bcef3b00@google.com"
    assert message.parent_id == message.in_reply_to
    quoted = [line for line in message.body.splitlines() if line.startswith(">")]
    assert quoted and not any(line in message.prose.splitlines() for line in quoted)


def test_multipart_text_part_is_the_body():
    raw = (FIXTURES / "mail" / "multipart-wait_on_bit-003.eml").read_bytes()
    message = parse_message(raw)
    assert message.subject == "Re: [PATCH] wait_on_bit: add an acquire memory barrier"
    assert message.body.strip()
    assert "Content-Type" not in message.body  # MIME structure is gone, only the text remains
    assert "--0000000000004fa1b205e6d7ee0b" not in message.body


def test_raw_utf8_and_broken_headers_from_patchwork():
    assert first_message(PATCHWORK / "mail" / "0014-with-unencoded-utf8-headers.mbox").subject.endswith(
        "to include Rafał Miłecki")
    assert first_message(PATCHWORK / "mail" / "0013-with-utf8-body.mbox").from_name == "Rafał Miłecki"
    invalid = first_message(PATCHWORK / "mail" / "0015-with-invalid-utf8-headers.mbox")
    assert invalid.subject == "MAINTAINERS: Update entry for BCM5301X ARM"
    charset = first_message(PATCHWORK / "mail" / "0010-invalid-charset.mbox")
    assert charset.subject == "Fix pow overflow in non-default rounding modes (bug 16315)"
    assert "pow" in charset.body
    header_char = first_message(PATCHWORK / "mail" / "0012-invalid-header-char.mbox")
    assert header_char.patch_tags == ["PATCH"] and header_char.from_email == "ferruh.yigit@intel.com"


def test_mail_without_message_id_gets_a_stable_flagged_one():
    raw = (PATCHWORK / "mail" / "0017-git-pull-request-git-2-14-3.mbox").read_bytes()
    first, second = parse_message(raw), parse_message(raw)
    assert first.message_id_synthetic
    assert first.message_id == second.message_id and first.message_id.startswith("no-message-id-")
    assert first.subject == "[GIT] Networking" and first.from_email == "davem@davemloft.net"


def test_series_without_references_parses_every_patch():
    mails = list(read_mbox(PATCHWORK / "series" / "base-no-references-no-cover.mbox"))
    messages = [parse_message(m.raw) for m in mails]
    assert len(messages) == 3
    assert [m.patch_index for m in messages] == [0, 1, 2]
    assert all(m.in_reply_to is None and m.references == [] for m in messages)
    assert all(m.list_id == "linux-kernel.vger.kernel.org" for m in messages)


def test_dates_are_utc_and_bad_dates_fall_back_flagged():
    assert normalise_date("Sun, 31 Jul 2022 07:43:34 -0400 (EDT)", None) == ("2022-07-31T11:43:34Z", False)
    assert normalise_date("Fri Jul 28 2017 - 04:49:21", "2017-07-28T00:00:00Z") == ("2017-07-28T00:00:00Z", True)
    # a real message with its Date header damaged: the archive's date is used and flagged
    raw = (FIXTURES / "mail" / "multipart-wait_on_bit-003.eml").read_bytes()
    start = raw.index(b"\nDate: ") + 1
    end = raw.index(b"\n", start)
    damaged = raw[:start] + b"Date: sometime last week" + raw[end:]
    message = parse_message(damaged, archive_date="2022-08-22T10:00:00Z")
    assert (message.date, message.date_flagged) == ("2022-08-22T10:00:00Z", True)


def test_not_mail_is_a_parse_error():
    with pytest.raises(ParseError):
        parse_message(b"")
    with pytest.raises(ParseError):
        parse_message(b"<html><body>Making sure you're not a bot!</body></html>\n")


def test_fast_date_path_agrees_with_the_general_parser_on_real_mail():
    from datetime import timezone
    from email.utils import parsedate_to_datetime

    from miner.parse import _parse_common_date, header_split, parse_header_block, raw_header

    checked = 0
    for path in sorted((SAMPLE / "mail").rglob("*.mbox")):
        for mail in read_mbox(path):
            date = raw_header(parse_header_block(mail.raw[: header_split(mail.raw)[0]])[0], "Date")
            fast = _parse_common_date(date)
            if fast is not None:
                assert fast == parsedate_to_datetime(" ".join(date.split())).astimezone(timezone.utc), date
                checked += 1
    assert checked >= 150  # nearly every Date header of the sample takes the fast path


def test_stored_dates_are_written_as_strftime_writes_them():
    """utc_text_of_utc (the parser's date writer) against UTC_FORMAT, on every Date of the sample and the bounds."""
    from datetime import datetime, timezone

    from miner.parse import EARLIEST_PLAUSIBLE, _parse_common_date, header_split, parse_header_block, raw_header
    from miner.utc import UTC_FORMAT, utc_text_of_utc

    moments = [EARLIEST_PLAUSIBLE, datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)]
    for path in sorted((SAMPLE / "mail").rglob("*.mbox")):
        for mail in read_mbox(path):
            date = raw_header(parse_header_block(mail.raw[: header_split(mail.raw)[0]])[0], "Date")
            moments.append(_parse_common_date(date or ""))
    moments = [moment for moment in moments if moment is not None]
    assert len(moments) >= 150
    for moment in moments:
        assert utc_text_of_utc(moment) == moment.strftime(UTC_FORMAT), moment


# A header block of header lines only, one after the other (line breaks at its end aside), as one
# regex: what parse_header_block's quicker test (_whole_block) must answer as.
_ONE_HEADER = r"[A-Za-z][A-Za-z0-9-]*[ \t]*:.*(?:\n[ \t].*)*"
WHOLE_HEADER_BLOCK = re.compile(_ONE_HEADER + r"(?:\n" + _ONE_HEADER + r")*[\r\n]*")


def _header_blocks() -> list[bytes]:
    """The header block of every mail of the sample and the fixtures."""
    from miner.parse import header_split
    from miner.sources import read_path

    mails = [mail.raw.split(b"\n", 1)[1] if mail.raw.startswith(b"From ") else mail.raw
             for folder in (SAMPLE / "mail", FIXTURES / "mail") for path in sorted(folder.rglob("*"))
             if path.suffix in (".mbox", ".eml") for mail in read_path(path)]
    return [raw[: header_split(raw)[0]] if header_split(raw) else raw for raw in mails]


def test_a_block_of_header_lines_only_gives_what_the_line_by_line_reading_gives():
    """The fast reading of a whole header block (every real one) against the rule for any block."""
    from miner.parse import _headers_line_by_line, _wanted_headers

    blocks = _header_blocks()
    blocks += [b"Subject: a\r\nFrom: b <b@c.d>\r\n\r", b"TO : x\n\tfolded\nto:y", b"Message-Id:<1@x>\n\n",
               b"X-\xe9: y\nSubject: \xe9"]
    whole = 0
    for block in blocks:
        text = block.decode("ascii", "surrogateescape")
        if WHOLE_HEADER_BLOCK.fullmatch(text):
            assert (_wanted_headers(text), None) == _headers_line_by_line(text), block
            whole += 1
    assert whole >= 300  # every sample and fixture mail but a few broken on purpose
    for block in (b"Subject: x\nnot a header\nFrom: y", b"\nSubject: x", b"9abc: num\nSubject: x", b""):
        assert not WHOLE_HEADER_BLOCK.fullmatch(block.decode("ascii", "surrogateescape"))


def test_the_whole_block_test_and_the_tree_of_names_answer_as_the_plain_regexes():
    """parse_header_block's quicker test of a whole block is WHOLE_HEADER_BLOCK.fullmatch, and the tree of
    wanted names (WANTED_HEADER_LINE) finds what a plain alternation of them finds."""
    from miner.parse import WANTED_HEADERS, WANTED_HEADER_LINE, _whole_block

    texts = [block.decode("ascii", "surrogateescape") for block in _header_blocks()]
    texts += ["", "\r\n", "\n", "A: b", "A: b\r\n\r\n", "A: b\n\r\nC: d", "A: b\n c\n", "a b: c", "A: b\nxx\n",
              "A: b\n\n", ":a\n", "A:\r", "A: b\nC d: e", "A-1 :x\n\tfoo\r\n\r", "A: b\n\x0bC: d", "Ab\n",
              "A: b\n\udcffC: d", "A: b\r\r\n\r", " A: b", "A: b\n\r", "A\t: b\n-x: y", "A: b\nC:\n D"]
    plain = re.compile(r"\n(" + "|".join(sorted(WANTED_HEADERS, key=len, reverse=True)) +
                       r")[ \t]*:[ \t]*(.*(?:\n[ \t].*)*)", re.IGNORECASE | re.ASCII)
    texts += ["Subject: a\nCC: b\ncontent-TYPE: c\n d\nContent-Transfer-Encoding:x\nto :y\nTo-x: z\nccc: w"]
    for text in texts:
        assert _whole_block(text) == bool(WHOLE_HEADER_BLOCK.fullmatch(text)), text
        assert WANTED_HEADER_LINE.findall("\n" + text) == plain.findall("\n" + text), text


# --- edge cases Python's email handles (it is the reference here) ---------------------------------

CPYTHON = FIXTURES / "mail" / "cpython"


def _email_text(raw: bytes) -> str:
    """The text/plain payload Python's email finds (compat32, as the standard library parses mail)."""
    import email
    from email.policy import compat32
    message = email.message_from_bytes(raw, policy=compat32)
    parts = [part for part in message.walk() if part.get_content_type() == "text/plain"]
    return "\n".join(part.get_payload(decode=True).decode("utf-8", "replace") for part in parts)


def test_no_blank_line_after_the_headers_starts_the_body_where_email_does():
    raw = (CPYTHON / "msg_35.txt").read_bytes()  # CPython's own test mail for this defect
    message = parse_message(raw)
    assert message.subject == "here's something interesting"
    assert message.body == _email_text(raw) == "counter to RFC 5322, there's no separating newline here\n"


def test_a_mime_part_without_a_blank_line_after_its_headers_keeps_its_body():
    raw = (FIXTURES / "mail" / "multipart-wait_on_bit-003.eml").read_bytes()
    broken = raw.replace(b'Content-Type: text/plain; charset="UTF-8"\n\n', b'Content-Type: text/plain; charset="UTF-8"\n', 1)
    assert broken != raw
    first_part = _email_text(broken).strip()
    assert first_part.startswith("On Mon, Aug 22, 2022 at 10:08 AM Linus Torvalds")
    assert parse_message(broken).body.startswith(first_part)  # then the attached patch, as before


def test_content_type_text_without_subtype_is_text_plain():
    raw = next(iter(read_mbox(SAMPLE / "mail" / "io-uring" / "syzbot-possible-deadlock-in-io_sq_thread_finish.mbox"))).raw
    old_mailer = re.sub(rb"(?mi)^Content-Type:.*$", b"Content-Type: text", raw, count=1)  # ELM's header
    body = parse_message(old_mailer).body
    assert "io_sq_thread_finish" in body and body == _email_text(old_mailer).replace("\r\n", "\n")


def test_mailer_daemon_with_an_empty_address_has_a_clean_name():
    from email.utils import getaddresses
    from miner.parse import parse_from
    assert parse_from("MAILER DAEMON <>") == ("MAILER DAEMON", None)
    assert getaddresses(["MAILER DAEMON <>"])[0][0] == "MAILER DAEMON"


def test_a_nul_in_the_charset_name_and_absurd_dates_are_no_errors():
    raw = (PATCHWORK / "mail" / "0013-with-utf8-body.mbox").read_bytes().split(b"\n", 1)[1]
    nul = re.sub(rb"(?mi)^Content-Type:.*$", b'Content-Type: text/plain; charset="utf\\0-8"', raw, count=1)
    assert parse_message(nul).body.strip() != ""
    for date in (b"Thu, 1 Jan 2024 00:00:00 +99999999999999999999", b"Mon, 1 Jan 99999 00:00:00 +0000"):
        dated = re.sub(rb"(?mi)^Date:.*$", b"Date: " + date, raw, count=1)
        message = parse_message(dated, archive_date="2020-01-01T00:00:00Z")
        assert (message.date, message.date_flagged) == ("2020-01-01T00:00:00Z", True)


def test_every_fixture_and_sample_mail_parses_as_python_email_reads_it():
    """Field by field against Python's email (benchmarks/parse_vs_email.py runs the same on ../shared)."""
    import sys
    sys.path.insert(0, str(FIXTURES.parent.parent / "benchmarks"))
    from parse_vs_email import miner_fields, reference_fields, text_agrees
    from miner.sources import read_path

    paths = [p for folder in (SAMPLE / "mail", FIXTURES / "mail") for p in sorted(folder.rglob("*"))
             if p.suffix in (".mbox", ".eml")]
    compared = 0
    for path in paths:
        for mail in read_path(path):
            ours, theirs = miner_fields(mail.raw), reference_fields(mail.raw)
            for field in ours:
                if field == "text":
                    assert text_agrees(ours[field], theirs[field]), (path, field)
                elif field == "references" and path.name == "bugs-multiple-references.mbox":
                    assert ours[field][: len(theirs[field])] == theirs[field]  # email reads the first header only
                else:
                    assert ours[field] == theirs[field], (path, field, ours[field], theirs[field])
            compared += 1
    assert compared >= 276  # every mail of the sample and the fixtures
