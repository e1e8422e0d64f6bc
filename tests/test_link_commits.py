"""`miner link-commits` on a git repository built from the real commit messages of patches in the sample.

Each commit is what a maintainer would have applied: the patch mail's subject without its
``[PATCH ...]`` markers, its message up to the ``---`` line, its author and Date (git am keeps
them), and the ``Link:`` trailer the maintainer adds. One commit carries no Link: and must be
matched by subject and author; a second run after one more commit reads that commit only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from miner.bugs.commits import GIT_LOG_FORMAT, parse_git_log, release_of, subject_key
from miner.cli import cli
from miner.parse import parse_message
from miner.sources.mbox import read_mbox
from miner.store import open_store

from conftest import SAMPLE

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

AA_DEADLOCK = "20240607110313.2230669-1-chenridong@huawei.com"  # [PATCH -next] cgroup: Fix AA deadlock ...
XARRAY = "20230918044739.29782-1-mirsad.todorovac@alu.unizg.hr"  # [PATCH v1 1/1] xarray: fix the data-race ...
PADATA = "20190711221205.29889-1-daniel.m.jordan@oracle.com"  # [PATCH] padata: use smp_mb ... (no Link:)
WAIT_ON_BIT = "alpine.LRH.2.02.2208220530050.32093@file01.intranet.prod.int.rdu2.redhat.com"


def _sample_message(message_id: str):
    for mbox in sorted((SAMPLE / "mail").rglob("*.mbox")):
        for raw in read_mbox(mbox):
            message = parse_message(raw.raw)
            if message.message_id == message_id:
                return message
    raise AssertionError(f"{message_id} is not in the sample")


def _commit_message(message_id: str, link: str | None) -> tuple[str, object]:
    """The commit message git am would make of the patch mail, plus the maintainer's Link: trailer."""
    from miner.bugs.commits import SUBJECT_PREFIX

    message = _sample_message(message_id)
    text = message.body.split("\n---\n", 1)[0].rstrip()
    subject = SUBJECT_PREFIX.sub("", message.subject)
    if link:
        text += f"\nLink: {link}"
    return f"{subject}\n\n{text}\n", message


def _git(repo: Path, *args: str, env: dict | None = None) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}).stdout


def _commit(repo: Path, message_id: str, link: str | None) -> str:
    text, mail = _commit_message(message_id, link)
    (repo / "msg").write_text(text)
    _git(repo, "commit", "-q", "--allow-empty", "-F", "msg", env={
        "GIT_AUTHOR_NAME": mail.from_name, "GIT_AUTHOR_EMAIL": mail.from_email, "GIT_AUTHOR_DATE": mail.date,
        "GIT_COMMITTER_NAME": "Maintainer", "GIT_COMMITTER_EMAIL": "maintainer@kernel.invalid",
        "GIT_COMMITTER_DATE": mail.date,
    })
    return _git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture()
def demo_copy(tmp_path):
    from demo_db import build_demo_db

    return build_demo_db(tmp_path / "demo.db", hostile=False)


@pytest.fixture()
def kernel_repo(tmp_path):
    repo = tmp_path / "linux"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "user.name", "t")
    _git(repo, "config", "user.email", "t@invalid")
    return repo


def _records(db: Path) -> dict[str, dict]:
    result = CliRunner().invoke(cli, ["bugs", "--db", str(db), "--format", "json"])
    assert result.exit_code == 0, result.output
    return {r["root_message_id"]: r for r in json.loads(result.output)}


def test_link_commits_fills_applied_by_link_and_by_subject_and_reads_new_commits_only(demo_copy, kernel_repo):
    aa = _commit(kernel_repo, AA_DEADLOCK, f"https://lore.kernel.org/r/{AA_DEADLOCK}")
    xarray = _commit(kernel_repo, XARRAY, "https://patch.msgid.link/" + XARRAY.replace("@", "%40"))
    padata = _commit(kernel_repo, PADATA, None)  # applied without a Link: (2019): matched by subject and author
    _git(kernel_repo, "tag", "v6.10-rc4")
    runner = CliRunner()
    first = runner.invoke(cli, ["link-commits", "--repo", str(kernel_repo), "--db", str(demo_copy)])
    assert first.exit_code == 0, first.output
    assert "read 3 commits" in first.output and "2 matched by Link:/Message-ID:, 1 by subject" in first.output

    records = _records(demo_copy)
    [applied] = records[AA_DEADLOCK]["applied"]
    assert applied == {"commit": aa, "source": "git", "match": "link", "message_id": AA_DEADLOCK,
                       "date": "2024-06-07T11:03:13Z", "release": "v6.10-rc4"}
    assert records[XARRAY]["applied"][0]["commit"] == xarray
    assert records[PADATA]["applied"][0]["commit"] == padata
    assert records[PADATA]["applied"][0]["match"] == "subject"  # the weaker match, said so
    with open_store(demo_copy, create=False) as store:
        statuses = dict(store.conn.execute("SELECT root_message_id, fix_status FROM bugs"))
        assert statuses[AA_DEADLOCK] == "applied"

    # a maintainer applies one more patch (with a lore.kernel.org/<list>/ link); the next run reads it alone
    wait_on_bit = _commit(kernel_repo, WAIT_ON_BIT, f"https://lore.kernel.org/linux-arch/{WAIT_ON_BIT}/")
    second = runner.invoke(cli, ["link-commits", "--repo", str(kernel_repo), "--db", str(demo_copy)])
    assert second.exit_code == 0, second.output
    assert "read 1 commits" in second.output and "1 matched by Link:" in second.output
    records = _records(demo_copy)
    assert records[WAIT_ON_BIT]["applied"][0]["commit"] == wait_on_bit
    assert "release" not in records[WAIT_ON_BIT]["applied"][0]  # no tag contains it yet
    assert records[AA_DEADLOCK]["applied"][0]["commit"] == aa  # earlier links stay

    third = runner.invoke(cli, ["link-commits", "--repo", str(kernel_repo), "--db", str(demo_copy)])
    assert "read 0 commits" in third.output

    # classify rebuilds the records from the stored links: link-commits' results stay
    assert runner.invoke(cli, ["classify", "--db", str(demo_copy), "--force", "--quiet"]).exit_code == 0
    assert _records(demo_copy)[PADATA]["applied"][0]["commit"] == padata


