"""Scrapes against hostile or odd servers on 127.0.0.1: long waits, redirects, unsafe Message-IDs, endless searches."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from werkzeug import Request, Response

from miner.scrape import open_session, scrape_lore_thread
from miner.sources import lore
from miner.sources.http import HttpConfig
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
    ("http://169.254.169.254/latest/meta-data/", "redirected to http://169.254.169.254/latest/meta-data/, another"
                                                 r" host; not followed \(--allow-host 169.254.169.254 would follow it\)"),
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
