"""Scrapes against hostile or odd servers on 127.0.0.1: long waits, redirects, unsafe Message-IDs, endless searches."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
from werkzeug import Request, Response

from miner.fetch.scrape import LoreScrape, open_session, scrape_lore, scrape_lore_thread
from miner.fetch import lore, settings
from miner.fetch.settings import HttpConfig
from miner.store import open_store

HERE = Path(__file__).parent
THREAD_MBOX_GZ = (HERE / "fixtures" / "html" / "public-inbox-rendered" / "io-uring"
                  / "syzbot-still-has-locks-held-in-io_sq_thread" / "t.mbox.gz")


def config(**overrides) -> HttpConfig:
    values = dict(rate=0, backoff=0.01, retries=2, timeout=5)
    values.update(overrides)
    return HttpConfig(**values)


def run_miner(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "miner", *args], capture_output=True, text=True, timeout=60)


def test_a_retry_after_wait_is_shown_on_the_progress_line(httpserver, tmp_path, capsys):
    answers = iter([Response("busy", status=429, headers={"Retry-After": "1"})])

    def thread(request: Request) -> Response:
        return next(answers, None) or Response(THREAD_MBOX_GZ.read_bytes(), content_type="application/gzip")

    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    httpserver.expect_request("/io-uring/x@example.org/t.mbox.gz").respond_with_handler(thread)
    store = open_store(tmp_path / "wait.db")
    target = lore.LoreTarget(httpserver.url_for("/").rstrip("/"), "io-uring")
    summary = scrape_lore_thread(store, open_session(store, config()), target, "x@example.org", progress=True)
    assert summary.messages_new == 5
    assert f"waiting 1 s: HTTP 429 from localhost:{httpserver.port}, retry 1 of 2" in capsys.readouterr().err


@pytest.mark.parametrize("location, problem", [
    ("/io-uring/loop/", r"more than 5 redirects \(the last to http://localhost:\d+/io-uring/loop/\); not followed"),
    ("file:///etc/passwd", "redirected to file:///etc/passwd, another scheme; not followed"),
    ("http://169.254.169.254/latest/meta-data/",
     r"redirected to http://169.254.169.254/latest/meta-data/, another host; not followed"
     r" \(--allow-host 169.254.169.254 would follow it\)"),
])
def test_bad_redirects_are_one_line_errors_from_the_cli(httpserver, tmp_path, location, problem):
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    httpserver.expect_request("/io-uring/x@example.org/t.mbox.gz").respond_with_response(
        Response("moved", status=302, headers={"Location": location}))
    httpserver.expect_request("/io-uring/loop/").respond_with_response(
        Response("again", status=302, headers={"Location": "/io-uring/loop/"}))
    result = run_miner("scrape", "lore", "--list", "io-uring", "--msgid", "x@example.org", "--rate", "0",
                       "--base-url", httpserver.url_for("/").rstrip("/"), "--db", str(tmp_path / "r.db"), "--quiet")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert re.search(rf"^miner: error: http://\S+/x@example\.org/t\.mbox\.gz: {problem}$",
                     result.stderr.strip()), result.stderr


# -- Message-IDs that would leave /<list>/<id>/ (item 15) ---------------------------------------------

def atom_feed(hrefs: list[str]) -> bytes:
    """A public-inbox-like Atom search page whose entries link to ``hrefs``."""
    entries = "".join(f'<entry><author><name>A</name></author><title>t</title><link href="{href}"/>'
                      f"<id>urn:uuid:{n}</id></entry>" for n, href in enumerate(hrefs))
    return (f'<?xml version="1.0" encoding="us-ascii"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>search</title>{entries}</feed>").encode()


def test_message_ids_are_escaped_as_public_inbox_does_and_dot_segments_refused():
    assert lore.escape_message_id("a/b?c#d%e f@host") == "a%2Fb%3Fc%23d%25e%20f@host"
    assert lore.escape_message_id("\u00e9t\u00e9+x=y;z@h") == "%C3%A9t%C3%A9+x=y;z@h"
    assert lore.escape_message_id("..@example.org") == "..@example.org"  # dots inside an ID are harmless
    for unsafe in ("..", ".", ""):
        with pytest.raises(lore.UnsafeMessageId, match=rf"Message-ID '{re.escape(unsafe)}': would be the URL path"):
            lore.thread_mbox_url(lore.LoreTarget("https://lore.kernel.org", "lkml"), unsafe)


def test_unsafe_message_ids_from_a_feed_are_counted_and_never_requested(httpserver, tmp_path):
    base = httpserver.url_for("/").rstrip("/")
    feed = atom_feed([f"{base}/lkml/../", f"{base}/lkml/%2E%2E/", f"{base}/lkml/./", f"{base}/lkml/good@example.org/"])
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    httpserver.expect_request("/lkml/", query_string={"q": "s:x", "x": "A"}).respond_with_data(
        feed, content_type="application/atom+xml")
    httpserver.expect_request("/lkml/good@example.org/t.mbox.gz").respond_with_data(
        THREAD_MBOX_GZ.read_bytes(), content_type="application/gzip")
    store = open_store(tmp_path / "unsafe.db")
    summary = scrape_lore(store, open_session(store, config()), LoreScrape(base, "lkml", "s:x"), progress=False)
    asked = [request.path for request, _ in httpserver.log]
    assert asked == ["/robots.txt", "/lkml/", "/lkml/good@example.org/t.mbox.gz"]
    assert (summary.matches, summary.threads_fetched, summary.refused_ids) == (3, 1, ["..", "."])
    assert "2 Message-IDs refused as unsafe in a URL path (e.g. '..')" in summary.line()
    assert store.conn.execute("SELECT message_id FROM scrape_threads").fetchall() == [("good@example.org",)]


def test_an_unsafe_msgid_option_is_a_one_line_error(httpserver, tmp_path):
    result = run_miner("scrape", "lore", "--list", "lkml", "--msgid", "<..>", "--rate", "0",
                       "--base-url", httpserver.url_for("/").rstrip("/"), "--db", str(tmp_path / "m.db"), "--quiet")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == ("miner: error: Message-ID '..': would be the URL path segment '..', which"
                                     " leaves the thread's URL; not requested")
    assert [request.path for request, _ in httpserver.log if request.path != "/robots.txt"] == []


# -- searches that never end (item 18) ---------------------------------------------------------------

def serve_search(httpserver, page) -> list[str]:
    """Answer searches with ``page(offset)`` (a list of Message-IDs) and every thread with 404; returns the log."""
    asked = []
    base = httpserver.url_for("/").rstrip("/")

    def handler(request: Request) -> Response:
        query = request.query_string.decode()
        asked.append(request.path + ("?" + query if query else ""))
        if request.path == "/robots.txt" or request.path.endswith("/t.mbox.gz"):
            return Response("not here", status=404)
        ids = page(int(request.args.get("o", "0")))
        return Response(atom_feed([f"{base}/lkml/{i}/" for i in ids]), content_type="application/atom+xml")

    httpserver.expect_request(re.compile(".*")).respond_with_handler(handler)
    return asked


def search_requests(asked: list[str]) -> int:
    return sum(1 for path in asked if path.startswith("/lkml/?"))


def test_endless_pagination_stops_at_the_match_cap_and_says_so(httpserver, tmp_path):
    asked = serve_search(httpserver, lambda offset: [f"m{offset + n}@example.org" for n in range(lore.PAGE_SIZE)])
    store = open_store(tmp_path / "endless.db")
    summary = scrape_lore(store, open_session(store, config()),
                          LoreScrape(httpserver.url_for("/").rstrip("/"), "lkml", "s:x"), progress=False,
                          max_matches=250)
    assert (summary.matches, summary.capped_at, search_requests(asked)) == (250, 250, 2)
    assert sum(1 for path in asked if path.endswith("/t.mbox.gz")) == 250
    assert "250 matches, 250 threads fetched, 0 already stored" in summary.line()
    assert "search stopped at the cap of 250 matches (raise it with --max-matches)" in summary.line()


def test_one_huge_page_is_cut_at_the_cap_too(httpserver, tmp_path):
    asked = serve_search(httpserver, lambda offset: [f"h{n}@example.org" for n in range(20_000)])
    store = open_store(tmp_path / "huge.db")
    summary = scrape_lore(store, open_session(store, config()),
                          LoreScrape(httpserver.url_for("/").rstrip("/"), "lkml", "s:x"), progress=False,
                          max_matches=100)
    assert (summary.matches, summary.capped_at, search_requests(asked), len(asked)) == (100, 100, 1, 102)


def test_a_server_repeating_its_page_ends_the_search(httpserver, tmp_path):
    asked = serve_search(httpserver, lambda offset: [f"r{n}@example.org" for n in range(lore.PAGE_SIZE)])
    store = open_store(tmp_path / "repeat.db")
    summary = scrape_lore(store, open_session(store, config()),
                          LoreScrape(httpserver.url_for("/").rstrip("/"), "lkml", "s:x"), progress=False,
                          max_matches=None)
    assert (summary.matches, summary.capped_at, summary.repeated_page, search_requests(asked)) == (200, None, True, 2)
    assert "search stopped: the server sent a full page of matches already seen" in summary.line()


def test_a_search_within_the_cap_says_nothing_about_it(httpserver, tmp_path):
    serve_search(httpserver, lambda offset: [f"s{n}@example.org" for n in range(30)] if offset == 0 else [])
    store = open_store(tmp_path / "small.db")
    summary = scrape_lore(store, open_session(store, config()),
                          LoreScrape(httpserver.url_for("/").rstrip("/"), "lkml", "s:x"), progress=False)
    assert (summary.matches, summary.capped_at) == (30, None) and "cap" not in summary.line()
    assert inspect.signature(scrape_lore).parameters["max_matches"].default == settings.DEFAULT_MAX_MATCHES == 10_000


def test_the_cli_cap_is_an_option_and_the_summary_states_it(httpserver, tmp_path):
    asked = serve_search(httpserver, lambda offset: [f"c{offset + n}@example.org" for n in range(lore.PAGE_SIZE)])
    result = run_miner("scrape", "lore", "--list", "lkml", "--query", "s:x", "--max-matches", "3", "--rate", "0",
                       "--base-url", httpserver.url_for("/").rstrip("/"), "--db", str(tmp_path / "c.db"), "--quiet")
    assert result.returncode == 0, result.stderr
    assert "3 matches, 3 threads fetched" in result.stdout
    assert "search stopped at the cap of 3 matches (raise it with --max-matches)" in result.stdout
    assert search_requests(asked) == 1