def test_a_commit_by_someone_else_or_long_after_the_thread_is_not_matched_by_subject(demo_copy, kernel_repo):
    text, mail = _commit_message(PADATA, None)
    (kernel_repo / "msg").write_text(text)
    _git(kernel_repo, "commit", "-q", "--allow-empty", "-F", "msg", env={
        "GIT_AUTHOR_NAME": "Someone Else", "GIT_AUTHOR_EMAIL": "else@invalid", "GIT_AUTHOR_DATE": mail.date})
    _git(kernel_repo, "commit", "-q", "--allow-empty", "-F", "msg", env={
        "GIT_AUTHOR_NAME": mail.from_name, "GIT_AUTHOR_EMAIL": mail.from_email,
        "GIT_AUTHOR_DATE": "2023-01-01T00:00:00Z"})
    result = CliRunner().invoke(cli, ["link-commits", "--repo", str(kernel_repo), "--db", str(demo_copy)])
    assert "read 2 commits" in result.output and "0 by subject" in result.output


def test_link_commits_on_a_folder_that_is_no_repository_is_one_line(demo_copy, tmp_path):
    import sys

    folder = tmp_path / "empty"
    folder.mkdir()
    result = subprocess.run([sys.executable, "-m", "miner", "link-commits", "--repo", str(folder),
                             "--db", str(demo_copy)], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.startswith("miner: error: ") and len(result.stderr.strip().splitlines()) == 1


def test_git_log_records_are_split_whatever_the_chunk_size(kernel_repo):
    _commit(kernel_repo, AA_DEADLOCK, f"https://lore.kernel.org/r/{AA_DEADLOCK}")
    _commit(kernel_repo, PADATA, None)
    text = _git(kernel_repo, "log", f"--format={GIT_LOG_FORMAT}")
    whole = list(parse_git_log([text]))
    bytewise = list(parse_git_log(text[i:i + 7] for i in range(0, len(text), 7)))
    assert whole == bytewise and len(whole) == 2
    assert whole[0].subject == "padata: use smp_mb in padata_reorder to avoid orphaned padata jobs"
    assert whole[0].author_email == "daniel.m.jordan@oracle.com"
    assert whole[1].message.endswith(f"Link: https://lore.kernel.org/r/{AA_DEADLOCK}")
    assert subject_key("[PATCH v2 1/3] Foo: Bar.") == "foo: bar"
    assert release_of("v5.12-rc3~12^2~3") == "v5.12-rc3" and release_of("undefined") is None


def test_records_built_by_workers_are_the_records_built_here(demo_copy, kernel_repo, monkeypatch):
    """The parallel paths (classify's workers reading the outside evidence while others classify, and
    workers building the records) give the bugs table the one-process path gives, link-commits' links in it."""
    from miner.bugs import store as bugs_store
    from miner.classify import store as classify_store

    _commit(kernel_repo, AA_DEADLOCK, f"https://lore.kernel.org/r/{AA_DEADLOCK}")
    _commit(kernel_repo, PADATA, None)
    assert CliRunner().invoke(cli, ["link-commits", "--repo", str(kernel_repo), "--db", str(demo_copy)]).exit_code == 0

    def table() -> list[tuple]:
        columns = ", ".join(f'"{name}"' for name in bugs_store.BUG_COLUMNS if name != "built_at")
        with open_store(demo_copy, create=False) as store:
            return store.conn.execute(f"SELECT {columns} FROM bugs ORDER BY thread_id").fetchall()

    with open_store(demo_copy, create=False) as store:
        classify_store.classify_database(store, progress=False, force=True, workers=1)
    serial = table()
    applied = [row for row in serial if row[bugs_store.BUG_COLUMNS.index("fix_status")] == "applied"]
    assert len(serial) >= 10 and len(applied) >= 2  # the demo's labelled threads, two of them applied by git

    # the demo database is small: the thresholds that keep small jobs in one process are lowered
    monkeypatch.setattr(classify_store, "PARALLEL_THRESHOLD", 1)
    monkeypatch.setattr(classify_store, "CHUNK_THREADS", 5)
    monkeypatch.setattr(bugs_store, "PARALLEL_RECORDS", 1)
    monkeypatch.setattr(bugs_store, "RECORD_CHUNK", 3)
    with open_store(demo_copy, create=False) as store:
        summary = classify_store.classify_database(store, progress=False, force=True, workers=2)
    assert summary.threads > 2 * 5  # more than two chunks: the outside evidence and the chunks went to workers
    assert table() == serial
    with open_store(demo_copy, create=False) as store:
        bugs_store.rebuild_bugs(store, workers=2)
    assert table() == serial

    # a run that tags one changed thread: its record from the worker that tagged it, the others' built again
    with open_store(demo_copy, create=False) as store, store.conn:
        store.conn.execute("UPDATE threads SET revision = revision + 1 WHERE root_message_id = ?", (AA_DEADLOCK,))
    with open_store(demo_copy, create=False) as store:
        assert classify_store.classify_database(store, progress=False, workers=2).threads == 1
    assert table() == serial
