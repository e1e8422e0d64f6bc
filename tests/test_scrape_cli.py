"""Scrape then ask, saved searches as in lei: `miner scrape lore`, `scrape list`, `scrape forget`, `sync` (real public-inbox-httpd)."""

from __future__ import annotations

import json
import re

import pytest
from pi_server import fixture_messages, make_server, require_public_inbox

from test_cli import run_miner

from miner.store import open_store


@pytest.fixture(scope="module")
def cgroups(tmp_path_factory):
    require_public_inbox()
    server = make_server(tmp_path_factory.mktemp("pi"), "cgroups", fixture_messages("cgroups"))
    yield server
    server.stop()


def scrape(server, db, *extra):
    return run_miner("scrape", "lore", "--base-url", server.base_url, "--list", "cgroups", "--query", "s:deadlock",
                     "--rate", "0", "--quiet", "--db", db, *extra, timeout=120)


def test_a_scrape_classifies_what_it_fetched(cgroups, tmp_path):
    db = tmp_path / "scraped.db"
    result = scrape(cgroups, db)
    assert result.returncode == 0, result.stderr
    assert "classified 2 threads" in result.stdout
    # on an empty database nothing was "already stored": other matches sat in the threads just fetched
    summary = result.stdout.splitlines()[0]
    assert re.search(r"(\d+) matches, 2 threads fetched \(\+(\d+) matches inside them\), 0 already stored", summary), summary
    # what an earlier run stored stays "already stored" whatever the clock says: a second run may start in
    # the second the first stored its threads, or after the clock was set back (here: stored "in the future")
    with open_store(db, create=False) as store, store.conn:
        store.conn.execute("UPDATE messages SET added_at = '2999-01-01T00:00:00Z'")
    again = scrape(cgroups, db)
    assert re.search(r"0 threads fetched, (\d+) already stored", again.stdout), again.stdout
    listed = run_miner("threads", "--db", db, "--label", "deadlock", "--format", "json")
    subjects = [row["subject"] for row in json.loads(listed.stdout)]
    assert any("possible deadlock in cgroup_free" in subject for subject in subjects), subjects
    assert "not classified" not in listed.stderr


def test_no_classify_leaves_them_unlabelled_and_a_list_command_says_why(cgroups, tmp_path):
    db = tmp_path / "raw.db"
    result = scrape(cgroups, db, "--no-classify")
    assert result.returncode == 0 and "classified" not in result.stdout
    listed = run_miner("threads", "--db", db, "--label", "deadlock", "--format", "json")
    assert json.loads(listed.stdout) == []
    assert f"2 threads not classified yet: run miner classify --db {db}" in listed.stderr
    synced = run_miner("sync", "--rate", "0", "--quiet", "--db", db, timeout=120)
    assert synced.returncode == 0, synced.stderr
    assert "classified 2 threads" in synced.stdout  # sync labels what is not labelled yet
    assert json.loads(run_miner("threads", "--db", db, "--label", "deadlock", "--format", "json").stdout)


def closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def saved(db) -> list[dict]:
    result = run_miner("scrape", "list", "--db", db, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_unknown_inbox_or_unreachable_host_is_an_error_and_not_saved(cgroups, tmp_path):
    from test_cli import assert_one_line_error

    db = tmp_path / "saved.db"
    unknown = run_miner("scrape", "lore", "--base-url", cgroups.base_url, "--list", "no-such-list", "--query",
                        "s:deadlock", "--rate", "0", "--quiet", "--db", db, timeout=120)
    assert_one_line_error(unknown, "no inbox 'no-such-list'", "HTTP 404")
    away = run_miner("scrape", "lore", "--base-url", f"http://127.0.0.1:{closed_port()}", "--list", "cgroups",
                     "--query", "s:deadlock", "--rate", "0", "--retries", "0", "--quiet", "--db", db, timeout=120)
    assert away.returncode == 1 and away.stderr.startswith("miner: error: ")
    assert saved(db) == []
    empty = run_miner("scrape", "list", "--db", db)
    assert "no saved searches" in empty.stdout


def test_sync_runs_every_saved_search_and_names_the_ones_that_failed(cgroups, tmp_path):
    import sqlite3

    db = tmp_path / "sync.db"
    assert scrape(cgroups, db).returncode == 0
    assert run_miner("scrape", "lore", "--base-url", cgroups.base_url, "--list", "cgroups", "--query", "s:race",
                     "--rate", "0", "--quiet", "--db", db, timeout=120).returncode == 0
    with sqlite3.connect(db) as conn:  # a saved search whose host has gone away since
        conn.execute("INSERT INTO scrapes(source, base_url, list_name, query, since, until, created_at)"
                     " VALUES ('lore', ?, 'cgroups', 's:lock', '', '', '2026-01-01T00:00:00Z')",
                     (f"http://127.0.0.1:{closed_port()}",))
    listing = saved(db)
    assert [row["query"] for row in listing] == ["s:deadlock", "s:race", "s:lock"]
    assert listing[0]["threads"] == 2 and listing[0]["last_run_at"]
    result = run_miner("sync", "--rate", "0", "--retries", "0", "--quiet", "--db", db, timeout=180)
    assert result.returncode == 1
    assert result.stdout.count("lore cgroups") == 2  # both working searches ran
    assert "sync: 3 saved searches, 2 done, 1 failed;" in result.stdout
    failed = [line for line in result.stderr.splitlines() if "failed" in line]
    assert failed[0].startswith("miner: sync of #3 cgroups 's:lock'")
    assert result.stderr.strip().splitlines()[-1].startswith("miner: error: sync failed for #3")

    forgot = run_miner("scrape", "forget", "3", "--db", db)
    assert forgot.returncode == 0 and "forgot #3 cgroups 's:lock'" in forgot.stdout
    assert [row["number"] for row in saved(db)] == [1, 2]
    again = run_miner("sync", "--rate", "0", "--quiet", "--db", db, timeout=180)
    assert again.returncode == 0 and "sync: 2 saved searches, 2 done, 0 failed;" in again.stdout
    assert run_miner("scrape", "forget", "9", "--db", db).stderr.startswith("miner: error: no saved search #9")


# -- progress: a search's bar counts its matches, to the total the server reports -----------------

def search_bar(server, db, list_name, *query) -> tuple[list[str], str]:
    """The frames of the search's progress bar (stderr) and the summary line of ``miner scrape lore``."""
    result = run_miner("scrape", "lore", "--base-url", server.base_url, "--list", list_name, *query, "--rate", "0",
                       "--no-classify", "--db", db, timeout=300)
    assert result.returncode == 0, result.stderr
    frames = [frame for frame in result.stderr.replace("\r", "\n").splitlines() if frame.startswith("lore ")]
    return frames, result.stdout.splitlines()[0]


@pytest.fixture(scope="module")
def big_inbox(tmp_path_factory):
    from epochs import replicated_sample

    require_public_inbox()
    server = make_server(tmp_path_factory.mktemp("pi-big"), "sample", replicated_sample(2))  # 326 real messages
    yield server
    server.stop()


def test_a_search_bar_counts_to_the_match_count_the_server_reports(big_inbox, cgroups, tmp_path):
    # more than one page (200) of matches: the count comes from the server's result page ("Results 1-1 of N")
    from miner.fetch import lore
    from miner.fetch.scrape import open_session
    from miner.store import open_store

    with open_store(tmp_path / "probe.db") as store:
        session = open_session(store)
        target = lore.LoreTarget(big_inbox.base_url, "sample")
        assert lore.search_match_count(session, target, "d:19900101..") == 326
        assert len(list(lore.search_message_ids(session, target, "d:19900101.."))) == 326
    frames, summary = search_bar(big_inbox, tmp_path / "big.db", "sample", "--since", "1990-01-01")
    assert "| 326/326 [" in frames[-1] and "match/s" in frames[-1], frames[-1]
    assert any(re.search(r"\| (\d+)/326 \[", frame) and "| 326/326" not in frame for frame in frames)
    assert summary.startswith("lore sample 'd:19900101..': ") and "326 matches" in summary, summary
    # one page: the page itself says how many match, no more requests than without the bar
    frames, summary = search_bar(cgroups, tmp_path / "small.db", "cgroups", "--query", "s:deadlock")
    matches = int(re.search(r"(\d+) matches", summary).group(1))
    assert f"| {matches}/{matches} [" in frames[-1], frames[-1]
    quiet = run_miner("scrape", "lore", "--base-url", cgroups.base_url, "--list", "cgroups", "--query", "s:deadlock",
                      "--rate", "0", "--quiet", "--no-classify", "--db", tmp_path / "quiet.db", timeout=120)
    assert quiet.stdout.split(" requests")[0] == summary.split(" requests")[0]
