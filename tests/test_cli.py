"""The ``miner`` command as a user runs it: databases closed whole, one-line errors, bounded input."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import SAMPLE, SHARED, need_shared
from epochs import bulk_epoch

MINER = [sys.executable, "-m", "miner"]
SAMPLE_MAIL = SAMPLE / "mail" / "cgroups" / "patch-fix-AA-deadlock-cgroup_bpf_release.mbox"
PARALLEL_COMMITS = 2500  # above the ingest's PARALLEL_THRESHOLD (2,000): the forked-worker path


def run_miner(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the console command in its own process (as a user would); text output."""
    return subprocess.run([*MINER, *map(str, args)], capture_output=True, text=True, timeout=timeout, check=False)


def test_a_parallel_ingest_leaves_no_write_ahead_log_and_the_db_file_alone_is_whole(tmp_path):
    epoch = bulk_epoch(tmp_path, PARALLEL_COMMITS)
    db = tmp_path / "lkml.db"
    result = run_miner("ingest", "--quiet", "--workers", "2", "--db", db, epoch)
    assert result.returncode == 0, result.stderr
    assert f"{PARALLEL_COMMITS} messages read" in result.stdout
    wal = db.with_name("lkml.db-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    copy = tmp_path / "copy" / "lkml.db"
    copy.parent.mkdir()
    shutil.copyfile(db, copy)  # the .db file only, as a user copies it
    conn = sqlite3.connect(copy)
    try:
        commits = conn.execute("SELECT count(DISTINCT position) FROM provenance").fetchone()[0]
        stored = conn.execute("SELECT count(*) FROM messages WHERE ghost = 0").fetchone()[0]
        runs = conn.execute("SELECT status, messages_read FROM ingest_runs").fetchall()
    finally:
        conn.close()
    assert commits == PARALLEL_COMMITS
    assert stored == PARALLEL_COMMITS  # measured: the first 2,500 commits carry 2,500 distinct Message-IDs
    assert runs == [("done", PARALLEL_COMMITS)]


def test_ctrl_c_during_an_ingest_still_folds_the_log_into_the_db_file(tmp_path):
    import signal

    from interrupt import default_sigint, signal_after_rows

    epoch = bulk_epoch(tmp_path, 20000)
    db = tmp_path / "lkml.db"
    # one process: Ctrl-C on the parallel path waits in the ingest's worker pool (see miner/ingest.py)
    ingest = subprocess.Popen([*MINER, "ingest", "--quiet", "--workers", "1", "--db", str(db), str(epoch)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    signal_after_rows(ingest, db, sig=signal.SIGINT)
    _, stderr = ingest.communicate(timeout=120)
    assert ingest.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr, stderr
    wal = db.with_name("lkml.db-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    copy = tmp_path / "copy.db"
    shutil.copyfile(db, copy)
    conn = sqlite3.connect(copy)
    try:
        (status, new), = conn.execute("SELECT status, messages_new FROM ingest_runs").fetchall()
        stored = conn.execute("SELECT count(*) FROM messages WHERE ghost = 0").fetchone()[0]
    finally:
        conn.close()
    assert status == "interrupted" and 0 < new < 20000
    assert stored == new  # every committed batch is in the .db file alone


# -- one line instead of a traceback ------------------------------------------------------------


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """A failed command: non-zero exit, no traceback, one 'miner: error:' line holding every fragment."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("miner: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    """The demo database (ingested and classified bundled sample), shared read-only by this module."""
    from demo_db import build_demo_db

    return build_demo_db(tmp_path_factory.mktemp("cli") / "demo.db", hostile=False)


def damaged_copy(demo_db: Path, directory: Path) -> Path:
    """A copy of the demo database whose every page but the first (header, schema root) is overwritten."""
    import random

    damaged = directory / "damaged.db"
    data = bytearray(demo_db.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    noise = random.Random(7)
    for start in range(page_size, len(data), page_size):
        data[start:start + page_size] = noise.randbytes(page_size)
    damaged.write_bytes(bytes(data))
    return damaged


def test_a_damaged_database_is_one_line_naming_it_for_readers_and_writers(demo_db, tmp_path):
    damaged = damaged_copy(demo_db, tmp_path)
    before = damaged.read_bytes()
    for args in (["threads"], ["show", "000000000000430bf505bcef3b00@google.com"],
                 ["export", "--format", "csv", "--out", tmp_path / "out"], ["sql", "SELECT count(*) FROM messages"],
                 ["query", "threads_per_label_year"]):
        assert_one_line_error(run_miner(*args, "--db", damaged), str(damaged), "damaged", "malformed")
    # writers check the file first (PRAGMA quick_check) and leave it as it was
    for args in (["ingest", "--quiet", SAMPLE_MAIL], ["classify", "--quiet"]):
        assert_one_line_error(run_miner(*args, "--db", damaged), str(damaged), "damaged", "quick_check")
    assert damaged.read_bytes() == before
    assert not (tmp_path / "out").exists()


def test_db_whose_parent_is_a_file_is_one_line(tmp_path):
    parent = tmp_path / "not-a-folder"
    parent.write_text("a file\n")
    db = parent / "lkml.db"
    assert_one_line_error(run_miner("ingest", "--quiet", "--db", db, SAMPLE_MAIL), str(db), "File exists")
    assert_one_line_error(run_miner("threads", "--db", db), str(db), "no such database")


def test_limits_and_ports_out_of_range_are_refused_by_click(demo_db):
    from click.testing import CliRunner

    from miner.cli import cli

    runner = CliRunner()
    for args, option in ((["threads", "--limit", "99999999999999999999999"], "--limit"),
                         (["threads", "--limit", "0"], "--limit"), (["threads", "--limit", "-3"], "--limit"),
                         (["serve", "--port", "99999"], "--port"), (["ingest", "--workers", "0", "x"], "--workers")):
        result = runner.invoke(cli, [*args, "--db", str(demo_db)])
        assert result.exit_code == 2 and f"Invalid value for '{option}'" in result.output, (args, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit)
    every = runner.invoke(cli, ["threads", "--db", str(demo_db), "--format", "csv"])
    two = runner.invoke(cli, ["threads", "--db", str(demo_db), "--format", "csv", "--limit", "2"])
    assert every.exit_code == 0 and two.exit_code == 0
    assert two.output.splitlines() == every.output.splitlines()[:3]  # header + the two newest threads
    assert len(every.output.splitlines()) == 1 + 17


def test_list_threads_with_limit_zero_returns_no_rows(demo_db):
    from miner.reading import list_threads
    from miner.store import open_store

    with open_store(demo_db, create=False) as store:
        assert list_threads(store, limit=0) == []
        assert len(list_threads(store)) == 17


def mounted_tmpfs(mount_point: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted on ``mount_point`` with ``options`` (needs root and mount permission; skips otherwise)."""
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount_point)],
                             capture_output=True, text=True, check=False) if shutil.which("mount") else None
    if mounted is None or mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() if mounted else 'no mount command'})")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB file system: writing more than that fails with ENOSPC, as on a full disk."""
    yield from mounted_tmpfs(tmp_path / "tiny", "size=1m")


