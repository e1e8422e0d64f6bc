"""`miner ingest` end to end on real mail: formats, counts from the corpus manifest, rejects, resume."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from miner.cli import cli
from miner.sources import detect_format
from miner.sources.mbox import read_mbox
from miner.textstore import register_text_functions

from conftest import FIXTURES, SAMPLE, SHARED, need_shared
from epochs import make_epoch, replicated_sample, write_mbox
from interrupt import FIRST_BATCH_SECONDS, default_sigint, signal_after_rows, wait_for_rows
from miner.parse import parse_message

MANIFEST_ROW = re.compile(r"^\| `mail/(linux-mailinglist-archives\.[\w-]+)/([\w.-]+)/` \| .*? \| (\d+) \| (yes|no) \|")
IO_URING = SAMPLE / "mail" / "io-uring" / "syzbot-possible-deadlock-in-io_sq_thread_finish.mbox"


def manifest_threads():
    """(list folder, thread folder, messages, root present) of every thread the corpus manifest lists."""
    manifest = SHARED / "corpus" / "MANIFEST.md"
    if not manifest.exists():
        manifest = FIXTURES / "corpus-MANIFEST.md"
    rows = []
    for line in manifest.read_text().splitlines():
        match = MANIFEST_ROW.match(line)
        if match:
            rows.append((match.group(1), match.group(2), int(match.group(3)), match.group(4) == "yes"))
    return rows


def thread_mbox(list_folder: str, slug: str):
    shared = SHARED / "corpus" / "mail" / list_folder / slug / "thread.mbox"
    if shared.exists():
        return shared
    sample = SAMPLE / "mail" / list_folder.removeprefix("linux-mailinglist-archives.") / f"{slug}.mbox"
    return sample if sample.exists() else None


def test_manifest_lists_the_corpus_threads():
    rows = manifest_threads()
    assert len(rows) == 36
    assert sum(1 for row in rows if not row[3]) == 2


@pytest.mark.parametrize("list_folder, slug, messages, root_present", manifest_threads(),
                         ids=lambda value: value if isinstance(value, str) else None)
def test_thread_folders_match_the_manifest(tmp_path, list_folder, slug, messages, root_present):
    path = thread_mbox(list_folder, slug)
    if path is None:
        pytest.skip(f"{list_folder}/{slug} is only in ../shared, which is not here")
    from miner.ingest import ingest_paths
    from miner.store import open_store

    store = open_store(tmp_path / "thread.db")
    summary = ingest_paths(store, [path], progress=False, workers=1)
    assert summary.read == messages and summary.rejected == 0
    threads = store.conn.execute(
        "SELECT t.message_count, m.ghost FROM threads t JOIN messages m ON m.message_id = t.root_message_id"
        " WHERE t.message_count > 0").fetchall()
    assert len(threads) == 1, f"{slug}: {threads}"
    assert threads[0][0] == messages
    assert threads[0][1] == (0 if root_present else 1)


def test_maildir_and_eml_and_digest(tmp_path, store, ingest):
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for index, mail in enumerate(read_mbox(IO_URING)):
        (maildir / ("cur" if index % 2 else "new") / f"1600000000.{index}.host:2,S").write_bytes(mail.raw)
    assert detect_format(maildir) == "maildir"
    summary = ingest(maildir)
    # new/ is read before cur/, so some replies come before their parents: their ghosts are
    # filled in later, and still counted new (the ghosts were this run's own)
    assert summary.read == 15 and (summary.new, summary.updated) == (15, 0)
    assert store.conn.execute("SELECT count(*) FROM messages WHERE ghost = 0").fetchone() == (15,)
    eml = FIXTURES / "mail" / "multipart-wait_on_bit-003.eml"
    assert detect_format(eml) == "eml"
    assert ingest(eml).new == 1


def test_a_vger_digest_gives_each_enclosed_message(store, ingest):
    digest = need_shared(SHARED / "corpus" / "mail" / "lkml-digests-EArakoni-OSH" / "digest-linux-kernel-issue-15397.eml")
    summary = ingest(digest)
    assert summary.read == 50  # a vger digest holds 50 messages, each stored on its own
    positions = store.conn.execute(
        "SELECT count(DISTINCT position) FROM provenance WHERE source_type='eml-digest'").fetchone()
    assert positions == (50,)


def test_public_inbox_epoch_is_read_incrementally_and_skips_commits_without_m(tmp_path, store, ingest):
    raws = [mail.raw for mail in read_mbox(IO_URING)]
    epoch = tmp_path / "inbox" / "git" / "0.git"
    epoch.parent.mkdir(parents=True)
    make_epoch(epoch, raws[:10], deletion_after=3)  # 10 messages and one deletion record
    assert detect_format(tmp_path / "inbox") == "public-inbox"
    first = ingest(tmp_path / "inbox")
    assert (first.read, first.new, first.skipped) == (10, 10, 1)
    provenance = store.conn.execute("SELECT DISTINCT source_type, length(position) FROM provenance").fetchall()
    assert provenance == [("public-inbox", 40)]  # the commit id
    make_epoch(epoch, raws[10:])
    second = ingest(epoch)
    assert (second.read, second.new, second.skipped) == (5, 5, 0)  # only the new commits are read
    assert ingest(epoch).read == 0


def test_an_epoch_is_read_by_blob_and_by_commit_alike(tmp_path):
    """git log --raw names the blob each commit adds at m, and cat-file reads it by that id; a commit that
    leaves m as its parent had it (the btrfs epoch's 750a4f4, a message delivered twice) or holds d
    instead names none and is read as commit:m, as every commit once was."""
    from miner.sources.publicinbox import new_commits, read_epoch

    raws = [mail.raw for mail in read_mbox(IO_URING)][:6]
    epoch = tmp_path / "0.git"
    commits = make_epoch(epoch, raws[:3] + raws[2:], deletion_after=4)  # raws[2] twice in a row
    listed = new_commits(epoch, None)
    assert [commit for commit, _, _ in listed] == commits
    for commit, _, blob in listed:
        shown = subprocess.run(["git", f"--git-dir={epoch}", "rev-parse", "-q", "--verify", f"{commit}:m"],
                               capture_output=True, text=True).stdout.strip()
        assert blob == (shown or None) or (blob is None and commit in (commits[3], commits[5]))
    assert [blob is None for _, _, blob in listed] == [False, False, False, True, False, True, False, False]
    read = list(read_epoch(epoch))
    assert [getattr(item, "raw", None) for item in read] == [*raws[:3], raws[2], raws[3], None, *raws[4:]]
    assert read[5].commit == commits[5]  # the deletion record: Skipped


def test_genuinely_broken_input_is_rejected_with_a_reason_and_the_run_goes_on(tmp_path, store, ingest):
    mails = [mail.raw for mail in read_mbox(IO_URING)][:3]
    # the bot-challenge page lore serves instead of mail, saved as if it were an mbox member
    junk = (FIXTURES / "html" / "lore.kernel.org-anubis-challenge.html").read_bytes()
    mbox = tmp_path / "mixed.mbox"
    with open(mbox, "wb") as handle:
        for raw in [mails[0], junk, mails[1], mails[2]]:
            handle.write(b"From mboxrd@z Thu Jan  1 00:00:00 1970\n" + raw.rstrip(b"\n") + b"\n\n")
    summary = ingest(mbox)
    assert (summary.read, summary.new, summary.rejected) == (4, 3, 1)
    reason, location = store.conn.execute("SELECT reason, location FROM rejects").fetchone()
    assert "ParseError" in reason and location == str(mbox)
    assert ingest(mbox).rejected == 0  # already recorded: not counted twice


def test_cli_errors_are_one_line(tmp_path):
    missing = subprocess.run([sys.executable, "-m", "miner", "ingest", "--db", str(tmp_path / "x.db"),
                              str(tmp_path / "nowhere.mbox")], capture_output=True, text=True)
    assert missing.returncode == 1
    assert missing.stderr.strip() == f"miner: error: {tmp_path / 'nowhere.mbox'}: no such file or directory"
    assert not (tmp_path / "x.db").exists()
    unknown = tmp_path / "notes.pdf"
    unknown.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    result = subprocess.run([sys.executable, "-m", "miner", "ingest", "--db", str(tmp_path / "x.db"), str(unknown)],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "unknown format" in result.stderr


def test_sql_is_read_only(tmp_path, store, ingest):
    ingest(IO_URING)
    runner = CliRunner()
    db = str(store.path)
    ok = runner.invoke(cli, ["sql", "--db", db, "SELECT count(*) AS n FROM messages WHERE ghost = 0",
                             "--format", "csv"])
    assert ok.exit_code == 0 and ok.output.splitlines() == ["n", "15"]
    refused = subprocess.run([sys.executable, "-m", "miner", "sql", "--db", db, "DELETE FROM messages"],
                             capture_output=True, text=True)
    assert refused.returncode == 1 and "readonly" in refused.stderr.replace("read-only", "readonly")
    assert store.conn.execute("SELECT count(*) FROM messages WHERE ghost = 0").fetchone() == (15,)


def test_demo_builds_the_sample_database(tmp_path):
    result = subprocess.run([sys.executable, "-m", "miner", "demo", "--quiet", "--db", str(tmp_path / "demo.db")],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("173 messages read: 173 new, 0 updated")  # a first run: every message new
    assert "miner threads --db" in result.stdout
    labelled = subprocess.run([sys.executable, "-m", "miner", "threads", "--db", str(tmp_path / "demo.db"),
                               "--label", "deadlock", "--format", "json"], capture_output=True, text=True)
    assert '"deadlock"' in labelled.stdout


@pytest.mark.parametrize("kind", ["mbox", "public-inbox"])
def test_interrupted_ingest_resumes_to_the_same_result(tmp_path, kind):
    """Kill -9 in the middle of a real ingest, run it again: same messages as one clean run.

    For a public-inbox epoch (the path `scrape lore-git` takes after cloning) the second run
    starts after the last commit stored with the last complete batch.
    """
    raws = replicated_sample(25)  # 4,075 real messages: parsed by the default two worker processes
    source = write_mbox(tmp_path / "big.mbox", raws)
    if kind == "public-inbox":
        source = tmp_path / "0.git"
        make_epoch(source, raws)
    command = [sys.executable, "-m", "miner", "ingest", "--quiet", "--batch-size", "400"]
    clean = tmp_path / "clean.db"
    subprocess.run([*command, "--db", str(clean), str(source)], check=True, capture_output=True)
    killed = tmp_path / "killed.db"
    process = subprocess.Popen([*command, "--db", str(killed), str(source)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    signal_after_rows(process, killed)
    assert process.wait() == -9, "the ingest finished before it could be interrupted"
    with sqlite3.connect(killed) as conn:
        stored = conn.execute("SELECT count(*) FROM messages WHERE ghost = 0").fetchone()[0]
        status = conn.execute("SELECT status FROM ingest_runs").fetchone()[0]
    assert 0 < stored < len(raws) and status == "running"
    subprocess.run([*command, "--db", str(killed), str(source)], check=True, capture_output=True)

    def contents(path):
        with sqlite3.connect(path) as conn:
            register_text_functions(conn)  # messages.body is read through it
            return (
                conn.execute("SELECT message_id, ghost, subject, date, body FROM messages ORDER BY message_id").fetchall(),
                conn.execute("SELECT state FROM source_state").fetchall(),
                conn.execute("SELECT count(*) FROM threads WHERE message_count > 0").fetchone(),
                conn.execute("SELECT message_id, location, position FROM provenance ORDER BY 1, 2, 3").fetchall(),
                conn.execute("PRAGMA integrity_check").fetchone(),
            )

    assert contents(killed) == contents(clean)
    assert contents(clean)[4] == ("ok",)


@pytest.mark.parametrize("kind", ["mbox", "public-inbox"])
def test_ctrl_c_to_the_process_group_stops_workers_and_a_second_run_finishes(tmp_path, kind):
    """Ctrl-C as a terminal sends it (SIGINT to the whole group) with the default parser processes.

    Within a few seconds: one line on stderr, exit 130, no worker left, committed batches kept;
    the same command again finishes the job with every message.
    """
    import os
    import signal

    raws = replicated_sample(25)  # 4,075 real messages: the parallel path
    source = write_mbox(tmp_path / "big.mbox", raws) if kind == "mbox" else tmp_path / "0.git"
    if kind == "public-inbox":
        make_epoch(source, raws)
    db = tmp_path / "interrupted.db"
    command = [sys.executable, "-m", "miner", "ingest", "--quiet", "--batch-size", "100", "--db", str(db),
               str(source)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, preexec_fn=default_sigint)
    signal_after_rows(process, db, sig=signal.SIGINT, group=True)
    # a Ctrl-C during a batch's commit waits for the batch and its counts (ingest holds it there);
    # on a loaded 2-core machine that took over 10 s once: a minute still tells a hang from a wait
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert stderr.strip() == "miner: interrupted; run the same command again to resume"
    with pytest.raises(ProcessLookupError):  # nothing of the group is left running
        os.killpg(process.pid, 0)
    with sqlite3.connect(db) as conn:
        register_text_functions(conn)  # integrity_check computes the virtual columns body and prose
        assert conn.execute("SELECT status FROM ingest_runs").fetchone() == ("interrupted",)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert 0 < conn.execute("SELECT count(*) FROM messages WHERE ghost = 0").fetchone()[0] < len(raws)
    finished = subprocess.run(command, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    with sqlite3.connect(db) as conn:
        real = conn.execute("SELECT count(*) FROM messages WHERE ghost = 0").fetchone()[0]
    assert real == len({parse_message(raw).message_id for raw in raws})


def test_ctrl_c_at_any_moment_is_one_line_or_a_clean_finish(tmp_path):
    """Ctrl-C at a spread of moments, up to and past the end of a run: never a traceback, never a
    swallowed interrupt: exit 130 with one line, or exit 0 with the summary."""
    import os
    import signal

    source = write_mbox(tmp_path / "small.mbox", replicated_sample(6))
    outcomes = set()
    for attempt in range(8):
        db = tmp_path / f"run{attempt}.db"
        process = subprocess.Popen(
            [sys.executable, "-m", "miner", "ingest", "--quiet", "--batch-size", "50", "--db", str(db), str(source)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
            preexec_fn=default_sigint)
        wait_for_rows(process, db, seconds=FIRST_BATCH_SECONDS)  # its first batch is committed
        time.sleep(attempt * 0.08)
        try:
            os.killpg(process.pid, signal.SIGINT)
        except ProcessLookupError:
            pass  # it had finished
        stdout, stderr = process.communicate(timeout=10)
        assert "Traceback" not in stderr
        if process.returncode == 130:
            assert stderr.strip() == "miner: interrupted; run the same command again to resume"
        else:
            # 0, or killed by SIGINT itself (-2) when it came while Python was shutting down: either
            # way only after the whole job and its summary were done
            assert process.returncode in (0, -signal.SIGINT) and "messages read" in stdout, (
                process.returncode, stderr)
        outcomes.add(process.returncode)
    assert 130 in outcomes


def _duplicates(source) -> int:
    """How many messages of an mbox repeat a Message-ID seen earlier in it."""
    from miner.parse import parse_message

    ids = [parse_message(mail.raw).message_id for mail in read_mbox(source)]
    return len(ids) - len(set(ids))


def test_small_epoch_with_parser_processes_is_read_in_process(tmp_path, store, ingest):
    """Fewer commits than make a worker pool worth it: the commits are still read from git."""
    raws = [mail.raw for mail in read_mbox(IO_URING)]
    epoch = tmp_path / "0.git"
    make_epoch(epoch, raws)
    summary = ingest(epoch, workers=2)
    assert (summary.read, summary.new + summary.updated) == (15, 15)


def test_a_maildir_inside_a_plain_folder_is_read_once(tmp_path, store, ingest):
    """Found tried as a new user would: 4 messages gave "8 read: 4 new, 4 updated" and two
    provenance rows each, the walker reading cur/ and new/ files as .eml files too."""
    folder = tmp_path / "archive"
    maildir = folder / "lists" / "io-uring"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for index, mail in enumerate(list(read_mbox(IO_URING))[:4]):
        (maildir / ("cur" if index % 2 else "new") / f"17000000{index}.M{index}P1.host:2,S").write_bytes(mail.raw)
    (folder / "README").write_text("notes about this archive\n")
    summary = ingest(folder)
    assert summary.read == 4 and summary.new + summary.updated == 4  # (a reply before its parent fills a ghost)
    assert store.conn.execute("SELECT count(*), count(DISTINCT message_id) FROM provenance").fetchone() == (4, 4)
    assert {row[0] for row in store.conn.execute("SELECT source_type FROM provenance")} == {"maildir"}


def test_a_folder_holding_a_public_inbox_epoch_and_an_mbox_reads_both(tmp_path, store, ingest):
    """The README says folders are read recursively; an epoch inside one failed with
    "format 'public-inbox' is read by its own reader"."""
    raws = [mail.raw for mail in read_mbox(IO_URING)]
    folder = tmp_path / "mirror"
    make_epoch(folder / "io-uring" / "git" / "0.git", raws[:10])
    write_mbox(folder / "more.mbox", raws[10:])
    summary = ingest(folder)
    assert (summary.read, summary.new) == (15, 15)
    assert ingest(folder).read == 5  # the epoch resumes after its last commit; the mbox is read again


# -- progress: totals where they are known, one unit per bar --------------------------------------

BAR_FRAME = re.compile(r"(\d+)%\|")


def progress_frames(*args: str) -> tuple[list[str], str]:
    """The progress-bar frames ``miner ingest`` (with its bar) writes to stderr, in order, and its summary."""
    result = subprocess.run([sys.executable, "-m", "miner", "ingest", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return [frame for frame in result.stderr.replace("\r", "\n").splitlines() if frame.strip()], result.stdout


@pytest.mark.parametrize("compressed", [False, True])
def test_an_mbox_bar_counts_the_bytes_of_the_file_as_it_reads_them(tmp_path, compressed):
    import gzip

    from tqdm import tqdm

    raws = replicated_sample(12)  # 1,956 real messages, 15 MB
    mbox = write_mbox(tmp_path / "big.mbox", raws)
    if compressed:
        packed = tmp_path / "big.mbox.gz"
        packed.write_bytes(gzip.compress(mbox.read_bytes()))
        mbox.unlink()
        mbox = packed
    size = tqdm.format_sizeof(mbox.stat().st_size, divisor=1024)
    frames, summary = progress_frames("--db", str(tmp_path / "lkml.db"), "--workers", "1", str(mbox))
    bars = [frame for frame in frames if frame.startswith(mbox.name)]
    assert bars[-1].startswith(f"{mbox.name}: 100%") and f"| {size}/{size} [" in bars[-1] and "B/s" in bars[-1]
    percents = [int(BAR_FRAME.search(frame).group(1)) for frame in bars]
    assert any(0 < percent < 100 for percent in percents), bars  # it advanced while reading, not at the end
    assert percents == sorted(percents)
    assert not any(" msg" in frame for frame in frames)  # one unit per bar: no message bar beside it
    assert summary.startswith(f"{len(raws)} messages read: {len(raws)} new, 0 updated")


def test_an_epoch_bar_counts_its_commits(tmp_path):
    epoch = tmp_path / "0.git"
    commits = make_epoch(epoch, replicated_sample(1))
    frames, summary = progress_frames("--db", str(tmp_path / "lkml.db"), str(epoch))
    total = len(commits)
    assert f"{total}/{total}" in [frame for frame in frames if frame.startswith("ingest: 100%")][-1]
    assert not any("B/s" in frame for frame in frames) and summary.startswith(f"{total} messages read: {total} new")


def test_a_first_run_over_an_epoch_holding_a_message_twice_reports_no_update(tmp_path):
    # the btrfs epoch holds 21 messages in two commits each: on an empty database nothing was updated
    raws = replicated_sample(1)
    epoch = tmp_path / "0.git"
    make_epoch(epoch, raws + raws[:3])
    db = str(tmp_path / "lkml.db")
    first = subprocess.run([sys.executable, "-m", "miner", "ingest", "--quiet", "--db", db, str(epoch)],
                           capture_output=True, text=True)
    assert first.stdout.startswith(f"{len(raws) + 3} messages read: {len(raws)} new (+3 repeated copies),"
                                   " 0 updated, 0 unchanged"), first.stdout
    again = tmp_path / "again.mbox"
    write_mbox(again, raws[:2])  # the same messages from another file: stored before this run, now updated
    second = subprocess.run([sys.executable, "-m", "miner", "ingest", "--quiet", "--db", db, str(again)],
                            capture_output=True, text=True)
    assert second.stdout.startswith("2 messages read: 0 new, 2 updated, 0 unchanged"), second.stdout
