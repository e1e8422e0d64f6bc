"""The polite HTTP layer and raw cache against a local server with injected faults (never the internet)."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import pytest
from werkzeug import Request, Response

from miner.errors import MinerError
from miner.fetch.cache import ResponseCache
from miner.fetch.settings import DEFAULT_USER_AGENT, HttpConfig
from miner.fetch.http import ChallengePage, PoliteSession, is_challenge_page, retry_after_seconds
from miner.store import open_store

HERE = Path(__file__).parent
CHALLENGE = HERE / "fixtures" / "html" / "lore.kernel.org-anubis-challenge.html"
THREAD_MBOX_GZ = (HERE / "fixtures" / "html" / "public-inbox-rendered" / "io-uring"
                  / "syzbot-still-has-locks-held-in-io_sq_thread" / "t.mbox.gz")


def fast_config(**overrides) -> HttpConfig:
    """No pacing, tiny backoff: faults are exercised in milliseconds."""
    values = dict(rate=0, backoff=0.01, retries=2, timeout=5, robots=False)
    values.update(overrides)
    return HttpConfig(**values)


@pytest.fixture
def store(tmp_path):
    return open_store(tmp_path / "http.db")


@pytest.fixture
def session(store):
    polite = PoliteSession(fast_config(), ResponseCache(store.conn))
    yield polite
    polite.close()


def sequence(*responses):
    """A handler answering each request with the next response (the last one repeats)."""
    calls = []

    def handler(request: Request) -> Response:
        calls.append(request)
        made = responses[min(len(calls) - 1, len(responses) - 1)]
        return made if isinstance(made, Response) else made()

    handler.calls = calls
    return handler


def test_user_agent_is_honest_and_overridable(httpserver, store):
    seen = []
    httpserver.expect_request("/page").respond_with_handler(
        lambda request: seen.append(request.headers["User-Agent"]) or Response("ok"))
    PoliteSession(fast_config(), None).fetch(httpserver.url_for("/page"))
    PoliteSession(fast_config(user_agent="research-bot/2 (+mailto:me@example.org)"), None).fetch(
        httpserver.url_for("/page"))
    assert seen[0] == DEFAULT_USER_AGENT
    assert seen[0].startswith("lkml-miner/0.") and "(+https://" in seen[0]
    assert seen[1] == "research-bot/2 (+mailto:me@example.org)"


def test_429_retry_after_is_honoured(httpserver, session):
    handler = sequence(Response("slow down", status=429, headers={"Retry-After": "1"}), Response("fine"))
    httpserver.expect_request("/busy").respond_with_handler(handler)
    started = time.monotonic()
    response = session.fetch(httpserver.url_for("/busy"))
    assert response.status == 200 and response.body == b"fine"
    assert session.stats.waits == [1.0]
    assert time.monotonic() - started >= 1.0
    assert len(handler.calls) == 2


def test_500_is_retried_with_backoff_then_given_up(httpserver, session):
    handler = sequence(Response("oops", status=500), Response("oops", status=503), Response("recovered"))
    httpserver.expect_request("/flaky").respond_with_handler(handler)
    assert session.fetch(httpserver.url_for("/flaky")).body == b"recovered"
    assert session.stats.retries == 2
    assert session.stats.waits[1] > session.stats.waits[0] * 1.0  # exponential: 0.01-0.02 then 0.02-0.04

    httpserver.expect_request("/down").respond_with_data("no", status=500)
    with pytest.raises(MinerError, match=r"/down: HTTP 500 \(gave up after 3 attempts\)"):
        session.fetch(httpserver.url_for("/down"))


def test_connection_reset_mid_body_is_retried(httpserver, session):
    def cut_short():
        def body():
            yield b"x" * 1000
            raise ConnectionResetError("peer went away")
        return Response(body(), headers={"Content-Length": "5000"})

    handler = sequence(cut_short, Response(b"y" * 5000))
    httpserver.expect_request("/reset").respond_with_handler(handler)
    assert session.fetch(httpserver.url_for("/reset")).body == b"y" * 5000
    assert len(handler.calls) == 2

    httpserver.expect_request("/always-reset").respond_with_handler(sequence(cut_short))
    with pytest.raises(MinerError, match="connection broken mid-response"):
        session.fetch(httpserver.url_for("/always-reset"))


def test_truncated_gzip_is_retried_and_never_returned(httpserver, session):
    whole = THREAD_MBOX_GZ.read_bytes()
    handler = sequence(Response(whole[: len(whole) // 2], content_type="application/gzip"),
                       Response(whole, content_type="application/gzip"))
    httpserver.expect_request("/t.mbox.gz").respond_with_handler(handler)
    response = session.fetch(httpserver.url_for("/t.mbox.gz"), gunzip=True)
    assert response.data == gzip.decompress(whole)
    assert response.data.count(b"\nFrom mboxrd@z ") + 1 == 5  # the thread's 5 messages

    httpserver.expect_request("/cut.mbox.gz").respond_with_data(whole[:-40], content_type="application/gzip")
    with pytest.raises(MinerError, match="gzip data is truncated"):
        session.fetch(httpserver.url_for("/cut.mbox.gz"), gunzip=True)


def test_slow_response_times_out(httpserver, store):
    def slow(request):
        time.sleep(1.0)
        return Response("late")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    session = PoliteSession(fast_config(timeout=0.3, retries=1), None)
    started = time.monotonic()
    with pytest.raises(MinerError, match=r"/slow: timed out \(gave up after 2 attempts\)"):
        session.fetch(httpserver.url_for("/slow"))
    assert time.monotonic() - started < 2.5


def test_robots_txt_is_honoured(httpserver, store):
    httpserver.expect_request("/robots.txt").respond_with_data(
        "User-agent: lkml-miner\nDisallow: /private/\n\nUser-agent: *\nDisallow: /\n", content_type="text/plain")
    httpserver.expect_request("/public/page").respond_with_data("hello")
    httpserver.expect_request("/private/page").respond_with_data("secret")
    session = PoliteSession(fast_config(robots=True), None)
    before = len(httpserver.log)
    assert session.fetch(httpserver.url_for("/public/page")).body == b"hello"
    with pytest.raises(MinerError, match=r"/private/page: disallowed by http://[^/]+/robots\.txt for lkml-miner"):
        session.fetch(httpserver.url_for("/private/page"))
    paths = [r.path for r, _ in httpserver.log[before:] if r.path != "/slow"]  # late finishers of another test
    assert paths == ["/robots.txt", "/public/page"]


def test_challenge_page_stops_with_a_clear_message_and_is_not_cached(httpserver, session, store):
    page = CHALLENGE.read_bytes()
    assert is_challenge_page(page, "text/html")
    httpserver.expect_request("/lkml/t.mbox.gz").respond_with_data(page, status=200, content_type="text/html")
    with pytest.raises(ChallengePage, match="anti-bot challenge page"):
        session.fetch(httpserver.url_for("/lkml/t.mbox.gz"), gunzip=True)
    assert store.conn.execute("SELECT count(*) FROM http_responses WHERE url LIKE '%t.mbox.gz'").fetchone()[0] == 0
    # an ordinary public-inbox page is not mistaken for one
    rendered = (HERE / "fixtures" / "html" / "public-inbox-rendered" / "io-uring" / "_list"
                / "search-no-results-phrase-kcsan-data-race.html").read_bytes()
    assert not is_challenge_page(rendered, "text/html")


def test_size_limits_on_body_and_decompression(httpserver, store):
    httpserver.expect_request("/big").respond_with_data(b"z" * 5000)
    bomb = gzip.compress(b"\0" * 2_000_000)
    httpserver.expect_request("/bomb").respond_with_data(bomb, headers={"Content-Encoding": "gzip"})
    session = PoliteSession(fast_config(max_bytes=4096, max_decompressed=1_000_000), None)
    with pytest.raises(MinerError, match="exceeds the limit of 4096"):
        session.fetch(httpserver.url_for("/big"))
    with pytest.raises(MinerError, match="more than 1000000 bytes after decompression"):
        session.fetch(httpserver.url_for("/bomb"))


def test_cache_conditional_refresh_and_offline(httpserver, store, session):
    def with_etag(request):
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"'})
        return Response("version one", headers={"ETag": '"v1"', "Last-Modified": "Tue, 01 Oct 2024 10:00:00 GMT"})

    httpserver.expect_request("/doc").respond_with_handler(with_etag)
    url = httpserver.url_for("/doc")
    before = len(httpserver.log)
    first = session.fetch(url)
    second = session.fetch(url)
    assert (first.from_cache, second.from_cache) == (False, True)
    assert second.body == b"version one" and session.stats.not_modified == 1
    assert [r.headers.get("If-None-Match") for r, _ in httpserver.log[before:]] == [None, '"v1"']
    row = store.conn.execute("SELECT status, etag, last_modified, body_size FROM http_responses WHERE url=?",
                             (url,)).fetchone()
    assert row == (200, '"v1"', "Tue, 01 Oct 2024 10:00:00 GMT", 11)

    offline = PoliteSession(fast_config(offline=True), ResponseCache(store.conn))
    assert offline.fetch(url).body == b"version one"
    with pytest.raises(MinerError, match="not in the raw cache"):
        offline.fetch(httpserver.url_for("/never-fetched"))
    assert len(httpserver.log) - before == 2 and offline.stats.requests == 0


def test_rate_limit_spaces_requests_per_host(httpserver):
    httpserver.expect_request("/tick").respond_with_data("t")
    session = PoliteSession(fast_config(rate=10), None)
    started = time.monotonic()
    for _ in range(4):
        session.fetch(httpserver.url_for("/tick"))
    assert time.monotonic() - started >= 0.3  # 4 requests at 10/s: 3 gaps of 0.1 s


def test_unreachable_robots_txt_means_nothing_is_fetched(httpserver):
    httpserver.expect_request("/robots.txt").respond_with_data("down", status=503)
    httpserver.expect_request("/page").respond_with_data("never served")
    session = PoliteSession(fast_config(robots=True, retries=1), None)
    with pytest.raises(MinerError, match=r"robots\.txt: HTTP 503 .*without robots\.txt nothing is fetched"):
        session.fetch(httpserver.url_for("/page"))
    assert session.stats.requests == 2  # robots.txt twice, the page never


def test_retry_after_accepts_seconds_and_http_dates():
    from email.utils import formatdate

    assert retry_after_seconds("7") == 7.0
    assert 55 <= retry_after_seconds(formatdate(time.time() + 60, usegmt=True)) <= 60
    assert retry_after_seconds(formatdate(time.time() - 60, usegmt=True)) == 0.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_a_body_that_should_be_gzip_but_is_not_is_an_error(httpserver, session):
    httpserver.expect_request("/not-gzip.mbox.gz").respond_with_data(b"From mboxrd@z Thu Jan  1 00:00:00 1970\n")
    with pytest.raises(MinerError, match="not-gzip.mbox.gz: not gzip data"):
        session.fetch(httpserver.url_for("/not-gzip.mbox.gz"), gunzip=True)


# -- deadline and long waits (reliability items 6) ------------------------------------------------

@pytest.mark.parametrize("headers, piece, end", [
    ({"Content-Length": "40"}, b"x", b""),
    ({"Transfer-Encoding": "chunked"}, b"1\r\nx\r\n", b"0\r\n\r\n"),  # written as chunks on the wire
    ({}, b"x", b""),  # the body ends when the connection closes
], ids=["content-length", "chunked", "until-close"])
def test_a_trickling_body_meets_the_overall_deadline(httpserver, headers, piece, end):
    def trickle(request):
        def body():
            for _ in range(40):  # 40 bytes, one every 0.25 s: each gap is far below --timeout 5
                yield piece
                time.sleep(0.25)
            yield end
        return Response(body(), headers=headers)

    httpserver.expect_request("/trickle").respond_with_handler(trickle)
    session = PoliteSession(fast_config(timeout=5, deadline=1.0, retries=1), None)
    started = time.monotonic()
    with pytest.raises(MinerError, match=r"/trickle: not complete within the deadline of 1 s \(\d+ bytes so far\)"
                                         r" \(gave up after 2 attempts\)"):
        session.fetch(httpserver.url_for("/trickle"))
    assert time.monotonic() - started < 4  # two attempts of about one second, not 10 s of trickle each


def test_a_retry_after_beyond_the_maximum_wait_gives_up_at_once(httpserver):
    httpserver.expect_request("/later").respond_with_data("come back tomorrow", status=429,
                                                          headers={"Retry-After": "100000"})
    session = PoliteSession(fast_config(retries=5), None)
    started = time.monotonic()
    with pytest.raises(MinerError, match=r"/later: HTTP 429 with Retry-After of 100000 s, more than the maximum wait"
                                         r" of 300 s; gave up"):
        session.fetch(httpserver.url_for("/later"))
    assert time.monotonic() - started < 2 and session.stats.requests == 1 and session.stats.waits == []


def test_long_waits_are_announced(httpserver):
    handler = sequence(Response("slow down", status=429, headers={"Retry-After": "1"}), Response("fine"))
    httpserver.expect_request("/busy").respond_with_handler(handler)
    session = PoliteSession(fast_config(), None)
    notices = []
    session.on_wait = notices.append
    assert session.fetch(httpserver.url_for("/busy")).body == b"fine"
    host = httpserver.url_for("/").split("/")[2]
    assert notices == [f"waiting 1 s: HTTP 429 from {host}, retry 1 of 2"]


# -- redirects (items 9 and 14) ------------------------------------------------------------------

def redirect(location: str, status: int = 302) -> Response:
    return Response("moved", status=status, headers={"Location": location})


def test_redirects_are_followed_on_the_same_host_and_cached_under_the_asked_url(httpserver, store, session):
    httpserver.expect_request("/old").respond_with_response(redirect("/new", 301))
    httpserver.expect_request("/new").respond_with_data("the mail")
    response = session.fetch(httpserver.url_for("/old"))
    assert (response.status, response.body, response.url) == (200, b"the mail", httpserver.url_for("/new"))
    assert session.stats.requests == 2
    assert session.cache.get("GET", httpserver.url_for("/old")).body == b"the mail"


def test_a_redirect_loop_is_one_error(httpserver, session):
    httpserver.expect_request("/a").respond_with_response(redirect("/b"))
    httpserver.expect_request("/b").respond_with_response(redirect("/a"))
    with pytest.raises(MinerError, match=r"/a: more than 5 redirects \(the last to http://[^ ]+/[ab]\); not followed"):
        session.fetch(httpserver.url_for("/a"))
    assert session.stats.requests == 6


def test_a_redirect_to_another_scheme_is_refused(httpserver, session):
    httpserver.expect_request("/to-file").respond_with_response(redirect("file:///etc/passwd"))
    with pytest.raises(MinerError, match=r"/to-file: redirected to file:///etc/passwd, another scheme; not followed"):
        session.fetch(httpserver.url_for("/to-file"))


@pytest.mark.parametrize("location", ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:{port}/page",
                                      "http://localhost:1/page"])
def test_a_redirect_to_another_host_is_refused(httpserver, session, store, location):
    location = location.format(port=httpserver.port)
    httpserver.expect_request("/away").respond_with_response(redirect(location, 307))
    before = len(httpserver.log)
    with pytest.raises(MinerError, match=r"/away: redirected to .*, another host; not followed \(--allow-host "):
        session.fetch(httpserver.url_for("/away"))
    assert len(httpserver.log) - before == 1  # nothing asked of the other host
    assert store.conn.execute("SELECT count(*) FROM http_responses").fetchone()[0] == 0


def test_an_allowed_host_is_followed_with_its_own_robots_txt(httpserver):
    httpserver.expect_request("/robots.txt").respond_with_data("User-agent: *\nDisallow: /private/\n")
    httpserver.expect_request("/away").respond_with_response(redirect(f"http://127.0.0.1:{httpserver.port}/page"))
    httpserver.expect_request("/page").respond_with_data("served by the allowed host")
    session = PoliteSession(fast_config(robots=True, allow_hosts=("127.0.0.1",)), None)
    before = len(httpserver.log)
    assert session.fetch(httpserver.url_for("/away")).body == b"served by the allowed host"
    asked = [(r.host, r.path) for r, _ in httpserver.log[before:]]
    host = f"localhost:{httpserver.port}"  # the name url_for() gives
    other = f"127.0.0.1:{httpserver.port}"
    assert asked == [(host, "/robots.txt"), (host, "/away"), (other, "/robots.txt"), (other, "/page")]


def test_each_hop_is_checked_against_robots_txt(httpserver):
    httpserver.expect_request("/robots.txt").respond_with_data("User-agent: *\nDisallow: /private/\n")
    httpserver.expect_request("/public").respond_with_response(redirect("/private/page"))
    httpserver.expect_request("/private/page").respond_with_data("secret")
    session = PoliteSession(fast_config(robots=True), None)
    with pytest.raises(MinerError, match=r"/private/page: disallowed by http://[^/]+/robots\.txt"):
        session.fetch(httpserver.url_for("/public"))
    assert [r.path for r, _ in httpserver.log].count("/private/page") == 0


# -- robots.txt that cannot be read (item 17) --------------------------------------------------------

def test_an_unreachable_robots_txt_blocks_every_later_request_too(httpserver):
    httpserver.expect_request("/robots.txt").respond_with_data("down", status=503)
    httpserver.expect_request("/page").respond_with_data("never served")
    session = PoliteSession(fast_config(robots=True, retries=1), None)
    for path in ("/page", "/page", "/other"):
        with pytest.raises(MinerError, match=r"robots\.txt: HTTP 503 .*without robots\.txt nothing is fetched"):
            session.fetch(httpserver.url_for(path))
    assert [r.path for r, _ in httpserver.log] == ["/robots.txt", "/robots.txt"]  # one try and one retry, once