@pytest.fixture
def read_only_disk(tmp_path):
    """A read-only file system: even root cannot create a folder there."""
    yield from mounted_tmpfs(tmp_path / "read-only", "ro,size=64k")


def test_disk_full_during_ingest_is_one_line_naming_the_database(tiny_disk):
    db = tiny_disk / "lkml.db"
    result = run_miner("ingest", "--quiet", "--db", db, SAMPLE)  # 1.4 MB of mail: the database outgrows 1 MiB
    assert_one_line_error(result, str(db), "disk full")


def test_disk_full_during_export_is_one_line_and_leaves_no_folder(demo_db, tiny_disk):
    out = tiny_disk / "export"
    result = run_miner("export", "--db", demo_db, "--format", "jsonl", "--out", out)  # ~1.1 MB of JSON
    assert_one_line_error(result, str(out), "No space left on device", "nothing was changed")
    assert list(tiny_disk.iterdir()) == []  # neither the folder nor the hidden partial one


def test_an_unwritable_export_folder_is_one_line(demo_db, read_only_disk):
    out = read_only_disk / "export"
    result = run_miner("export", "--db", demo_db, "--format", "csv", "--out", out)
    assert_one_line_error(result, str(out), "cannot write an export here", "Read-only file system")


# -- dates given to --since / --until ------------------------------------------------------------


def listed_threads(demo_db: Path, *args: str) -> list[dict]:
    """`miner threads --format json` with more options, through click."""
    import json

    from click.testing import CliRunner

    from miner.cli import cli

    result = CliRunner().invoke(cli, ["threads", "--db", str(demo_db), "--format", "json", *args])
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.output)


def test_since_and_until_with_offsets_are_compared_in_utc(demo_db):
    every = listed_threads(demo_db)
    latest = max(every, key=lambda thread: thread["last_date"])  # 'YYYY-MM-DDTHH:MM:SSZ', as stored
    day, clock = latest["last_date"][:10], latest["last_date"][11:19]
    hour = int(clock[:2])
    assert 1 <= hour <= 21, latest  # room for the offsets below on the same day
    # one hour before its last message, written in UTC+02:00: the same moment as (hour - 1):MM:SS Z
    east = f"{day}T{hour + 1:02d}{clock[2:]}+02:00"
    assert latest["thread_id"] in [t["thread_id"] for t in listed_threads(demo_db, "--since", east)]
    # one hour after it, written in UTC-05:00 (a string that sorts before the stored date)
    west = f"{day}T{hour - 4:02d}{clock[2:]}-05:00"
    assert latest["thread_id"] not in [t["thread_id"] for t in listed_threads(demo_db, "--since", west)]
    assert listed_threads(demo_db, "--since", day) == listed_threads(demo_db, "--since", f"{day}T00:00:00Z")
    earliest = min(every, key=lambda thread: thread["first_date"])
    just_after = earliest["first_date"].replace("Z", "+00:00")
    before = [t["thread_id"] for t in listed_threads(demo_db, "--until", just_after)]
    assert earliest["thread_id"] not in before  # --until is exclusive, at the second
    assert len(listed_threads(demo_db, "--until", "2100-01-01T00:00:00+14:00")) == len(every)


