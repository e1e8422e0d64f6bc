"""lore / public-inbox scraping: recorded public-inbox responses replayed, and a live public-inbox-httpd."""

from __future__ import annotations

import re
import time
from email.utils import format_datetime
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote

import pytest
from werkzeug import Request, Response

from miner.errors import MinerError
from miner.fetch.scrape import LoreScrape, open_session, saved_scrapes, scrape_lore, scrape_lore_git, scrape_lore_thread, sync
from miner.fetch import lore
from miner.fetch.http import ChallengePage
from miner.fetch.settings import HttpConfig
from miner.store import open_store
from pi_server import fixture_messages, make_server

HERE = Path(__file__).parent
RENDERED = HERE / "fixtures" / "html"  # urls.tsv paths are relative to this directory
CHALLENGE = HERE / "fixtures" / "html" / "lore.kernel.org-anubis-challenge.html"


def config(**overrides) -> HttpConfig:
    values = dict(rate=0, backoff=0.01, retries=1, timeout=10)
    values.update(overrides)
    return HttpConfig(**values)


def recorded_responses() -> dict[str, tuple[int, str, Path]]:
    """lore path+query -> (status, content type, file) from the recorded public-inbox output."""
    table = {}
    for line in (RENDERED / "public-inbox-rendered" / "urls.tsv").read_text().splitlines():
        if line.startswith("#"):
            continue
        path, status, content_type, file, _ = line.split("\t")
        table[unquote(path)] = (int(status), content_type, RENDERED / file.removeprefix("html/"))
    return table


@pytest.fixture
def replay(httpserver):
    """pytest-httpserver answering exactly what public-inbox answered (404 for anything else)."""
    table = recorded_responses()
    asked = []

    def handler(request: Request) -> Response:
        query = unquote(request.query_string.decode())
        key = request.path + ("?" + query if query else "")
        asked.append(key)
        if request.path == "/robots.txt":
            return Response("User-agent: *\nDisallow: /*/s/\n", content_type="text/plain")
        if key not in table and re.fullmatch(r"/[^/]+/", key):  # an inbox's top page, as lore answers it
            return Response("<html><body>inbox</body></html>", content_type="text/html")
        if key not in table:
            return Response("404 Not Found", status=404)
        status, content_type, file = table[key]
        return Response(file.read_bytes(), status=status, content_type=content_type)

    httpserver.expect_request(re.compile(".*")).respond_with_handler(handler)
    httpserver.asked = asked
    return httpserver


# -- pure parts ------------------------------------------------------------------------------------

def test_query_and_urls_follow_public_inbox():
    target = lore.LoreTarget("https://lore.kernel.org/", "lkml")
    assert lore.build_query("s:deadlock", "2024-01-01", "2024-02-01") == "(s:deadlock) d:20240101..20240201"
    assert lore.build_query("s:race", received_after=1700000000) == "(s:race) rt:1700000000.."
    with pytest.raises(MinerError, match="give --query, --since or --until"):
        lore.build_query("", None, None)
    assert lore.search_page_url(target, "s:deadlock d:20240101..", 200) == (
        "https://lore.kernel.org/lkml/?q=s%3Adeadlock%20d%3A20240101..&x=A&o=200")
    assert lore.thread_mbox_url(target, "a/b?c#d%e@host") == (
        "https://lore.kernel.org/lkml/a%2Fb%3Fc%23d%25e@host/t.mbox.gz")


def test_atom_search_page_gives_message_ids_in_feed_order():
    atom = (RENDERED / "public-inbox-rendered" / "io-uring" / "_list" / "search-s_deadlock.atom").read_bytes()
    ids = lore.parse_atom_message_ids(atom, "search-s_deadlock.atom")
    assert len(ids) == 143 and len(set(ids)) == 143
    assert "000000000000430bf505bcef3b00@google.com" in ids  # root of 'possible deadlock in io_sq_thread_finish'
    assert all("@" in i and "/" not in i for i in ids)
    with pytest.raises(MinerError, match="not an Atom feed"):
        lore.parse_atom_message_ids(b"<html><body>hi</body></html>", "page.html")


# -- recorded responses ------------------------------------------------------------------------------

def test_replayed_search_stores_whole_threads(replay, tmp_path):
    store = open_store(tmp_path / "replay.db")
    session = open_session(store, config())
    summary = scrape_lore(store, session, LoreScrape(replay.url_for("/").rstrip("/"), "io-uring", "s:deadlock"),
                          progress=False)
    assert summary.matches == 143  # the recorded inbox holds the whole io-uring list
    # each recorded thread mbox holds a whole thread; both syzbot deadlock threads have 15 messages
    for root, size in (("000000000000430bf505bcef3b00@google.com", 15),
                       ("00000000000037bd5305b06a8988@google.com", 15)):
        thread_id = store.conn.execute("SELECT thread_id FROM messages WHERE message_id=?", (root,)).fetchone()[0]
        assert store.conn.execute("SELECT message_count FROM threads WHERE thread_id=?",
                                  (thread_id,)).fetchone()[0] == size
    thread_requests = [a for a in replay.asked if a.endswith("/t.mbox.gz")]
    assert len(thread_requests) == len(set(thread_requests)) == summary.threads_fetched
    assert summary.threads_fetched + summary.threads_skipped + summary.matches_in_fetched == 143
    assert summary.messages_new == 30  # only the recorded thread mboxes exist; the rest answer 404
    provenance = store.conn.execute("SELECT DISTINCT source_type FROM provenance").fetchall()
    assert provenance == [("lore",)]


