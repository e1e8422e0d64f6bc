"""Legacy web archives: real lkml.iu.edu and marc.info pages against the expectations shipped with them."""

from __future__ import annotations

import html
import subprocess
import sys
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from werkzeug import Request, Response

from miner.errors import MinerError
from miner.parse import parse_message
from miner.fetch.scrape import open_session, scrape_urls
from miner.fetch.archives import lkml_iu, lkml_org, mail_archive, marc
from miner.fetch.settings import HttpConfig
from miner.fetch.archives import archive_for
from miner.store import open_store

PAGES = Path(__file__).parent / "fixtures" / "html"
IU = PAGES / "lkml.iu.edu-hypermail"
MARC = PAGES / "marc.info"
TAGS = re.compile(r'</?(?:br|i|b|p|pre|tt|em|strong|hr|ul|li|a)(?:\s(?:[^>"]|"[^"]*")*)?>', re.IGNORECASE)


def expected(directory: Path, page_id: str) -> dict:
    return json.loads((directory / "expected" / f"{page_id}.json").read_text())["itemOutput"]


def iu_pages() -> list[str]:
    return sorted(p.stem for p in IU.glob("*.html"))


def words(text: str) -> list[str]:
    """Words of a body with markup dropped; non-ASCII letters dropped too (the expected files lost them)."""
    plain = html.unescape(TAGS.sub("", text))
    return "".join(c for c in plain if c.isascii() and c != "\ufffd").split()


@pytest.mark.parametrize("page_id", iu_pages())
def test_lkml_iu_page_gives_the_message_with_its_real_headers(page_id):
    want = expected(IU, page_id)
    result = lkml_iu.parse_page((IU / f"{page_id}.html").read_bytes(), want["url"])
    assert len(result.messages) == 1
    message = parse_message(result.messages[0].raw, None)
    assert message.subject == html.unescape(want["subject"])
    assert message.from_email == want["senderEmail"].lower()
    if want["senderName"] != want["senderEmail"]:
        assert message.from_name == want["senderName"]
    assert not message.message_id_synthetic and "@" in message.message_id
    assert message.date is not None and not message.date_flagged
    # the body is the page's text: the same words as the expected body once its markup is dropped
    assert words(message.body) == words((IU / "expected" / f"{page_id}.txt").read_text())
    if want["replyto"] and not want["url"].endswith("/" + want["replyto"]):
        assert urlsplit(result.links[0]).path.endswith("/" + want["replyto"])


def test_mhonarc_sender_rotation_and_references():
    assert lkml_iu.decode_r13("Oy Hveb <ivebNsgc.yvahk.bet.hx>") == "Al Viro <viro@ftp.linux.org.uk>"
    assert lkml_iu.decode_r13("@nzXnr Xrba <yvaxvawrbaNtznvy.pbz>") == "NamJae Jeon <linkinjeon@gmail.com>"
    page = (IU / "20070524191655.html").read_bytes()
    message = parse_message(lkml_iu.parse_page(page, expected(IU, "20070524191655")["url"]).messages[0].raw, None)
    assert message.message_id == "20070524231638.GC29678@khazad-dum.debian.net"
    assert message.in_reply_to == "20070524223200.GE9604@elf.ucw.cz"  # the last X-Reference
    assert len(message.references) == 10 and message.references[0] == "20070521212522.GL3429@sequoia.sous-sol.org"
    assert message.date == "2007-05-24T23:16:55Z"


def test_hypermail_in_reply_to_comes_from_the_page_comments():
    page = (IU / "19991008202739.html").read_bytes()
    result = lkml_iu.parse_page(page, expected(IU, "19991008202739")["url"])
    message = parse_message(result.messages[0].raw, None)
    assert message.message_id == "199910082133.RAA29928@rushlight.kf8nh.apk.net"
    assert message.in_reply_to == "199910081741.NAA29116@pincoya.inf.utfsm.cl"
    assert result.links == ["http://lkml.iu.edu/hypermail/linux/kernel/9910.1/0189.html"]


@pytest.mark.parametrize("page_id", sorted(p.stem for p in MARC.glob("*.html")))
def test_marc_page_deobfuscated_and_raw_preferred(page_id):
    want = expected(MARC, page_id)
    result = marc.parse_page((MARC / f"{page_id}.html").read_bytes(), want["url"])
    message = parse_message(result.messages[0].raw, None)
    assert message.subject == want["subject"]
    assert message.from_email == marc.deobfuscate(want["senderEmail"]).lower()
    assert "()" not in message.message_id and "!" not in message.message_id
    assert message.body.strip() == (MARC / "expected" / f"{page_id}.txt").read_text().strip()
    assert result.raw_urls == [f"http://marc.info/?l=git&m={marc.message_number(want['url'])}&q=raw"]
    if want["replyto"]:
        assert want["replyto"] in result.links


