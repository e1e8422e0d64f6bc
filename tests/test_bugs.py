"""Bug records (miner/bugs/): facts of real reports, timelines of real threads, `miner bugs` on the demo database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
import sqlite_utils

from miner.bugs import reports
from miner.bugs.record import build_record, subtype_name
from miner.bugs.store import RECORD_KEYS, list_bugs, rebuild_bugs, thread_messages
from miner.bugs.timeline import ThreadMessage, applied_in_reply, commit_notice, kernel_path, message_id_of_link
from miner.cli import cli
from miner.parse import parse_message
from miner.store import open_store

from conftest import FIXTURES, SAMPLE, SHARED, need_shared

BUGS = FIXTURES / "bugs"
TIP = BUGS / "tip-commits"
IO_URING = SAMPLE / "mail" / "io-uring"


def _messages(mbox: Path) -> list:
    """The messages of a sample mbox, parsed by the project's parser."""
    from miner.sources.mbox import read_mbox

    return [parse_message(raw.raw) for raw in read_mbox(mbox)]


def _lines(message) -> list[str]:
    return message.body.split("\n")


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    from demo_db import build_demo_db

    return build_demo_db(tmp_path_factory.mktemp("bugs") / "demo.db", hostile=False)


# -- report facts, message by message ------------------------------------------------------

def test_lockdep_syzbot_report_gives_its_lock_functions_and_syzbot_id():
    report = _messages(IO_URING / "syzbot-possible-deadlock-in-io_sq_thread_finish.mbox")[0]
    assert report.subject == "[syzbot] possible deadlock in io_sq_thread_finish"
    assert reports.lock_classes(_lines(report))[0] == "&sqd->lock"
    assert "(wq_completion)events_unbound" in reports.lock_classes(_lines(report))
    assert reports.title_functions(report.subject) == ["io_sq_thread_finish"]
    # the call trace without dump_stack, lockdep and mutex frames
    assert reports.trace_functions(_lines(report)) == ["io_sq_thread_stop", "io_put_sq_data", "io_sq_thread_finish"]
    assert reports.detectors(_lines(report)) == ["lockdep"]
    assert reports.syzbot_id(report.body) == "ac39856cb1b332dbbdda"


def test_kcsan_report_gives_both_functions_of_the_title_and_the_access_frames():
    report = _messages(IO_URING / "syzbot-kcsan-data-race-__io_uring_cancel.mbox")[0]
    assert reports.kcsan_functions(_lines(report)) == ["__io_uring_cancel", "io_uring_try_cancel_requests"]
    assert reports.title_functions(report.subject) == ["__io_uring_cancel", "io_uring_try_cancel_requests"]
    assert reports.detectors(_lines(report)) == ["KCSAN"]
    assert reports.syzbot_id(report.body) == "73554e2258b7b8bf0bbf"


def test_scenario_table_and_held_locks_are_normalised():
    report = parse_message((BUGS / "syzbot-throtl_pending_timer_fn-001.eml").read_bytes())
    locks = reports.lock_classes(_lines(report))
    assert locks[:2] == ["&q->queue_lock", "(&sq->pending_timer)"]
    # "(&type->i_mutex_dir_key#3/1)" held with a subclass: the class is the same
    assert "&type->i_mutex_dir_key#3" in locks and "&type->i_mutex_dir_key#3/1" not in locks
    assert {"sb_writers#5", "sb_internal", "jbd2_handle"} <= set(locks)
    assert reports.syzbot_id(report.body) == "934ebb67352c8a490bf3"
    assert reports.title_functions(report.subject) == ["throtl_pending_timer_fn"]


