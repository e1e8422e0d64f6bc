"""The bug record on the thread page and the bugs table in Datasette (miner/serve/bug_record.py)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from demo_db import DEADLOCK_ROOT, build_demo_db, datasette_get

from miner.serve.metadata import build_metadata

KCSAN_ROOT = "000000000000fa9f7005c33d83b9@google.com"
APPLIED_THREAD = "8245b710-8acb-d8e6-7045-99a5f71dad4e@oracle.com"  # cgroups query thread, "Applied to ..."


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    return build_demo_db(tmp_path_factory.mktemp("serve-bugs") / "demo.db")


@pytest.fixture(scope="module")
def get(demo_db):
    with datasette_get(demo_db) as fetch:
        yield fetch


def test_thread_page_shows_the_bug_record_at_the_top(get):
    status, html = get("/-/thread/" + quote(DEADLOCK_ROOT, safe="@"))
    assert status == 200
    record = html.index('id="bug-record"')
    assert record < html.index("<h2>Labels</h2>") < html.index("<h2>Conversation</h2>")
    assert "<code>&amp;sqd-&gt;lock</code>" in html  # escaped, as every value from mail
    assert "<code>io_sq_thread_finish</code>" in html
    assert 'href="https://syzkaller.appspot.com/bug?extid=ac39856cb1b332dbbdda"' in html
    assert "lockdep, syzbot" in html
    assert "no patch in the thread" in html
    assert f'href="https://lore.kernel.org/r/{DEADLOCK_ROOT}/T/"' in html


def test_thread_page_shows_fix_status_and_the_applied_reply(get):
    status, html = get("/-/thread/" + quote(APPLIED_THREAD, safe="@"))
    assert status == 200
    assert '<td class="lkml-fix-status">applied (2022-08-17T17:40:32Z)</td>' in html
    assert "on cgroup/for-6.0-fixes" in html and "reply, matched by applied-reply" in html
    assert 'href="https://lore.kernel.org/r/Yv0oEOXddKp+Xo1U@slm.duckdns.org"' in html  # + kept, as mid_escape does


def test_bugs_table_has_facets_on_labels_tools_subsystems_and_fix_status(get, demo_db):
    facets = build_metadata(demo_db)["databases"]["demo"]["tables"]["bugs"]["facets"]
    assert facets == [{"array": "labels"}, {"array": "tools"}, {"array": "subsystems"}, "fix_status"]
    status, html = get("/demo/bugs")
    assert status == 200
    for facet in ("labels", "tools", "subsystems", "fix_status"):
        assert f'data-column="{facet}"' in html
    status, html = get("/demo/bugs.json?_facet_array=tools&_facet=fix_status&_shape=objects")
    assert status == 200 and '"KCSAN"' in html and '"no patch"' in html