def test_pages_of_one_archive_are_refused_by_the_others():
    iu_page = (IU / "20160930024050.html").read_bytes()
    marc_page = (MARC / "20070731223613.html").read_bytes()
    with pytest.raises(MinerError, match="not a marc.info message page"):
        marc.parse_page(iu_page, "https://marc.info/?l=x&m=1")
    with pytest.raises(MinerError, match="not an lkml.iu.edu message page"):
        lkml_iu.parse_page(marc_page, "https://lkml.iu.edu/x.html")
    for module in (mail_archive, lkml_org):
        with pytest.raises(MinerError, match="message page"):
            module.parse_page(iu_page, "https://lkml.org/lkml/2016/9/30/1")
    assert archive_for("https://lkml.iu.edu/hypermail/linux/kernel/1609.3/03505.html") is lkml_iu.ARCHIVE
    assert archive_for("https://www.mail-archive.com/linux-kernel@vger.kernel.org/msg1.html") is mail_archive.ARCHIVE
    with pytest.raises(MinerError, match="not a page of a supported archive"):
        archive_for("https://example.org/page.html")


@pytest.fixture
def mirror(httpserver):
    """Serve the real pages under their original paths; everything else is 404."""
    served = {}
    for page_id in iu_pages():
        served[urlsplit(expected(IU, page_id)["url"]).path] = (IU / f"{page_id}.html").read_bytes()

    def handler(request: Request) -> Response:
        if request.path in served:
            return Response(served[request.path], content_type="text/html")
        return Response("not here", status=404)

    httpserver.expect_request(re.compile(".*")).respond_with_handler(handler)
    return httpserver


def test_scrape_url_follows_thread_links_within_max_pages_and_resumes_from_cache(mirror, tmp_path):
    store = open_store(tmp_path / "pages.db")
    session = open_session(store, HttpConfig(rate=0, backoff=0.01, retries=0))
    start = mirror.url_for("/hypermail/linux/kernel/0008.3/0094.html")  # links to 0092 (in reply to), 0097
    summary = scrape_urls(store, session, [start], max_pages=2, progress=False, archive_name="lkml-iu")
    assert (summary.pages, summary.messages_new) == (2, 1)  # the start page, then its in-reply-to page (404)
    asked = [r.path for r, _ in mirror.log if r.path != "/robots.txt"]
    assert asked[-2:] == ["/hypermail/linux/kernel/0008.3/0094.html", "/hypermail/linux/kernel/0008.3/0092.html"]
    row = store.conn.execute("SELECT message_id, from_email FROM messages WHERE ghost=0").fetchone()
    assert row == ("20000824123514.A27213@hq.fsmlabs.com", "yodaiken@fsmlabs.com")

    again = scrape_urls(store, session, [start], max_pages=2, progress=False, archive_name="lkml-iu")
    assert (again.requests, again.cache_hits, again.messages_new) == (0, 2, 0)  # nothing fetched twice


def test_scrape_url_prefers_marc_raw_message_and_falls_back_to_page_text(httpserver, tmp_path):
    page = (MARC / "20070731223613.html").read_bytes()  # links: raw m=118592163426701, prev in thread
    # stand-in for marc's raw answer: a real message from the scrape fixtures (marc's own raw bytes are not saved)
    raw_mail = (Path(__file__).parent / "fixtures" / "scrape" / "cgroups"
                / "syzbot-kcsan-data-race-mem_cgroup_iter.mbox").read_bytes().split(b"\n", 1)[1].split(
                    b"\nFrom mboxrd@z ")[0]
    served = {"l=git&m=118592163426701&w=2": (page, "text/html"), "l=git&m=118592163426701&q=raw":
              (raw_mail, "text/plain")}

    def handler(request: Request) -> Response:
        body, kind = served.get(request.query_string.decode(), (b"gone", "text/plain"))
        return Response(body, status=200 if body != b"gone" else 404, content_type=kind)

    httpserver.expect_request(re.compile(".*")).respond_with_handler(handler)
    store = open_store(tmp_path / "marc.db")
    session = open_session(store, HttpConfig(rate=0, retries=0))
    start = httpserver.url_for("/") + "?l=git&m=118592163426701&w=2"
    summary = scrape_urls(store, session, [start], max_pages=1, progress=False, archive_name="marc")
    assert (summary.pages, summary.messages_new) == (1, 1)
    location = store.conn.execute("SELECT location FROM provenance").fetchone()[0]
    assert location.endswith("&q=raw")  # the raw message was stored, not the page text

    del served["l=git&m=118592163426701&q=raw"]
    fallback = open_store(tmp_path / "marc-fallback.db")
    scrape_urls(fallback, open_session(fallback, HttpConfig(rate=0, retries=0)), [start], max_pages=1,
                progress=False, archive_name="marc")
    row = fallback.conn.execute("SELECT message_id, from_email FROM messages WHERE ghost=0").fetchone()
    assert row == ("Pine.LNX.4.64.0707312335200.14781@racer.site", "johannes.schindelin@gmx.de")