def test_dmesg_time_stamps_do_not_hide_a_user_posted_splat():
    [report] = _messages(SAMPLE / "mail" / "linux-btrfs" / "lockdep-splat-report-possible-circular-locking-single.mbox")
    assert reports.detectors(_lines(report)) == ["lockdep"]
    locks = reports.lock_classes(_lines(report))
    assert locks[:2] == ["&delayed_node->mutex", "fs_reclaim"]
    assert "&q->q_usage_counter(io)#10" in locks and "btrfs-tree-01" in locks
    # the compiler's clone suffix (.part.0) is not part of the function's name
    assert reports.trace_functions(_lines(report))[0] == "__btrfs_release_delayed_node"


def test_what_the_btrfs_epoch_taught():
    """Subjects and frames met in the natural traffic of linux-btrfs (2019-2020) that were wrongly taken."""
    # a series title is no report title: "in relocation" names no function
    assert reports.title_functions("[PATCH v2 00/42] Cleanup error handling in relocation") == []
    assert reports.title_functions("possible deadlock in start_transaction") == ["start_transaction"]
    assert reports.title_functions("[syzbot] WARNING in btrfs_free_reserved_data_space_noquota",
                                   syzbot=True) == ["btrfs_free_reserved_data_space_noquota"]
    # btrfs' own tree locks, lockdep's printers (with clone suffixes) and the allocator are plumbing
    for frame in ("__btrfs_tree_read_lock", "btrfs_tree_read_lock_atomic", "__btrfs_read_lock_root_node",
                  "print_circular_bug.isra.0", "slab_pre_alloc_hook", "kmem_cache_alloc", "unlock_up",
                  "__lock_task_sighand", "down_write_nested"):
        assert reports.is_plumbing_frame(frame), frame
    for frame in ("btrfs_search_slot", "block_write_begin", "io_sq_thread_finish", "clock_was_set"):
        assert not reports.is_plumbing_frame(frame), frame


def test_prose_about_lockdep_is_no_lock_and_no_tool():
    lines = ["lockdep complains about (&sqd->lock) here, see the splat", "possible circular locking dependency",
             "  mutex_lock(&sqd->lock);"]
    assert reports.lock_classes(lines) == []
    assert reports.detectors(lines) == []


# -- commit notices, links, paths -----------------------------------------------------------

TIP_NOTICES = {  # file: (Commit-ID, Closes:/Link: targets) as the tip-bot wrote them
    "78b61f3041bc.eml": ("23870f1227680d2aacff6f79c3ab2222bd04e86e",
                         "20200902160323.GK1362448@hirez.programming.kicks-ass.net"),
    # Closes: names the report's thread, Link: the patch's: the commit ties both
    "0ab6d754fd5e.eml": ("4a077914578183ec397ad09f7156a357e00e5d72",
                         ("20241211182502.2915-1-spasswolf@web.de", "20241212222138.2400498-1-jstultz@google.com")),
    "e1b364a22f40.eml": ("e5480572706da1b2c2dc2c6484eab64f92b9263b",
                         "YS9La56fHMiCCo75@hirez.programming.kicks-ass.net"),
    "a2a7dcc142da.eml": ("b63fd11cced17fcb8e133def29001b0f6aaa5e06", "20190904094738.9558-2-srikar@linux.vnet.ibm.com"),
    "9c97690b4575.eml": ("c48981eeb0d56e107691df590007d6699441a689", None),
}


@pytest.mark.parametrize("name", sorted(TIP_NOTICES))
def test_tip_bot_notices_give_commit_branch_and_link(name):
    message = parse_message((TIP / name).read_bytes())
    notice = commit_notice(message.body)
    commit, link = TIP_NOTICES[name]
    assert notice.commit == commit
    assert notice.branch.startswith("tip/")
    assert notice.links == (link if isinstance(link, tuple) else (link,) if link else ())


def test_every_tip_notice_of_the_corpus_is_a_notice_and_a_reply_is_not():
    for path in sorted(TIP.glob("*.eml")):
        assert commit_notice(parse_message(path.read_bytes()).body) is not None, path.name
    report = _messages(IO_URING / "syzbot-possible-deadlock-in-io_sq_thread_finish.mbox")[0]
    assert commit_notice(report.body) is None


