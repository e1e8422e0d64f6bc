"""Canned queries (queries/*.sql via miner/queries.py and `miner query`) on the demo database."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from demo_db import build_demo_db

from miner.cli import cli
from miner.errors import MinerError
from miner.queries import bind_params, get_query, load_queries, parse_query, run_query
from miner.reading import run_readonly_sql

REQUIRED_QUERIES = {
    "threads_per_label_year", "threads_per_label_list_year", "top_files_per_label", "top_subsystems_per_label",
    "syzbot_reports_per_label", "deadlock_lock_names", "kcsan_function_pairs", "reporters_and_fixers",
    "time_to_first_patch", "fixes_tags_per_label", "label_cooccurrence", "search_messages",
}


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    return build_demo_db(tmp_path_factory.mktemp("queries") / "demo.db", hostile=False)


def sql(db: Path, text: str, params=()) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(text, params).fetchall()
    finally:
        conn.close()


def test_every_query_file_has_a_header_and_the_required_ones_exist():
    queries = load_queries()
    assert REQUIRED_QUERIES <= set(queries)
    for query in queries.values():
        assert query.title and query.description, query.name
        assert query.sql.lstrip().startswith("--")


def test_every_query_runs_from_the_cli(demo_db):
    runner = CliRunner()
    for name in load_queries():
        args = ["query", name, "--db", str(demo_db), "--format", "json"]
        if name == "search_messages":
            args += ["--param", "q=deadlock"]
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, (name, result.output, result.exception)
        assert isinstance(json.loads(result.output), list)


def test_listing_shows_names_params_and_descriptions(demo_db):
    result = CliRunner().invoke(cli, ["query", "--format", "csv"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "name,params,title,description"
    search = next(line for line in lines if line.startswith("search_messages,"))
    assert '"q, raw, limit"' in search and "snippet" in search


def test_threads_per_label_year_adds_up_to_the_labels_table(demo_db, demo_store):
    _, rows = run_query(demo_store, "threads_per_label_year")
    totals: dict[str, int] = {}
    for label, _year, threads, _thread_ids in rows:
        totals[label] = totals.get(label, 0) + threads
    assert totals == dict(sql(demo_db, "SELECT label, count(*) FROM labels GROUP BY label"))
    assert totals["deadlock"] >= 5
    _, only_race = run_query(demo_store, "threads_per_label_year", {"label": "race"})
    assert only_race and {row[0] for row in only_race} == {"race"}


def test_threads_per_list_filters_by_list(demo_store):
    _, rows = run_query(demo_store, "threads_per_label_list_year", {"list": "io-uring.vger.kernel.org"})
    assert rows and {row[1] for row in rows} == {"io-uring.vger.kernel.org"}
    # the io_uring syzbot deadlock of 2021 is in the sample
    assert ("deadlock", "io-uring.vger.kernel.org", 2021) in {row[:3] for row in rows}


def test_label_cooccurrence_diagonal_is_the_label_count(demo_db, demo_store):
    _, rows = run_query(demo_store, "label_cooccurrence")
    diagonal = {a: n for a, b, n, _ids in rows if a == b}
    assert diagonal == dict(sql(demo_db, "SELECT label, count(*) FROM labels GROUP BY label"))
    both = {(a, b): n for a, b, n, _ids in rows if a != b}
    expected = sql(demo_db, "SELECT count(*) FROM labels a JOIN labels b ON a.thread_id = b.thread_id"
                            " WHERE a.label = 'deadlock' AND b.label = 'race'")[0][0]
    assert both.get(("deadlock", "race"), 0) == expected


def test_lock_names_come_from_lockdep_lines_of_deadlock_threads(demo_store):
    columns, rows = run_query(demo_store, "deadlock_lock_names", {"limit": "100"})
    assert columns[:2] == ["lock_name", "threads"]
    names = {row[0] for row in rows}
    # "(&sqd->lock){+.+.}-{3:3}, at: io_sq_thread_park" in the io_uring syzbot report
    assert "&sqd->lock" in names
    assert "(wq_completion)events" in names  # nested parentheses kept whole
    assert all("{" not in name and name for name in names)


def test_kcsan_pairs_split_the_two_functions(demo_store):
    _, rows = run_query(demo_store, "kcsan_function_pairs")
    pairs = {(row[0], row[1]) for row in rows}
    assert ("__io_uring_cancel", "io_uring_try_cancel_requests") in pairs
    assert ("mem_cgroup_iter", "mem_cgroup_iter") in pairs
    assert all("race" in (row[4] or "") for row in rows if row[0] == "__io_uring_cancel")


def test_syzbot_reports_and_patches(demo_store):
    _, rows = run_query(demo_store, "syzbot_reports_per_label")
    by_label = {row[0]: row for row in rows}
    assert by_label["race"][1] >= 2  # two KCSAN syzbot reports in the sample
    assert all(0 <= row[2] <= row[1] for row in rows)


def test_reporters_and_fixers(demo_store):
    _, rows = run_query(demo_store, "reporters_and_fixers", {"label": "deadlock", "limit": "50"})
    reporters = {row[4] for row in rows if row[1] == "reporter"}
    fixers = {row[4] for row in rows if row[1] == "fixer"}
    assert "syzbot+ac39856cb1b332dbbdda@syzkaller.appspotmail.com" in reporters
    assert "chenridong@huawei.com" in fixers  # author of "cgroup: Fix AA deadlock caused by cgroup_bpf_release"


def test_time_to_first_patch_and_fixes(demo_store):
    _, rows = run_query(demo_store, "time_to_first_patch", {"label": "deadlock"})
    assert rows and all(row[5] >= 0 for row in rows)
    query_thread = [row for row in rows if row[2].startswith("Query regarding deadlock")]
    assert query_thread and query_thread[0][5] > 24 * 7  # the fix came weeks after the question
    _, fixes = run_query(demo_store, "fixes_tags_per_label")
    assert all(0 <= row[2] <= row[1] for row in fixes) and sum(row[2] for row in fixes) > 0


def test_full_text_search_returns_snippets(demo_store):
    columns, rows = run_query(demo_store, "search_messages", {"q": "uring_lock OR sqd", "limit": "5"})
    assert "snippet" in columns and 0 < len(rows) <= 5
    snippet = rows[0][columns.index("snippet")]
    assert "[" in snippet and "]" in snippet


def test_parameter_errors_are_one_line_miner_errors(demo_db, demo_store):
    search = get_query("search_messages")
    with pytest.raises(MinerError, match="'q' is required"):
        bind_params(search, {})
    with pytest.raises(MinerError, match="unknown parameter nope"):
        bind_params(search, {"q": "x", "nope": "1"})
    with pytest.raises(MinerError, match="no such canned query"):
        run_query(demo_store, "no_such_query")
    with pytest.raises(MinerError, match="^search_messages: 'AND \\(': nothing to search for"):
        run_query(demo_store, "search_messages", {"q": "AND ("})
    with pytest.raises(MinerError, match="^search_messages: not valid FTS5 syntax .*; drop raw=1"):
        run_query(demo_store, "search_messages", {"q": "AND (", "raw": "1"})
    result = CliRunner().invoke(cli, ["query", "search_messages", "--db", str(demo_db), "--param", "q"])
    assert isinstance(result.exception, MinerError)


def test_header_must_declare_the_parameters_the_sql_uses(tmp_path):
    text = "-- title: T\n-- description: D\nSELECT :label, ':not_a_param'\n"
    with pytest.raises(MinerError, match="undeclared: \\['label'\\]"):
        parse_query("t", text, tmp_path / "t.sql")
    declared = parse_query("t", "-- title: T\n-- param label: a label\n" + text.split("\n", 2)[2], tmp_path / "t.sql")
    assert [p.name for p in declared.params] == ["label"]


def test_a_query_over_its_time_budget_is_stopped_with_a_one_line_error(demo_db):
    counting = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000000)"
                " SELECT count(*) FROM c")
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["sql", "--db", str(demo_db), "--timeout", "0.5", counting])
    assert time.monotonic() - started < 10  # unbounded, it counts for about a minute
    assert isinstance(result.exception, MinerError)
    assert str(result.exception) == ("the query ran over 0.5 s and was stopped; give it longer with --timeout"
                                     " SECONDS (0: no limit)")
    # full-text search: the clock is read between rows, even when each snippet() is slow
    terms = " AND ".join(["lock"] * 100)  # about 1.5 s here: snippets of 100 phrases for 20 messages
    result = CliRunner().invoke(cli, ["query", "search_messages", "--db", str(demo_db), "--timeout", "0.2",
                                      "--param", f"q={terms}"])
    assert isinstance(result.exception, MinerError)
    assert str(result.exception).startswith("search_messages: the query ran over 0.2 s and was stopped")
    quick = CliRunner().invoke(cli, ["sql", "--db", str(demo_db), "--timeout", "5", "SELECT count(*) FROM labels"])
    with sqlite3.connect(demo_db) as conn:
        labels = conn.execute("SELECT count(*) FROM labels").fetchone()[0]
    assert quick.exit_code == 0 and quick.output.split()[-1] == str(labels)


def test_full_text_queries_with_hundreds_of_terms_are_refused_before_they_run(demo_store):
    terms = " OR ".join(["lock"] * 400)
    started = time.monotonic()
    with pytest.raises(MinerError, match=r"^search_messages: full-text query \(parameter 'q'\) of 799 terms"):
        run_query(demo_store, "search_messages", {"q": terms})
    with pytest.raises(MinerError, match=r"^full-text query \(MATCH '...'\) of 799 terms"):
        run_readonly_sql(demo_store, f"SELECT rowid FROM messages_fts WHERE messages_fts MATCH '{terms}'")
    with pytest.raises(MinerError, match="^SQL of 100,001 characters: at most 100,000"):
        run_readonly_sql(demo_store, "SELECT 1" + " " * 99_993)
    assert time.monotonic() - started < 2  # refused at once (400 terms ran 26 s on 7 messages)
    assert run_query(demo_store, "search_messages", {"q": "uring_lock"})[1]  # an ordinary search still runs


def test_attach_and_vacuum_into_are_refused_and_create_no_file(demo_db, tmp_path):
    runner = CliRunner()
    for statement, target in (("ATTACH '{}' AS other", tmp_path / "attached.db"),
                              ("VACUUM INTO '{}'", tmp_path / "copy.db"),
                              ("ATTACH 'file:{}?mode=rwc' AS other", tmp_path / "uri.db")):
        result = runner.invoke(cli, ["sql", "--db", str(demo_db), statement.format(target)])
        assert isinstance(result.exception, MinerError), (statement, result.output)
        assert str(result.exception).startswith("SQL refused: ATTACH and VACUUM INTO are not allowed")
        assert list(tmp_path.iterdir()) == [], statement
    labels_before = sql(demo_db, "SELECT count(*) FROM labels")
    for statement, refusal in (("DELETE FROM messages", "readonly database"),
                               ("DROP TABLE labels", "readonly database"),
                               ("CREATE TABLE t(x)", "readonly database")):
        result = runner.invoke(cli, ["sql", "--db", str(demo_db), statement])
        assert isinstance(result.exception, MinerError) and refusal in str(result.exception), statement
    assert sql(demo_db, "SELECT count(*) FROM labels") == labels_before != [(0,)]  # nothing was dropped
