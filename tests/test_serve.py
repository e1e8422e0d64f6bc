"""Datasette integration (miner/serve): metadata from the schema, canned queries, the thread page, escaping."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path
from urllib.parse import quote

import pytest
from demo_db import DEADLOCK_ROOT, HOSTILE_MESSAGE_ID, build_demo_db, datasette_get

from miner.errors import MinerError
from miner.queries import load_queries
from miner.schema import TABLES
from miner.serve import make_datasette
from miner.serve.metadata import build_metadata
from miner.serve.thread_page import load_thread_page, lore_url, split_blocks
from miner.store import open_store, store_on


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    return build_demo_db(tmp_path_factory.mktemp("serve") / "demo.db")


@pytest.fixture(scope="module")
def get(demo_db):
    """GET a path from an in-process Datasette on the demo database: (status, text)."""
    with datasette_get(demo_db) as fetch:
        yield fetch


def test_metadata_describes_every_table_and_column_from_the_schema(demo_db):
    metadata = build_metadata(demo_db)
    database = metadata["databases"]["demo"]
    for table in TABLES:
        described = database["tables"][table.name]
        assert described["description"] == table.description
        assert described["columns"] == {c.name: c.description for c in table.columns}
    assert {"array": "labels"} in database["tables"]["threads"]["facets"]
    assert "year" in database["tables"]["threads"]["facets"]
    assert database["tables"]["messages"]["fts_table"] == "messages_fts"
    assert set(database["queries"]) == set(load_queries())


def test_database_is_served_read_only_but_not_immutable(get, demo_db, demo_store):
    database = make_datasette(demo_store).get_database("demo")
    assert database.is_mutable  # it may change while served: read with mode=ro, not immutable=1
    conn = database.connect()
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("DELETE FROM threads")
    conn.close()
    status, text = get("/demo.json?sql=" + quote("DELETE FROM threads"))
    assert status != 200 or "error" in text.lower()
    assert sqlite3.connect(demo_db).execute("SELECT count(*) FROM threads").fetchone()[0] > 0


def test_every_canned_query_runs_in_datasette(get):
    for name in load_queries():
        params = "&q=deadlock" if name == "search_messages" else ""
        status, text = get(f"/demo/{name}.json?_shape=array{params}")
        assert status == 200, (name, text[:300])
        assert text.startswith("[")
    status, text = get("/demo")
    assert status == 200 and "Lock names in deadlock threads" in text


def test_table_pages_show_descriptions_facets_and_search(get):
    status, text = get("/demo/threads?_facet_array=labels")
    assert status == 200
    assert "One row per thread" in text and "deadlock" in text
    assert "/-/thread/" in text  # subjects link to the thread page
    status, text = get("/demo/messages.json?_search=uring_lock&_shape=array&_col=subject")
    assert status == 200 and "KCSAN: data-race in __io_uring_cancel" in text
    status, text = get("/demo/evidence?label=deadlock")
    assert status == 200 and 'class="lkml-thread-link"' in text


def test_thread_page_shows_tree_labels_evidence_and_lore_links(get, demo_db):
    status, text = get("/-/thread/" + quote(DEADLOCK_ROOT, safe="@"))
    assert status == 200
    assert 'data-label="deadlock"' in text
    assert "lockdep" in text  # evidence patterns are named
    assert 'class="lkml-line lkml-hit"' in text  # evidence lines highlighted in the bodies
    assert 'class="lkml-quoted"' in text  # quoted text folded
    message_count = sqlite3.connect(demo_db).execute(
        "SELECT count(*) FROM messages WHERE thread_id = (SELECT thread_id FROM messages WHERE message_id=?)",
        (DEADLOCK_ROOT,)).fetchone()[0]
    assert text.count('class="lkml-lore"') + text.count("[not in the archive]") == message_count
    assert f'href="{lore_url(DEADLOCK_ROOT)}"' in text
    assert f"({message_count} messages in the tree)" in text
    single = sqlite3.connect(demo_db).execute(
        "SELECT root_message_id FROM threads WHERE message_count = 1 AND ghost_count = 0 LIMIT 1").fetchone()[0]
    status, text = get("/-/thread/" + quote(single, safe="@"))
    assert status == 200 and "(1 message in the tree)" in text and "1 messages" not in text


def test_any_message_of_the_thread_url_encoded_opens_the_same_thread(get):
    message_id = "CAB8ipk8YAyLrH=+BDkekur0nZKx-i3Nn+nyyHi46xUnXpm32tA@mail.gmail.com"
    status, text = get("/-/thread/" + quote(message_id, safe=""))
    assert status == 200 and "cgroup_threadgroup_rwsem" in text
    assert "(the message you asked for)" in text
    status, text = get("/-/thread/" + quote("<" + message_id + ">", safe=""))
    assert status == 200
    status, text = get("/-/thread/no-such-message%40example.com")
    assert status == 404 and "no-such-message@example.com: no such Message-ID" in text


def test_hostile_mail_is_escaped(get):
    status, text = get("/-/thread/" + quote(HOSTILE_MESSAGE_ID, safe="@"))
    assert status == 200
    assert "&lt;script&gt;window.__lkml_pwned = 1;&lt;/script&gt;" in text
    assert "&lt;img src=x onerror=" in text
    assert not re.search(r"<script>window\.__lkml_pwned", text)
    assert "<img src=x" not in text
    status, text = get("/demo/search_messages?q=pwned")
    assert status == 200 and "hostile-script-0001" in text
    assert "&lt;script&gt;window.__lkml_pwned" in text and "<script>window" not in text
    status, text = get("/demo/messages?_search=pwned&ghost=0")  # a filtered search stays on the table page
    assert status == 200 and "hostile-script-0001" in text
    assert "&lt;script&gt;window.__lkml_pwned" in text and "<script>window" not in text


def test_split_blocks_folds_quotes_and_marks_evidence():
    body = "On Monday X wrote:\n> quoted one\n> quoted two\nnew text\n"
    blocks = split_blocks(body, "m1", {2: ["deadlock"]})
    assert [(b.quoted, len(b.lines)) for b in blocks] == [(False, 1), (True, 2), (False, 1)]
    assert blocks[1].has_evidence and blocks[1].lines[0].anchor == "m1-L2"
    assert not blocks[2].has_evidence


def test_load_thread_page_rejects_unknown_ids(demo_db):
    store = store_on(sqlite3.connect(demo_db))
    with pytest.raises(MinerError, match="no such Message-ID"):
        load_thread_page(store, "nobody@example.com")
    page = load_thread_page(store, HOSTILE_MESSAGE_ID)
    assert "deadlock" in [label.label for label in page.labels]
    assert all(e.anchor for label in page.labels for e in label.evidence if e.message_id)


def test_every_request_answers_200_while_another_process_ingests_into_the_database(tmp_path):
    """The served file changes under Datasette: opened immutable, pages read mid-write were 'malformed'."""
    import subprocess
    import sys
    import time

    from epochs import bulk_epoch

    epoch = bulk_epoch(tmp_path, 6000)
    commits = subprocess.run(["git", f"--git-dir={epoch}", "rev-list", "--reverse", "HEAD"], check=True,
                             capture_output=True, text=True).stdout.split()
    db = tmp_path / "lkml.db"
    miner = [sys.executable, "-m", "miner", "ingest", "--quiet", "--db", str(db), str(epoch)]
    subprocess.run(["git", f"--git-dir={epoch}", "update-ref", "HEAD", commits[499]], check=True)
    subprocess.run(miner, check=True, capture_output=True)  # the first 500 messages: a database to serve
    first = sqlite3.connect(db).execute("SELECT root_message_id FROM threads WHERE message_count > 1"
                                        " ORDER BY thread_id LIMIT 1").fetchone()[0]
    with open_store(db, create=False) as store:
        datasette = make_datasette(store)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(datasette.invoke_startup())
    paths = ["/lkml/threads.json?_size=5&_sort_desc=last_date", "/lkml/messages.json?_size=3&_col=subject",
             "/lkml.json?sql=" + quote("SELECT count(*) FROM messages"), "/lkml/messages?_search=deadlock&ghost=0",
             "/lkml/search_messages?q=deadlock", "/-/thread/" + quote(first, safe=""), "/lkml/threads?_facet_array=labels"]
    subprocess.run(["git", f"--git-dir={epoch}", "update-ref", "HEAD", commits[-1]], check=True)
    writer = subprocess.Popen(miner, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    answers: list[tuple[int, str]] = []
    try:
        while writer.poll() is None:
            for path in paths:
                response = loop.run_until_complete(datasette.client.get(path))
                answers.append((response.status_code, path if response.status_code == 200 else response.text[:200]))
            time.sleep(0.02)
    finally:
        writer.wait(timeout=300)
        loop.close()
    assert writer.returncode == 0, writer.stderr.read()
    assert len(answers) >= 24, answers  # the ingest ran long enough to be read during its writes
    assert [answer for answer in answers if answer[0] != 200] == []
    assert sqlite3.connect(db).execute("SELECT count(*) FROM provenance").fetchone()[0] == 6000


# -- the front page, table pages that show rows first, the thread page's overview -------------------

def test_front_page_counts_labels_searches_and_links_to_threads_years_and_queries(get, demo_db):
    status, text = get("/")
    assert status == 200
    conn = sqlite3.connect(demo_db)
    for label, count in conn.execute("SELECT label, count(*) FROM labels GROUP BY label"):
        assert re.search(rf'data-label="{label}"><span class="lkml-count">{count}</span>', text), label
        assert f"/demo/threads?labels__arraycontains={label}" in text
    assert 'action="/demo/search_messages"' in text and 'name="q"' in text
    newest = conn.execute("SELECT root_message_id, subject FROM threads WHERE labels != '[]'"
                          " ORDER BY last_date DESC LIMIT 1").fetchone()
    assert f'class="lkml-recent-thread" href="/-/thread/{quote(newest[0], safe="@")}"' in text
    singles = conn.execute("SELECT count(*) FROM threads WHERE labels != '[]' AND message_count = 1").fetchone()[0]
    assert singles and '>1 message</td>' in text and '>1 messages<' not in text  # a thread of one message
    year, label, count = conn.execute(
        "SELECT t.year, l.label, count(*) FROM labels l JOIN threads t USING (thread_id)"
        " GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 1").fetchone()
    assert f'?year={year}&amp;labels__arraycontains={label}">{count}</a>' in text
    for table in ("threads", "labels", "evidence"):
        assert f'href="/demo/{table}"' in text
    assert 'href="/demo/bugs"' in text  # the bug records of the labelled threads
    assert 'href="/demo/deadlock_lock_names"' in text  # canned queries
    status, listing = get("/demo.json")
    hidden = {table["name"] for table in __import__("json").loads(listing)["tables"] if table["hidden"]}
    assert {"classify_state", "http_responses", "meta", "mail_blocks", "zstd_dictionaries", "source_state"} <= hidden
    assert not {"threads", "messages", "labels", "evidence"} & hidden


def test_front_page_links_the_bugs_table_only_when_there_is_one(demo_db, tmp_path):
    # `datasette old.db` with the plugin installed: a database made before bug records, served as it is
    # (miner serve would open it as a store first, which adds the table)
    from datasette.app import Datasette

    from miner.serve import SETTINGS, register_plugin

    with_bugs = tmp_path / "demo.db"
    with_bugs.write_bytes(demo_db.read_bytes())
    with sqlite3.connect(with_bugs) as conn:
        conn.execute("DROP TABLE bugs")
    register_plugin()
    datasette = Datasette(files=[str(with_bugs)], metadata=build_metadata(with_bugs), settings=SETTINGS)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(datasette.invoke_startup())
        text = loop.run_until_complete(datasette.client.get("/")).text
    finally:
        loop.close()
    assert 'href="/demo/bugs"' not in text and 'href="/demo/threads"' in text


def test_table_pages_fold_column_descriptions_and_leave_long_columns_out(get):
    status, text = get("/demo/messages")
    assert status == 200
    assert '<details class="lkml-columns"><summary>What the' in text  # folded, closed
    assert 'data-column="subject"' in text
    for column in ("body", "prose", "references"):
        assert f'data-column="{column}"' not in text
    # how the texts are kept (schema: internal) is no reading matter either
    for column in ("sha256", "raw_block", "raw_offset", "raw_length", "body_at", "body_length", "body_encoding"):
        assert f'data-column="{column}"' not in text
    assert "Left out here: body, prose" in text
    assert "how the mail is kept: sha256, raw_block" in text
    show_all = re.search(r'class="lkml-show-all-columns" href="([^"]+)"', text).group(1)
    status, everything = get("/demo/messages" + show_all.replace("&amp;", "&"))
    assert status == 200 and 'data-column="body"' in everything
    status, api = get("/demo/messages.json?_shape=array&_size=1")
    assert "body" in __import__("json").loads(api)[0]  # the JSON keeps every column
    status, threads = get("/demo/threads")
    assert 'data-column="labels"' in threads and 'data-column="changed_at"' not in threads
    assert 'class="lkml-tag lkml-tag-deadlock"' in threads


def test_a_plain_search_of_messages_opens_the_search_query_with_snippets(demo_store):
    datasette = make_datasette(demo_store)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(datasette.invoke_startup())
        response = loop.run_until_complete(datasette.client.get("/demo/messages?_search=lock-order"))
        assert response.status_code == 302
        assert response.headers["location"] == "/demo/search_messages?q=lock-order"
        page = loop.run_until_complete(datasette.client.get(response.headers["location"])).text
    finally:
        loop.close()
    assert "[lock order]" in page  # the snippet, matches in brackets
    assert 'data-column="body"' not in page
    assert "td.col-snippet { min-width" in page and 'class="lkml-tag lkml-tag-deadlock"' in page
    assert '<pre id="sql-query">' not in page and '<textarea id="sql-editor"' not in page  # results first


def test_facet_suggestions_are_off_and_messages_has_no_unindexed_default_facet(get):
    status, text = get("/demo/messages.json")
    data = __import__("json").loads(text)
    assert data["suggested_facets"] == [] and data["facet_results"] == {}
    data = __import__("json").loads(get("/demo/threads.json")[1])
    assert data["suggested_facets"] == [] and "labels" in data["facet_results"]


AA_DEADLOCK_ROOT = "20240607110313.2230669-1-chenridong@huawei.com"  # 12 messages, a patch with its diff


def test_thread_page_has_an_overview_coloured_diffs_evidence_once_per_line_and_raw_mail(get, demo_db):
    status, text = get("/-/thread/" + quote(AA_DEADLOCK_ROOT, safe="@"))
    assert status == 200
    start = text.index('<nav class="lkml-overview">')
    overview = text[start:text.index("</nav>", start)]
    assert text.index('<nav class="lkml-overview">') < text.index("<h2>Labels</h2>")
    assert overview.count('href="#m') == 12
    assert 'lkml-diff-add' in text and 'lkml-diff-del' in text and 'lkml-diff-hunk' in text
    page = load_thread_page(store_on(sqlite3.connect(demo_db)), AA_DEADLOCK_ROOT)
    for label in page.labels:
        places = [(e.message_id, e.line) for e in label.evidence]
        assert len(places) == len(set(places)), label.label
    # each line once, with its strongest pattern and its subtype's name
    assert all(len(e.patterns) == 1 for label in page.labels for e in label.evidence)
    assert "lock-order inversion (ABBA)" in text and "lock_inversion" in text
    assert text.count('class="lkml-raw" href="/-/raw/') == 12
    status, short = get("/-/thread/" + quote("Z0I5DApYx_uqT2pb@debian.local", safe="@"))
    assert status == 200 and '<nav class="lkml-overview">' not in short  # one message: no overview


def test_raw_mail_is_served_as_plain_text_never_sniffed(demo_store):
    datasette = make_datasette(demo_store)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(datasette.invoke_startup())
        raw = loop.run_until_complete(datasette.client.get("/-/raw/" + quote(HOSTILE_MESSAGE_ID, safe="@")))
        missing = loop.run_until_complete(datasette.client.get("/-/raw/nobody%40example.com"))
    finally:
        loop.close()
    assert raw.status_code == 200 and raw.headers["content-type"].startswith("text/plain")
    assert raw.headers["x-content-type-options"] == "nosniff"
    assert f"Message-ID: <{HOSTILE_MESSAGE_ID}>".lower() in raw.text.lower()
    assert "<script>window.__lkml_pwned" in raw.text  # the mail as it came, as text
    assert missing.status_code == 404


def test_canned_query_rows_link_to_the_threads_behind_them(get, demo_db):
    import json

    conn = sqlite3.connect(demo_db)
    for name in ("threads_per_label_year", "threads_per_label_list_year", "top_subsystems_per_label",
                 "deadlock_lock_names", "label_cooccurrence", "kcsan_function_pairs"):
        status, text = get(f"/demo/{name}")
        assert status == 200, name
        links = re.findall(r'class="lkml-threads-link" href="([^"]+)">(\d+)</a>', text)
        assert links, name
        for href, count in links[:3]:
            status, rows = get(href.replace("&amp;", "&").replace("/demo/threads?", "/demo/threads.json?_shape=array&"))
            assert status == 200 and len(json.loads(rows)) == int(count), (name, href)
    # the deadlock threads of a year are those of the labels table
    year, ids = conn.execute("SELECT t.year, group_concat(t.thread_id) FROM labels l JOIN threads t USING (thread_id)"
                             " WHERE l.label = 'deadlock' GROUP BY t.year ORDER BY count(*) DESC LIMIT 1").fetchone()
    status, text = get("/demo/threads_per_label_year.json?_shape=array&label=deadlock")
    row = next(r for r in json.loads(text) if r["year"] == year)
    assert sorted(map(int, row["thread_ids"].split(","))) == sorted(map(int, ids.split(",")))