def test_link_forms_of_lore_lkml_and_patch_msgid():
    assert message_id_of_link("https://lore.kernel.org/r/abc.123@host") == "abc.123@host"
    assert message_id_of_link("https://lkml.kernel.org/r/abc@host") == "abc@host"
    assert message_id_of_link("https://lore.kernel.org/io-uring/abc@host/") == "abc@host"
    assert message_id_of_link("https://lore.kernel.org/all/abc@host/T/#u") == "abc@host"
    assert message_id_of_link("https://patch.msgid.link/abc%40host") == "abc@host"
    assert message_id_of_link("<abc@host>") == "abc@host"
    assert message_id_of_link("https://bugzilla.kernel.org/show_bug.cgi?id=1") is None


def test_old_tree_prefixes_are_stripped_from_paths():
    assert kernel_path("a/fs/btrfs/disk-io.c") == "fs/btrfs/disk-io.c"
    assert kernel_path("linux-2.6/kernel/sched.c") == "kernel/sched.c"
    assert kernel_path("linux-2.6.orig/mm/slab.c") == "mm/slab.c"
    assert kernel_path("a/linux-2.6/fs/ext4/inode.c") == "fs/ext4/inode.c"
    assert kernel_path("fs/io_uring.c") == "fs/io_uring.c"
    assert kernel_path("tools/testing/selftests/x.c") == "tools/testing/selftests/x.c"


def test_applied_reply_names_its_branch(demo_db):
    with open_store(demo_db, create=False) as store:
        thread_id = store.thread_of("8245b710-8acb-d8e6-7045-99a5f71dad4e@oracle.com")
        messages = thread_messages(store, thread_id)
    applied = [found for m in messages if (found := applied_in_reply(m))]
    assert [(a.message_id, a.branch, a.source) for a in applied] == [
        ("Yv0oEOXddKp+Xo1U@slm.duckdns.org", "cgroup/for-6.0-fixes", "reply")]
    # the other replies of that thread discuss the fix without saying it was applied
    assert sum(1 for m in messages if not m.has_diff) > 5


def test_cover_letter_trailers_apply_to_the_series():
    cover = ThreadMessage("cover@x", None, "[PATCH v2 0/2] fix it", "A", "a@x", "2020-01-01T00:00:00Z", "intro",
                          2, 0, 2)
    patch = ThreadMessage("p1@x", "cover@x", "[PATCH v2 1/2] fix one", "A", "a@x", "2020-01-01T00:00:01Z", "d",
                          2, 1, 2, files=["fs/x.c"])
    reply = ThreadMessage("r@x", "cover@x", "Re: [PATCH v2 0/2] fix it", "R", "r@x", "2020-01-02T00:00:00Z",
                          "> intro\nReviewed-by: R <r@x>", trailers=[("Reviewed-by", "R <r@x>", "R", "r@x")])
    record = build_record(1, "cover@x", cover.subject, ["deadlock"], ["D1"], [cover, patch, reply])
    assert record.reviewers == [{"trailer": "Reviewed-by", "name": "R", "email": "r@x", "message_id": "r@x",
                                 "applies_to": "cover@x", "series": True}]
    assert record.last_patch_version == 2 and record.fix_status == "reviewed"


def test_subtype_names_come_from_the_taxonomy():
    assert subtype_name("D1") == "D1 lock-order inversion (ABBA)"
    assert subtype_name("X9") == "X9"


# -- the demo database ---------------------------------------------------------------------