def test_a_bad_date_is_one_line_naming_the_option(demo_db):
    for option, value in (("--since", "2021-13-01"), ("--until", "yesterday"), ("--since", "2021-03-07T25:00")):
        result = run_miner("threads", "--db", demo_db, option, value)
        assert_one_line_error(result, f"{option} '{value}': not a date (expected YYYY-MM-DD or ISO 8601")
    result = run_miner("export", "--db", demo_db, "--format", "csv", "--out", demo_db.parent / "x", "--since", "x")
    assert_one_line_error(result, "--since 'x': not a date")


def test_utc_date_bound_normalises_every_accepted_form():
    from miner.reading import utc_date_bound

    assert utc_date_bound("2021-03-07") == "2021-03-07T00:00:00Z"
    assert utc_date_bound("2021-03-07T10:00:00+02:00") == "2021-03-07T08:00:00Z"
    assert utc_date_bound("2021-03-07T23:30-05:00") == "2021-03-08T04:30:00Z"
    assert utc_date_bound("2021-03-07T10:00:00Z") == "2021-03-07T10:00:00Z"
    assert utc_date_bound("2021-03-07 10:00:00.5") == "2021-03-07T10:00:00Z"  # no offset: UTC


# -- reply cycles ------------------------------------------------------------------------------

CYCLE_THREAD = SHARED / "corpus" / "mail" / "linux-mailinglist-archives.cgroups" / \
    "syzbot-kcsan-data-race-cgroup_migrate_execute"
CYCLE_REPORT = "686bb62b.a00a0220.c7b3.0083.GAE@google.com"  # the syzbot report (001)
CYCLE_REPLY = "wuoepqhwfz3akami7wigstoszqhmb6t5tflnso47kedxrtg23m@qofn6qxq3tyn"  # the reply to it (002)


def cyclic_pair(directory: Path) -> Path:
    """The real report and its reply, the report's headers made to answer the reply: A replies to B, B to A."""
    report = need_shared(CYCLE_THREAD / "001-a588c8a34979.eml").read_bytes()
    reply = (CYCLE_THREAD / "002-2e0ac58fddcf.eml").read_bytes()
    marker = f"Message-ID: <{CYCLE_REPORT}>\n".encode()
    assert marker in report and f"In-Reply-To: <{CYCLE_REPORT}>".encode() in reply
    report = report.replace(marker, marker + f"In-Reply-To: <{CYCLE_REPLY}>\nReferences: <{CYCLE_REPLY}>\n".encode())
    folder = directory / "cycle"
    folder.mkdir()
    (folder / "001.eml").write_bytes(report)
    (folder / "002.eml").write_bytes(reply)
    return folder


def test_a_reply_cycle_shows_every_message_once_in_show_and_the_thread_page(tmp_path):
    from click.testing import CliRunner

    from miner.cli import cli
    from miner.serve.thread_page import load_thread_page
    from miner.store import store_on

    db = tmp_path / "cycle.db"
    runner = CliRunner()
    ingested = runner.invoke(cli, ["ingest", "--quiet", "--db", str(db), str(cyclic_pair(tmp_path))])
    assert ingested.exit_code == 0, (ingested.output, ingested.exception)
    conn = sqlite3.connect(db)
    parents = dict(conn.execute("SELECT message_id, parent_id FROM messages"))
    assert parents == {CYCLE_REPORT: CYCLE_REPLY, CYCLE_REPLY: CYCLE_REPORT}  # the cycle is in the database
    assert conn.execute("SELECT root_message_id FROM threads").fetchall() == [(CYCLE_REPORT,)]
    for asked in (CYCLE_REPORT, CYCLE_REPLY):
        shown = runner.invoke(cli, ["show", "--db", str(db), asked])
        assert shown.exit_code == 0, (shown.output, shown.exception)
        tree = [line for line in shown.output.splitlines() if line.rstrip().endswith(">")]
        assert len(tree) == 2, shown.output
        assert f"<{CYCLE_REPORT}>" in tree[0] and "[syzbot]" in tree[0]  # the earlier message is the root
        assert tree[1].startswith(("     ", "->   ")) and f"<{CYCLE_REPLY}>" in tree[1]  # its reply, indented
        page = load_thread_page(store_on(conn), asked)
        assert [(m.message_id, m.depth) for m in page.messages] == [(CYCLE_REPORT, 0), (CYCLE_REPLY, 1)]
    conn.close()