def test_no_results_is_not_an_error(replay, tmp_path):
    store = open_store(tmp_path / "empty.db")
    session = open_session(store, config())
    summary = scrape_lore(store, session, LoreScrape(replay.url_for("/").rstrip("/"), "io-uring", "KCSAN data-race"),
                          progress=False)
    assert (summary.matches, summary.threads_fetched, summary.messages_new) == (0, 0, 0)


def test_challenge_page_stops_the_scrape_and_stores_nothing(httpserver, tmp_path):
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    httpserver.expect_request("/lkml/").respond_with_data(CHALLENGE.read_bytes(), status=200,
                                                          content_type="text/html; charset=utf-8")
    store = open_store(tmp_path / "challenged.db")
    with pytest.raises(ChallengePage, match=r"/lkml/\?q=s%3Adeadlock&x=A: the server answered with an anti-bot"):
        scrape_lore(store, open_session(store, config()),
                    LoreScrape(httpserver.url_for("/").rstrip("/"), "lkml", "s:deadlock"), progress=False)
    assert store.conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 0


# -- a live public-inbox server ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def cgroups(tmp_path_factory):
    messages = fixture_messages("cgroups")
    held_back = messages.pop()  # the last reply of the last thread arrives later (sync test)
    server = make_server(tmp_path_factory.mktemp("pi"), "cgroups", messages, index_level="full")  # phrases
    server.held_back = held_back
    yield server
    server.stop()


def test_msgid_fetches_one_thread_and_offline_rereads_it(cgroups, tmp_path):
    store = open_store(tmp_path / "one.db")
    target = lore.LoreTarget(cgroups.base_url, "cgroups")
    session = open_session(store, config())
    summary = scrape_lore_thread(store, session, target, "<000000000000f5b0d0060a430995@google.com>", progress=False)
    assert (summary.threads_fetched, summary.messages_new, summary.requests) == (1, 5, 2)  # robots.txt + thread
    subjects = {row[0] for row in store.conn.execute("SELECT base_subject FROM messages WHERE ghost=0")}
    assert subjects == {"possible deadlock in cgroup_free"}

    offline = open_session(store, config(offline=True))
    again = scrape_lore_thread(store, offline, target, "000000000000f5b0d0060a430995@google.com", progress=False)
    assert (again.requests, again.cache_hits, again.messages_read, again.messages_new) == (0, 1, 5, 0)
    with pytest.raises(MinerError, match="no such thread"):
        scrape_lore_thread(store, session, target, "no-such-message@example.org", progress=False)


def test_sync_fetches_only_new_or_grown_threads(cgroups, tmp_path):
    store = open_store(tmp_path / "sync.db")
    session = open_session(store, config())
    first = scrape_lore(store, session, LoreScrape(cgroups.base_url, "cgroups", "s:deadlock"), progress=False)
    assert first.threads_fetched == 2  # cgroup_free and throtl_pending_timer_fn
    before = store.conn.execute("SELECT count(*) FROM messages WHERE ghost=0").fetchone()[0]
    assert [s.query for s in saved_scrapes(store)] == ["s:deadlock"]

    quiet = sync(store, session, progress=False)
    assert [(s.threads_fetched, s.messages_new) for s in quiet] == [(0, 0)]
    assert "rt:" in quiet[0].label

    # the held-back reply reaches the list now: the list server stamps a fresh Received header
    stamp = format_datetime(datetime.now(timezone.utc))
    cgroups.add_messages([f"Received: from list by vger.kernel.org; {stamp}\n".encode() + cgroups.held_back])
    time.sleep(0.2)
    grown = sync(store, session, progress=False)
    assert [(s.threads_fetched, s.messages_new) for s in grown] == [(1, 1)]
    assert store.conn.execute("SELECT count(*) FROM messages WHERE ghost=0").fetchone()[0] == before + 1


def test_lore_git_clones_then_fetches_new_commits(cgroups, tmp_path):
    store = open_store(tmp_path / "git.db")
    session = open_session(store, config())
    target = lore.LoreTarget(cgroups.base_url, "cgroups")
    expected = int(cgroups.git("rev-list", "--count", "master"))
    leftover = tmp_path / "mirrors" / "cgroups" / "0.git.partial"  # a clone killed midway
    (leftover / "objects").mkdir(parents=True)
    first = scrape_lore_git(store, session, target, 0, tmp_path / "mirrors", progress=False)
    assert not leftover.exists()
    assert first.messages_new == expected
    assert (tmp_path / "mirrors" / "cgroups" / "0.git" / "HEAD").is_file()
    again = scrape_lore_git(store, session, target, 0, tmp_path / "mirrors", progress=False)
    assert (again.messages_read, again.messages_new) == (0, 0)
    assert store.conn.execute("SELECT count(DISTINCT source_type) FROM provenance").fetchone() == (1,)


