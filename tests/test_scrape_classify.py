"""Scrape then ask: `miner scrape lore` and `miner sync` label what they fetched (a real public-inbox-httpd)."""

from __future__ import annotations

import json

import pytest
from pi_server import fixture_messages, make_server, require_public_inbox

from test_cli import run_miner


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