def test_miner_bugs_json_has_a_record_with_every_key_for_every_labelled_thread(demo_db):
    result = CliRunner().invoke(cli, ["bugs", "--db", str(demo_db), "--format", "json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    with open_store(demo_db, create=False) as store:
        labelled = {row[0] for row in store.conn.execute("SELECT DISTINCT thread_id FROM labels")}
    assert {r["thread_id"] for r in records} == labelled
    assert all(tuple(r) == RECORD_KEYS for r in records)
    for record in records:
        for key in ("labels", "subtypes", "locks", "functions", "tools", "subsystems", "reviewers", "fixes",
                    "applied"):
            assert isinstance(record[key], list), key
        assert all(set(item) >= {"commit", "source", "match"} for item in record["applied"])

    by_root = {r["root_message_id"]: r for r in records}
    deadlock = by_root["000000000000430bf505bcef3b00@google.com"]
    assert "&sqd->lock" in deadlock["locks"]
    assert "syzbot" in deadlock["tools"] and "lockdep" in deadlock["tools"]
    assert "KASAN" not in deadlock["tools"]  # met by a patch test run, not what found the bug
    assert deadlock["syzbot_id"] == "ac39856cb1b332dbbdda"
    assert deadlock["subtypes"][0].startswith("D2 ")
    kcsan = by_root["000000000000fa9f7005c33d83b9@google.com"]
    assert {"__io_uring_cancel", "io_uring_try_cancel_requests"} <= set(kcsan["functions"])
    assert kcsan["tools"] == ["KCSAN", "syzbot"] and kcsan["syzbot_id"] == "73554e2258b7b8bf0bbf"


def test_patch_thread_record_has_files_fixes_and_versions(demo_db):
    with open_store(demo_db, create=False) as store:
        records = {r["root_message_id"]: r for r in list_bugs(store)}
    padata = records["20190711221205.29889-1-daniel.m.jordan@oracle.com"]
    assert padata["first_patch"] == padata["first_report"] == "2019-07-11T22:12:05Z"
    assert padata["last_patch_version"] == 2
    assert "kernel" in padata["subsystems"] and "kernel/padata.c" in padata["files"]
    assert padata["fixes"][0]["commit"] == "16295bec6398"
    assert padata["fixes"][0]["subject"] == "padata: Generic parallelization/serialization interface"
    user_splat = records["Z0I5DApYx_uqT2pb@debian.local"]
    assert user_splat["tools"] == ["lockdep", "human"] and user_splat["fix_status"] == "no patch"


def test_bugs_filters_and_csv(demo_db):
    runner = CliRunner()
    race = json.loads(runner.invoke(cli, ["bugs", "--db", str(demo_db), "--format", "json", "--label", "race"]).output)
    assert race and all("race" in r["labels"] for r in race)
    late = json.loads(runner.invoke(cli, ["bugs", "--db", str(demo_db), "--format", "json",
                                          "--since", "2024-01-01"]).output)
    assert late and all(r["first_report"] >= "2024-01-01" for r in late)
    csv_out = runner.invoke(cli, ["bugs", "--db", str(demo_db), "--format", "csv"]).output
    assert csv_out.splitlines()[0] == ",".join(RECORD_KEYS)
    assert '""&sqd->lock""' in csv_out  # lists are JSON text in a cell


def test_an_old_database_gets_the_new_tables_on_open(tmp_path):
    path = tmp_path / "old.db"
    open_store(path).close()
    import sqlite3

    conn = sqlite3.connect(path)
    conn.executescript("DROP TABLE bugs; DROP TABLE commits; DROP TABLE commit_links;")
    conn.close()
    with open_store(path) as store:
        assert {"bugs", "commits", "commit_links"} <= set(sqlite_utils.Database(store.conn).table_names())
        assert rebuild_bugs(store).records == 0


def test_corpus_tip_notices_tie_to_their_own_threads(tmp_path):
    """The tip-bot notices thread under the patch they answer: each labelled one has its commit as applied."""
    from miner.classify.store import classify_database
    from miner.ingest import ingest_paths

    with open_store(tmp_path / "tip.db") as store:
        ingest_paths(store, sorted(TIP.glob("*.eml")), progress=False, workers=1)
        classify_database(store, progress=False, workers=1)
        records = list_bugs(store)
    assert records, "the deadlock/race notices are labelled"
    commits = {item["commit"] for r in records for item in r["applied"]}
    assert "e5480572706da1b2c2dc2c6484eab64f92b9263b" in commits  # locking/rtmutex: Fix ww_mutex deadlock check
    for record in records:
        assert record["applied"][0]["source"] == "commit-notice"
        assert record["fix_status"] == "applied"


# -- canned queries and export -------------------------------------------------------------

def test_bug_queries_on_the_demo_database(demo_db, demo_store):
    from miner.queries import run_query

    columns, rows = run_query(demo_store, "syzbot_never_fixed")
    never = {row[columns.index("syzbot_id")] for row in rows}
    assert {"ac39856cb1b332dbbdda", "73554e2258b7b8bf0bbf"} <= never
    columns, rows = run_query(demo_store, "kcsan_pairs_fix_status")
    pairs = {(row[0], row[1]): row for row in rows}
    assert pairs[("__io_uring_cancel", "io_uring_try_cancel_requests")][columns.index("with_patch")] == 1
    columns, rows = run_query(demo_store, "lock_order_inversion_pairs")
    assert ("&delayed_node->mutex", "fs_reclaim") in {(row[0], row[1]) for row in rows}
    assert not any("&sqd->lock" in (row[0], row[1]) for row in rows)  # an AA report is no inversion pair
    columns, rows = run_query(demo_store, "bugs_time_to_fix", {"by": "label", "label": "deadlock"})
    by_year = {row[columns.index("year")]: row for row in rows}
    merged_2022 = by_year[2022]
    assert merged_2022[columns.index("merged")] == 1 and merged_2022[columns.index("avg_days_to_merge")] > 0
    with open_store(demo_db, create=False) as store:
        deadlocks = store.conn.execute(
            "SELECT count(*) FROM bugs WHERE EXISTS (SELECT 1 FROM json_each(labels) WHERE value='deadlock')"
        ).fetchone()[0]
    assert sum(row[columns.index("bugs")] for row in rows) == deadlocks


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_writes_bugs_and_the_card_describes_them(demo_db, demo_store, tmp_path, fmt):
    from miner.export import export_dataset

    summary = export_dataset(demo_store, tmp_path / fmt, fmt)
    assert (tmp_path / fmt / ("bugs" if fmt == "parquet" else f"bugs.{fmt}")).exists()  # Parquet: a Hive folder
    with open_store(demo_db, create=False) as store:
        assert summary.counts["bugs"] == store.conn.execute("SELECT count(*) FROM bugs").fetchone()[0] > 0
    card = (tmp_path / fmt / "README.md").read_text()
    locks_type = "list<string>" if fmt == "parquet" else "TEXT"  # Parquet columns have real types
    assert "## Bug records" in card and "### `bugs`" in card and f"| `locks` | {locks_type} |" in card


def _reply(name: str) -> ThreadMessage:
    message = parse_message((BUGS / name).read_bytes())
    return ThreadMessage(message.message_id, message.parent_id, message.subject, message.from_name,
                         message.from_email, message.date, message.body)


def test_maintainers_applied_replies_of_the_btrfs_epoch():
    queued = applied_in_reply(_reply("btrfs-queued-for-5.3.eml"))
    assert (queued.branch, queued.source, queued.commit) == ("5.3", "reply", None)
    added = applied_in_reply(_reply("btrfs-added-to-misc-next.eml"))
    assert added.branch == "misc-next" and added.message_id == "20200228162016.GP2902@twin.jikos.cz"


def test_replies_that_only_look_applied_are_not():
    # "added a few more ..." continues a sentence (and a commit link follows): no applied notice
    assert applied_in_reply(_reply("btrfs-wrapped-added-line.eml")) is None
    # the patch author's "Added in v3." names a version of the patch, not a branch
    assert applied_in_reply(_reply("btrfs-added-in-v3.eml")) is None


def test_a_tested_by_given_to_a_real_cover_letter_applies_to_the_series(tmp_path):
    mbox = need_shared(SHARED / "corpus" / "mail" / "linux-mailinglist-archives.cgroups"
                       / "patch-v2-slub-fix-sysfs-circular-locking-dependency" / "thread.mbox")
    from miner.classify.store import classify_database
    from miner.ingest import ingest_paths

    with open_store(tmp_path / "slub.db") as store:
        ingest_paths(store, [mbox], progress=False, workers=1)
        classify_database(store, progress=False, workers=1)
        [record] = list_bugs(store)
    cover = "20200427235621.7823-1-longman@redhat.com"  # [PATCH v2 0/4] mm/slub: Fix sysfs circular locking ...
    assert record["root_message_id"] == cover and record["last_patch_version"] == 2
    given = {(r["trailer"], r["email"], r["applies_to"], r["series"]) for r in record["reviewers"]}
    assert ("Tested-by", "cai@lca.pw", cover, True) in given
    assert ("Reviewed-by", "cai@lca.pw", "20200427235621.7823-5-longman@redhat.com", False) in given
    assert "lockdep" in record["tools"] and record["subsystems"][0] == "mm"


def test_acks_carried_in_the_patches_of_the_kcsan_series():
    from miner.classify.store import classify_database
    from miner.ingest import ingest_paths
    import tempfile

    with tempfile.TemporaryDirectory() as folder, open_store(Path(folder) / "k.db") as store:
        ingest_paths(store, [FIXTURES / "mail" / "kcsan" / "kasan-dev.mbox"], progress=False, workers=1)
        classify_database(store, progress=False, workers=1)
        [record] = list_bugs(store)
    acks = [r for r in record["reviewers"] if r["email"] == "paulmck@kernel.org"]
    assert len(acks) >= 8 and all(r["applies_to"] == r["message_id"] and not r["series"] for r in acks)
    assert record["last_patch_version"] == 4 and "kernel/kcsan" in record["subsystems"]


def test_patchwork_bot_notices_of_a_real_lkml_digest(tmp_path):
    digest = need_shared(SHARED / "corpus" / "mail" / "lkml-digests-EArakoni-OSH"
                         / "digest-linux-kernel-issue-15399.eml")
    from miner.ingest import ingest_paths

    with open_store(tmp_path / "digest.db") as store:
        ingest_paths(store, [digest], progress=False, workers=1)
        rows = store.conn.execute(
            "SELECT message_id, parent_id, subject, from_name, from_email, date, body FROM messages"
            " WHERE ghost = 0 AND instr(body, 'This patch was applied to') > 0 ORDER BY date").fetchall()
    assert len(rows) >= 3
    found = [applied_in_reply(ThreadMessage(*row)) for row in rows]
    assert all(a and a.source == "patchwork-bot" and a.branch == "riscv/linux.git (fixes)" for a in found)
    assert "223bfc4d403c" in {a.commit for a in found}  # "https://git.kernel.org/riscv/c/223bfc4d403c"


@pytest.mark.parametrize("needle", ["lock", "Signed-off-by:", "syzbot", "\t"])
def test_bodies_containing_finds_what_instr_on_the_body_finds(demo_db, needle):
    """The block-order byte search of the rebuild (plain bodies as bytes, the others decoded) gives the
    messages SQLite's instr(body) gives, on the demo's real mail (plain, MIME, encoded bodies)."""
    from miner.bugs.store import bodies_containing
    with open_store(demo_db, create=False) as store:
        kinds = store.conn.execute("SELECT count(*), count(body_z), count(body_encoding) FROM messages"
                                   " WHERE ghost=0").fetchone()
        expected = [row[0] for row in store.conn.execute(
            "SELECT rowid FROM messages WHERE ghost=0 AND instr(body, ?) > 0 ORDER BY rowid", (needle,))]
        assert bodies_containing(store.conn, needle) == expected
    assert kinds[0] > 100 and expected