def test_thread_interrupted_by_server_errors_is_finished_first_on_the_next_run(replay, tmp_path):
    broken = {"on": True}
    target_thread = "/io-uring/000000000000430bf505bcef3b00@google.com/t.mbox.gz"
    table = recorded_responses()

    def handler(request: Request) -> Response:
        if request.path == target_thread and broken["on"]:
            return Response("overloaded", status=503)
        status, content_type, file = table.get(request.path, (404, "text/plain", None))
        if request.query_string:
            status, content_type, file = table[request.path + "?" + unquote(request.query_string.decode())]
        return Response(file.read_bytes() if file else b"", status=status, content_type=content_type)

    replay.clear()
    replay.expect_request("/robots.txt").respond_with_data("", status=404)
    replay.expect_request(re.compile(".*")).respond_with_handler(handler)
    store = open_store(tmp_path / "interrupted.db")
    session = open_session(store, config())
    wanted = LoreScrape(replay.url_for("/").rstrip("/"), "io-uring", "s:deadlock")
    with pytest.raises(MinerError, match=r"t\.mbox\.gz: HTTP 503"):
        scrape_lore(store, session, wanted, progress=False)
    pending = store.conn.execute("SELECT message_id FROM scrape_threads WHERE status='fetching'").fetchall()
    assert pending == [("000000000000430bf505bcef3b00@google.com",)]

    stored_before = store.conn.execute("SELECT count(*) FROM messages WHERE ghost=0").fetchone()[0]
    broken["on"] = False
    summary = scrape_lore(store, session, wanted, progress=False)
    assert store.conn.execute("SELECT count(*) FROM scrape_threads WHERE status='fetching'").fetchone()[0] == 0
    held = store.conn.execute("SELECT thread_id FROM messages WHERE message_id='000000000000430bf505bcef3b00@google.com'")
    thread_id = held.fetchone()[0]
    assert store.conn.execute("SELECT message_count FROM threads WHERE thread_id=?", (thread_id,)).fetchone()[0] == 15
    # the pending thread first, then every match not stored yet (the pending one is skipped when matched)
    # (a match inside a thread this run fetched is counted apart from the ones stored before it)
    assert summary.threads_fetched == 1 + summary.matches - summary.threads_skipped - summary.matches_in_fetched
    assert stored_before + summary.messages_new == 30  # as in an uninterrupted run


# -- search ranges hold for the whole query (public-inbox reads "a OR b d:..." as "a OR (b d:...)") --------

RANGED_QUERIES = [  # (query, since): each with a thread outside the range that an unbracketed range lets in
    ("s:deadlock OR s:KCSAN", "2023-01-01"),  # throtl_pending_timer_fn (2022) matches s:deadlock
    ("s:deadlock AND s:syzbot OR s:KCSAN", "2023-01-01"),
    ("s:deadlock OR s:writeback NOT s:cgroup_free", "2023-01-01"),  # the 2020 doc patch matches s:writeback
    ('s:"possible deadlock" OR s:KCSAN', "2023-01-01"),
]


def thread_of_fixture_message() -> dict[str, str]:
    """Message-ID -> fixture thread file of the cgroups list (each file is one whole thread)."""
    from miner.parse import parse_message
    from miner.sources.mbox import split_mbox

    threads = {}
    for path in sorted((HERE / "fixtures" / "scrape" / "cgroups").glob("*.mbox")):
        with open(path, "rb") as handle:
            for mail in split_mbox(handle, str(path)):
                threads[parse_message(mail.raw).message_id] = path.name
    return threads


@pytest.mark.parametrize("query,since", RANGED_QUERIES)
def test_since_applies_to_the_whole_query_as_public_inbox_answers_it(cgroups, tmp_path, query, since):
    session = open_session(open_store(tmp_path / "probe.db"), config())
    target = lore.LoreTarget(cgroups.base_url, "cgroups")
    day = since.replace("-", "")
    bracketed = set(lore.search_message_ids(session, target, f"({query}) d:{day}.."))
    unbracketed = set(lore.search_message_ids(session, target, f"{query} d:{day}.."))
    assert bracketed and unbracketed > bracketed  # the server itself: without brackets the range leaks

    threads = thread_of_fixture_message()
    store = open_store(tmp_path / "ranged.db")
    scrape_lore(store, open_session(store, config()), LoreScrape(cgroups.base_url, "cgroups", query, since=since),
                progress=False)
    stored = {row[0] for row in store.conn.execute("SELECT message_id FROM messages WHERE ghost=0")}
    assert {threads[m] for m in stored} == {threads[m] for m in bracketed}  # the server's own answer
    dates = [row[0] for row in store.conn.execute("SELECT date FROM messages WHERE ghost=0 AND parent_id IS NULL")]
    assert dates and min(dates) >= since