def test_scrape_url_killed_midway_then_rerun_fetches_no_page_twice(mirror, tmp_path):
    """kill -9 a `miner scrape url` run after a few pages, run it again: same messages, no page twice."""
    import signal
    import sqlite3
    import subprocess
    import sys

    from interrupt import signal_after_rows

    urls = [mirror.url_for(urlsplit(expected(IU, page_id)["url"]).path) for page_id in iu_pages()]
    command = [sys.executable, "-m", "miner", "scrape", "url", "--archive", "lkml-iu", "--max-pages", "17",
               "--quiet", *urls]
    whole = tmp_path / "whole.db"
    assert subprocess.run([*command, "--rate", "0", "--db", str(whole)], capture_output=True).returncode == 0
    mirror.clear_log()

    killed = tmp_path / "killed.db"
    process = subprocess.Popen([*command, "--rate", "4", "--db", str(killed)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    signal_after_rows(process, killed, "SELECT count(*) FROM http_responses WHERE url LIKE '%/hypermail/%'",
                      at_least=3, seconds=30)
    assert process.wait() == -signal.SIGKILL, "the scrape finished before it could be killed"
    with sqlite3.connect(killed) as conn:
        stored_before = {urlsplit(row[0]).path for row in conn.execute("SELECT url FROM http_responses")}
    pages_before = {path for path in stored_before if "/hypermail/" in path}
    assert 3 <= len(pages_before) < len(urls)

    mirror.clear_log()
    assert subprocess.run([*command, "--rate", "0", "--db", str(killed)], capture_output=True).returncode == 0
    asked_again = {r.path for r, _ in mirror.log} - {"/robots.txt"}  # each run reads robots.txt afresh
    assert not asked_again & stored_before  # no page stored before the kill is fetched again
    assert pages_before | asked_again >= {urlsplit(url).path for url in urls}
    query = "SELECT message_id, subject, from_email, date FROM messages WHERE ghost = 0 ORDER BY message_id"
    with sqlite3.connect(killed) as conn, sqlite3.connect(whole) as reference:
        assert conn.execute(query).fetchall() == reference.execute(query).fetchall()


# -- lkml.org and mail-archive.com: pages written to the markup the modules describe (no saved page) ------

WRITTEN = PAGES / "written"  # see PROVENANCE.md: written for these tests, not saved from the sites


def plain_body(path: Path) -> str:
    """The body of a real mail as Python's email package decodes it."""
    import email
    from email import policy

    return email.message_from_bytes(path.read_bytes(), policy=policy.default).get_body(("plain",)).get_content()


def test_lkml_org_body_keeps_its_line_breaks():
    page = (WRITTEN / "lkml.org-message.html").read_bytes()
    result = lkml_org.parse_page(page, "https://lkml.org/lkml/2019/5/14/300")
    body = parse_message(result.messages[0].raw).body
    original = plain_body(PAGES.parent / "mail" / "trailers" / "blank-line-before-last-trailer.eml")
    assert body.rstrip("\n").split("\n") == original.split("\n---\n")[0].rstrip("\n").split("\n")
    assert result.links == ["https://lkml.org/lkml/2019/6/3/101"]


def test_mail_archive_thread_page_gives_each_of_its_messages():
    page = (WRITTEN / "mail-archive.com-thread.html").read_bytes()
    result = mail_archive.parse_page(page, "https://www.mail-archive.com/linux-kernel@vger.kernel.org/msg100001.html")
    messages = [parse_message(mail.raw) for mail in result.messages]
    assert [m.message_id for m in messages] == ["20230918044739.29782-1-mirsad.todorovac@alu.unizg.hr",
                                                "20230918094116.2mgquyxhnxcawxfu@quack3"]
    assert messages[0].from_name == "Mirsad Goran Todorovac" and messages[1].from_name == "Jan Kara"
    assert messages[1].subject.startswith("Re: [PATCH v1 1/1] xarray: fix the data-race in xas_find_chunk()")
    assert result.links == ["https://www.mail-archive.com/linux-kernel@vger.kernel.org/msg100003.html"]


def test_a_refused_page_is_kept_as_a_reject_and_the_other_urls_are_scraped(httpserver, tmp_path):
    served = {"/lkml/2019/5/14/1": (MARC / "20070731223613.html").read_bytes(),  # no lkml.org microdata
              "/lkml/2019/5/14/300": (WRITTEN / "lkml.org-message.html").read_bytes()}
    httpserver.expect_request(re.compile(".*")).respond_with_handler(
        lambda request: Response(served[request.path], content_type="text/html") if request.path in served
        else Response("not here", status=404))
    db = tmp_path / "refused.db"
    urls = [httpserver.url_for(path) for path in served]
    result = subprocess.run([sys.executable, "-m", "miner", "scrape", "url", "--archive", "lkml-org", "--db",
                             str(db), "--rate", "0", "--max-pages", "2", "--quiet", *urls],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "1 pages refused" in result.stdout and "not an lkml.org message page" in result.stdout
    assert "parsers not checked against a saved real page: lkml-org" in result.stdout
    store = open_store(db)
    assert store.conn.execute("SELECT count(*) FROM messages WHERE ghost=0").fetchone() == (1,)
    reasons = store.conn.execute("SELECT location, reason FROM rejects").fetchall()
    assert [(urlsplit(location).path, "not an lkml.org message page" in reason) for location, reason in reasons] == [
        ("/lkml/2019/5/14/1", True)]


# -- the seeds: saved page text of lkml.iu.edu and mail-archive.com ----------------------------------

SEED_PAGES = Path(__file__).parent / "fixtures" / "seeds"
SHOWN_DATE = re.compile(r"Date:\s*</strong>\s*(\w{3}) (\w{3}) (\d\d) (\d{4}) - (\d\d:\d\d:\d\d) (EST|EDT)")


def mhonarc_pages() -> list[str]:
    return [page_id for page_id in iu_pages() if "X-Date:" in (IU / f"{page_id}.html").read_text(errors="replace")]


@pytest.mark.parametrize("page_id", mhonarc_pages())
def test_the_date_a_page_shows_as_est_is_the_instant_of_its_own_x_date_comment(page_id):
    from datetime import datetime
    from email.utils import parsedate_to_datetime

    from miner.sources.archive_text import iu_page_date

    text = html.unescape((IU / f"{page_id}.html").read_text(errors="replace"))
    x_date = re.search(r"<!--X-Date: (.*?) -->", text).group(1)
    _, month, day, year, clock, zone = SHOWN_DATE.search(text).groups()
    shown = datetime.strptime(f"{day} {month} {year} {clock}", "%d %b %Y %H:%M:%S")
    assert parsedate_to_datetime(iu_page_date(shown, zone)) == parsedate_to_datetime(x_date)


def test_seed_dates_are_us_eastern_time_with_daylight_saving(store, ingest):
    ingest(SEED_PAGES)
    dates = dict(store.conn.execute(
        "SELECT substr(p.location, -24, 3), m.date FROM messages m JOIN provenance p USING (message_id)"
        " WHERE p.location NOT LIKE '%004_%'").fetchall())
    assert dates == {"000": "2017-07-28T08:49:21Z", "001": "2012-10-03T08:24:58Z", "002": "2009-01-28T21:13:24Z",
                     "003": "2019-09-12T13:48:12Z"}


def test_seed_004_tree_follows_its_attribution_lines_and_its_dates_are_day_only(store, ingest):
    ingest(SEED_PAGES / "004_e4720bfa117e4036.txt")
    rows = store.conn.execute(
        "SELECT m.date, m.from_name, p.date, p.from_name, m.date_precision FROM messages m"
        " LEFT JOIN messages p ON p.message_id = m.parent_id WHERE m.ghost = 0 ORDER BY m.date").fetchall()
    # each reply's first line names whom it answers ("On Sat, Mar 27, 2021 at 9:01 PM Thomas Gleixner wrote:")
    assert [(date[:10], name, parent and parent[:10], parent_name, precision)
            for date, name, parent, parent_name, precision in rows] == [
        ("2021-03-16", "Alexey Klimov", None, None, "day"),
        ("2021-03-18", "Daniel Jordan", "2021-03-16", "Alexey Klimov", "day"),  # "Alexey Klimov writes:"
        ("2021-03-27", "Thomas Gleixner", "2021-03-16", "Alexey Klimov", "day"),  # "On Wed, Mar 17 2021 at 00:36, ..."
        ("2021-04-01", "Qais Yousef", "2021-03-27", "Thomas Gleixner", "day"),  # "On 03/27/21 22:01, Thomas ..."
        ("2021-04-03", "Alexey Klimov", "2021-03-27", "Thomas Gleixner", "day"),  # "On Sat, Mar 27, 2021 ..."
        ("2021-04-14", "Alexey Klimov", "2021-04-03", "Alexey Klimov", "day"),  # "On Sun, Apr 4, 2021 ..."
    ]


# -- marc.info: the page's own headers unless the raw download has real ones; parents from "prev in thread" --

@pytest.mark.parametrize("page_id", sorted(p.stem for p in MARC.glob("*.html")))
def test_marc_parent_page_is_prev_in_thread_as_the_pages_expectations_say(page_id):
    want = expected(MARC, page_id)
    result = marc.parse_page((MARC / f"{page_id}.html").read_bytes(), want["url"])
    assert result.parent_pages == [want["replyto"] or None]


def marc_server(httpserver, served: dict[str, tuple[bytes, str]]):
    def handler(request: Request) -> Response:
        body, kind = served.get(request.query_string.decode(), (b"gone", "text/plain"))
        return Response(body, status=200 if body != b"gone" else 404, content_type=kind)

    httpserver.expect_request(re.compile(".*")).respond_with_handler(handler)
    return httpserver.url_for("/")


def test_marc_body_only_raw_download_is_not_taken_for_the_message(httpserver, tmp_path):
    page = (MARC / "20070731223613.html").read_bytes()
    # derived stand-in for marc's body-only &q=raw answer (no saved one is in the corpus): in-body From: and
    # Subject: lines, then the page's own body text; no Message-ID or Date header
    body_only = (b"From: Johannes Schindelin <Johannes.Schindelin@gmx.de>\n"
                 b"Subject: Re: [PATCH] Make verse of git-config manpage more readable\n\n"
                 + (MARC / "expected" / "20070731223613.txt").read_bytes())
    base = marc_server(httpserver, {"l=git&m=118592163426701&w=2": (page, "text/html"),
                                    "l=git&m=118592163426701&q=raw": (body_only, "text/plain")})
    store = open_store(tmp_path / "marc.db")
    scrape_urls(store, open_session(store, HttpConfig(rate=0, retries=0)), [base + "?l=git&m=118592163426701&w=2"],
                max_pages=1, progress=False, archive_name="marc")
    row = store.conn.execute("SELECT message_id, date, from_email FROM messages WHERE ghost=0").fetchall()
    assert row == [("Pine.LNX.4.64.0707312335200.14781@racer.site", "2007-07-31T22:36:13Z",
                    "johannes.schindelin@gmx.de")]  # the page's headers, not a message without ID or date
    assert store.conn.execute("SELECT location FROM provenance").fetchone()[0].endswith("&w=2")


def test_marc_messages_hang_off_their_prev_in_thread_page(httpserver, tmp_path):
    child = (MARC / "20100831210551.html").read_bytes()  # prev in thread: m=128299035329427
    stand_in = (MARC / "20070731223613.html").read_bytes()  # a real marc page, served as that parent page
    base = marc_server(httpserver, {"l=git&m=128328876208723&w=2": (child, "text/html"),
                                    "l=git&m=128299035329427&w=2": (stand_in, "text/html")})
    store = open_store(tmp_path / "thread.db")
    scrape_urls(store, open_session(store, HttpConfig(rate=0, retries=0)), [base + "?l=git&m=128328876208723&w=2"],
                max_pages=3, progress=False, archive_name="marc")
    rows = dict(store.conn.execute("SELECT message_id, parent_id FROM messages WHERE ghost=0").fetchall())
    parent = "Pine.LNX.4.64.0707312335200.14781@racer.site"
    assert parent in rows and rows[parent] is None
    [(child_id, child_parent)] = [(m, p) for m, p in rows.items() if m != parent]
    assert child_parent == parent
    assert store.conn.execute("SELECT count(DISTINCT thread_id) FROM messages WHERE ghost=0").fetchone() == (1,)
