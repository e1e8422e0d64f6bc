"""miner export on the demo database: every format, the dataset card, lineage, pseudonyms, mbox with b4."""

from __future__ import annotations

import csv
import hashlib
import json
import mailbox
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from demo_db import build_demo_db

from miner.cli import cli
from miner.errors import MinerError
from miner.export import Selection, export_dataset
from miner.export.writers import mboxrd_entry, read_mboxrd
from miner.store import open_store

CGROUP_PATCH_ID = "20240607110313.2230669-1-chenridong@huawei.com"  # [PATCH -next] cgroup: Fix AA deadlock ...


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    return build_demo_db(tmp_path_factory.mktemp("export") / "demo.db", hostile=False)


@pytest.fixture(scope="module")
def deadlock_threads(demo_db) -> list[dict]:
    """What `miner threads --label deadlock` lists."""
    result = CliRunner().invoke(cli, ["threads", "--db", str(demo_db), "--label", "deadlock", "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture(scope="module")
def exports(demo_db, tmp_path_factory) -> dict[str, Path]:
    """`miner export --label deadlock` in every format."""
    out = tmp_path_factory.mktemp("exports")
    for fmt in ("csv", "jsonl", "parquet", "mbox"):
        result = CliRunner().invoke(cli, ["export", "--db", str(demo_db), "--format", fmt, "--label", "deadlock",
                                          "--out", str(out / fmt)])
        assert result.exit_code == 0, (fmt, result.output, result.exception)
    return {fmt: out / fmt for fmt in ("csv", "jsonl", "parquet", "mbox")}


def message_total(threads: list[dict]) -> int:
    return sum(thread["messages"] for thread in threads)


def test_each_format_has_as_many_messages_as_miner_threads_counts(exports, deadlock_threads):
    expected = message_total(deadlock_threads)
    assert expected > 50
    with open(exports["csv"] / "messages.csv", newline="", encoding="utf-8") as stream:
        assert len(list(csv.DictReader(stream))) == expected
    assert len((exports["jsonl"] / "messages.jsonl").read_text(encoding="utf-8").splitlines()) == expected
    import pyarrow.dataset as ds

    assert ds.dataset(exports["parquet"] / "messages", format="parquet", partitioning="hive").count_rows() == expected
    assert len(mailbox.mbox(str(exports["mbox"] / "messages.mbox"))) == expected
    for fmt, folder in exports.items():
        assert json.loads((folder / "lineage.json").read_text())["counts"]["messages"] == expected, fmt


def test_tables_hold_the_selected_threads_and_their_labels(exports, deadlock_threads, demo_db):
    wanted = {thread["thread_id"] for thread in deadlock_threads}
    threads = [json.loads(line) for line in (exports["jsonl"] / "threads.jsonl").read_text().splitlines()]
    assert {thread["thread_id"] for thread in threads} == wanted
    labels = [json.loads(line) for line in (exports["jsonl"] / "labels.jsonl").read_text().splitlines()]
    assert {row["thread_id"] for row in labels if row["label"] == "deadlock"} == wanted
    evidence = [json.loads(line) for line in (exports["jsonl"] / "evidence.jsonl").read_text().splitlines()]
    conn = sqlite3.connect(demo_db)
    marks = ",".join("?" * len(wanted))
    assert len(evidence) == conn.execute(f"SELECT count(*) FROM evidence WHERE thread_id IN ({marks})",
                                         sorted(wanted)).fetchone()[0]
    assert {row["message_id"] for row in evidence} <= {
        json.loads(line)["message_id"] for line in (exports["jsonl"] / "messages.jsonl").read_text().splitlines()}


def read_partitioned(folder: Path):
    """A table of a Parquet export as one Arrow table (pyarrow.dataset, Hive partitions)."""
    import pyarrow.dataset as ds

    return ds.dataset(folder, format="parquet", partitioning="hive").to_table()


def parquet_glob(folder: Path) -> str:
    return f"read_parquet('{folder}/*/*/*.parquet', hive_partitioning = true)"


def test_parquet_opens_in_pyarrow_and_duckdb_with_schema_types(exports, deadlock_threads):
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = exports["parquet"]
    messages = read_partitioned(folder / "messages")
    assert messages.schema.field("thread_id").type == pa.int64()
    assert messages.schema.field("body").type == pa.string()
    (first_file,) = sorted((folder / "messages").glob("list=cgroups.vger.kernel.org/year=2024/*.parquet"))
    assert b"description" in pq.read_schema(first_file).field("prose").metadata
    assert read_partitioned(folder / "labels").schema.field("score").type == pa.float64()
    conn = duckdb.connect()
    count = conn.execute(f"SELECT count(*) FROM {parquet_glob(folder / 'messages')}").fetchone()[0]
    assert count == message_total(deadlock_threads)
    per_label = dict(conn.execute(f"SELECT label, count(*) FROM {parquet_glob(folder / 'labels')} GROUP BY label"
                                  ).fetchall())
    assert per_label["deadlock"] == len(deadlock_threads)


def test_mbox_is_byte_exact_mboxrd_of_the_stored_raw_mail(exports, demo_db):
    data = (exports["mbox"] / "messages.mbox").read_bytes()
    conn = sqlite3.connect(demo_db)
    stored = {sha: mid for mid, sha in conn.execute("SELECT message_id, sha256 FROM raw_messages")}
    mails = list(read_mboxrd(data))
    assert len(mails) == len(mailbox.mbox(str(exports["mbox"] / "messages.mbox")))
    for mail in mails:
        # a stored mail without a final newline gets one in the mbox; nothing else changes
        digests = {hashlib.sha256(mail).hexdigest(), hashlib.sha256(mail[:-1]).hexdigest()}
        assert digests & stored.keys(), mail[:200]
    ids = [message["Message-ID"].strip("<>") for message in mailbox.mbox(str(exports["mbox"] / "messages.mbox"))]
    assert CGROUP_PATCH_ID in ids and len(set(ids)) == len(ids)


def test_mboxrd_quotes_from_lines_and_reads_back():
    raw = b"From: a@b\nSubject: x\n\nFrom here\n>From there\nend"
    entry = mboxrd_entry(raw)
    assert b"\n>From here\n>>From there\n" in entry
    assert list(read_mboxrd(entry + mboxrd_entry(raw))) == [raw + b"\n", raw + b"\n"]


@pytest.mark.skipif(not shutil.which("b4", path=str(Path(sys.executable).parent)), reason="b4 not installed")
def test_b4_am_takes_a_patch_from_the_exported_mbox(exports, tmp_path):
    b4 = Path(sys.executable).with_name("b4")
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_CACHE_HOME": str(tmp_path / "cache"), "GIT_CONFIG_NOSYSTEM": "1"}
    result = subprocess.run(
        [str(b4), "--offline-mode", "-c", "attestation-policy=off", "am", "-m", str(exports["mbox"] / "messages.mbox"),
         "-o", str(tmp_path / "out"), CGROUP_PATCH_ID],
        capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (mbx,) = (tmp_path / "out").glob("*.mbx")
    text = mbx.read_text(encoding="utf-8", errors="replace")
    assert "Subject: [PATCH] cgroup: Fix AA deadlock caused by cgroup_bpf_release" in text
    assert "diff --git" in text and "Signed-off-by: Chen Ridong" in text


def test_dataset_card_and_lineage(exports, deadlock_threads, demo_db):
    card = (exports["parquet"] / "README.md").read_text()
    assert "label = `deadlock`" in card
    assert f"| messages | {message_total(deadlock_threads)} |" in card
    assert f"| threads | {len(deadlock_threads)} |" in card
    assert "### `evidence`" in card and "| `quoted` | int64 | 1 if the line was quoted" in card  # Parquet types
    version = sqlite3.connect(demo_db).execute("SELECT DISTINCT classifier_version FROM labels").fetchone()[0]
    assert f"`{version}`" in card
    assert "data/sample" in card and "## How to cite" in card and "duckdb" in card.lower()
    lineage = json.loads((exports["parquet"] / "lineage.json").read_text())
    assert lineage["selection"] == {"label": "deadlock", "since": None, "until": None, "list_id": None}
    assert lineage["classifier_versions"] == [version]
    assert lineage["ingest_runs"] and lineage["ingest_runs"][0]["status"] == "done"
    for entry in lineage["files"]:
        digest = hashlib.sha256((exports["parquet"] / entry["name"]).read_bytes()).hexdigest()
        assert digest == entry["sha256"]
    assert "mailbox" in (exports["mbox"] / "README.md").read_text()


def test_list_and_date_filters_match_miner_threads(demo_db, demo_store, tmp_path):
    summary = export_dataset(demo_store, tmp_path / "io", "jsonl", Selection(list_id="io-uring.vger.kernel.org"))
    lists = [json.loads(line)["lists"] for line in (tmp_path / "io" / "threads.jsonl").read_text().splitlines()]
    assert lists and all("io-uring.vger.kernel.org" in json.loads(value) for value in lists)
    assert summary.counts["threads"] == len(lists)
    listed = CliRunner().invoke(cli, ["threads", "--db", str(demo_db), "--since", "2021-01-01", "--until",
                                      "2023-01-01", "--format", "json"])
    summary = export_dataset(demo_store, tmp_path / "dates", "csv", Selection(since="2021-01-01", until="2023-01-01"))
    assert summary.counts["messages"] == message_total(json.loads(listed.output)) > 0


def test_pseudonymize_replaces_people_with_stable_tokens(demo_db, tmp_path):
    # a real review of the sample (Tested-by of the cgroup AA-deadlock patch) in that thread's bug record,
    # so the reviewers' JSON is exported too
    db = tmp_path / "demo.db"
    db.write_bytes(demo_db.read_bytes())
    with sqlite3.connect(db) as conn:
        name, email, message_id, thread_id = conn.execute(
            "SELECT t.person_name, t.person_email, t.message_id, m.thread_id FROM trailers t JOIN messages m"
            " USING (message_id) WHERE t.name = 'Tested-by' AND t.person_email IS NOT NULL LIMIT 1").fetchone()
        conn.execute("UPDATE bugs SET reviewers = ? WHERE thread_id = (SELECT min(thread_id) FROM labels"
                     " WHERE label = 'deadlock')",
                     (json.dumps([{"trailer": "Tested-by", "name": name, "email": email, "message_id": message_id,
                                   "applies_to": message_id, "series": False}]),))
    demo_db = db
    selection = Selection(label="deadlock")
    with open_store(db, create=False) as store:
        export_dataset(store, tmp_path / "a", "jsonl", selection, pseudonymize=True, salt="s1")
        export_dataset(store, tmp_path / "b", "jsonl", selection, pseudonymize=True, salt="s1")
        export_dataset(store, tmp_path / "c", "jsonl", selection, pseudonymize=True, salt="s2")
    messages = [json.loads(line) for line in (tmp_path / "a" / "messages.jsonl").read_text().splitlines()]
    senders = sqlite3.connect(demo_db).execute(
        "SELECT DISTINCT from_email, from_name FROM messages WHERE ghost = 0 AND thread_id IN"
        " (SELECT thread_id FROM labels WHERE label = 'deadlock')").fetchall()
    everything = "".join(path.read_text() for path in (tmp_path / "a").glob("*.jsonl"))
    assert len(senders) > 10
    for email, name in senders:
        assert not email or email not in everything, email
        if name and len(name) >= 4 and name != "syzbot":  # a bot's name is also a tool of the bug records
            assert name not in everything, name
    bugs = [json.loads(line) for line in (tmp_path / "a" / "bugs.jsonl").read_text().splitlines()]
    reviewers = [r for bug in bugs for r in json.loads(bug["reviewers"])]
    assert reviewers and all((r["email"] or "@pseudonym.invalid").endswith("@pseudonym.invalid")
                             and (r["name"] or "person-").startswith("person-") for r in reviewers)
    with_address = [m for m in messages if m["from_email"]]
    assert all(m["from_email"].endswith("@pseudonym.invalid") for m in with_address)
    assert all(m["from_email"].startswith(m["from_name"] + "@") for m in with_address)  # one token per person
    assert CGROUP_PATCH_ID not in everything  # its Message-ID holds the author's address
    ids = {m["message_id"] for m in messages}
    assert all(m["parent_id"] in ids or m["parent_id"] is None or m["parent_id"].startswith("msg-")
               for m in messages)
    evidence = [json.loads(line) for line in (tmp_path / "a" / "evidence.jsonl").read_text().splitlines()]
    assert {e["message_id"] for e in evidence} <= ids  # the tables still join
    assert (tmp_path / "a" / "messages.jsonl").read_bytes() == (tmp_path / "b" / "messages.jsonl").read_bytes()
    assert (tmp_path / "a" / "messages.jsonl").read_bytes() != (tmp_path / "c" / "messages.jsonl").read_bytes()
    assert "Pseudonymized" in (tmp_path / "a" / "README.md").read_text()


def test_pseudonymized_mbox_is_refused_with_a_clear_message(demo_store, tmp_path):
    with pytest.raises(MinerError, match="--pseudonymize: not possible with --format mbox"):
        export_dataset(demo_store, tmp_path / "m", "mbox", pseudonymize=True)
    assert not (tmp_path / "m").exists()


def folder_snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of a folder (relative name -> bytes)."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_a_non_empty_folder_is_refused_without_force_and_replaced_wholly_with_it(demo_db, tmp_path):
    out = tmp_path / "export"
    runner = CliRunner()
    first = runner.invoke(cli, ["export", "--db", str(demo_db), "--format", "jsonl", "--out", str(out)])
    assert first.exit_code == 0, first.output
    before = folder_snapshot(out)
    assert set(before) == {"threads.jsonl", "messages.jsonl", "labels.jsonl", "evidence.jsonl", "bugs.jsonl",
                           "README.md", "lineage.json"}
    refused = runner.invoke(cli, ["export", "--db", str(demo_db), "--format", "csv", "--out", str(out)])
    assert isinstance(refused.exception, MinerError)
    assert str(refused.exception).startswith(f"{out}: folder is not empty (7 entries: README.md, bugs.jsonl,")
    assert "--force" in str(refused.exception) and "\n" not in str(refused.exception)
    assert folder_snapshot(out) == before
    forced = runner.invoke(cli, ["export", "--db", str(demo_db), "--format", "csv", "--out", str(out), "--force"])
    assert forced.exit_code == 0, (forced.output, forced.exception)
    assert {path.name for path in out.iterdir()} == {"threads.csv", "messages.csv", "labels.csv", "evidence.csv",
                                                     "bugs.csv", "README.md", "lineage.json"}
    assert "csv" in json.loads((out / "lineage.json").read_text())["format"]
    assert [path.name for path in tmp_path.iterdir()] == ["export"]  # no hidden partial or old folder is left


def test_an_empty_existing_folder_is_filled_without_force(demo_store, tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    summary = export_dataset(demo_store, out, "csv", Selection(label="race"))
    assert summary.out_dir == out and (out / "messages.csv").is_file() and (out / "README.md").is_file()


def test_force_refuses_a_folder_holding_the_database(demo_db, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    db = folder / "lkml.db"
    shutil.copyfile(demo_db, db)
    with pytest.raises(MinerError, match="holds the database"), open_store(db, create=False) as store:
        export_dataset(store, folder, "csv", force=True)
    assert db.stat().st_size == demo_db.stat().st_size


def test_an_export_killed_while_replacing_an_earlier_one_leaves_the_earlier_one_whole(demo_db, demo_store, tmp_path):
    out = tmp_path / "export"
    export_dataset(demo_store, out, "jsonl")
    before = folder_snapshot(out)
    # kill -9 the export when every data file is written, just before the dataset card
    script = (
        "import os, signal, sys\n"
        "import miner.export as export\n"
        "export.write_card = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)\n"
        "from miner.store import open_store\n"
        "export.export_dataset(open_store(sys.argv[1], create=False), sys.argv[2], 'csv', force=True)\n"
    )
    killed = subprocess.run([sys.executable, "-c", script, str(demo_db), str(out)], capture_output=True, timeout=120)
    assert killed.returncode == -9, killed.stderr
    assert folder_snapshot(out) == before
    partial = [path for path in tmp_path.iterdir() if path.name.startswith(".export.partial-")]
    assert len(partial) == 1 and (partial[0] / "messages.csv").is_file()  # the new files never reached out/
    export_dataset(demo_store, out, "csv", force=True)  # the next export clears the leftover
    assert [path.name for path in tmp_path.iterdir()] == ["export"]
    assert (out / "messages.csv").is_file() and not (out / "messages.jsonl").exists()


def test_parquet_columns_have_real_types_and_the_card_states_them(exports, demo_db):
    import duckdb
    import pyarrow as pa

    folder = exports["parquet"]
    threads = read_partitioned(folder / "threads")
    assert threads.schema.field("labels").type == pa.list_(pa.string())
    assert threads.schema.field("lists").type == pa.list_(pa.string())
    assert threads.schema.field("first_date").type == pa.timestamp("ms", tz="UTC")
    assert threads.schema.field("message_count").type == pa.int64()
    messages = read_partitioned(folder / "messages")
    assert messages.schema.field("date").type == pa.timestamp("ms", tz="UTC")
    assert messages.schema.field("references").type == pa.list_(pa.string())
    stored = dict(sqlite3.connect(demo_db).execute("SELECT thread_id, first_date FROM threads"))
    for row in threads.select(["thread_id", "first_date", "labels"]).to_pylist():
        assert row["first_date"].strftime("%Y-%m-%dT%H:%M:%SZ") == stored[row["thread_id"]]
        assert all(label in ("deadlock", "race", "ordering") for label in row["labels"])
    conn = duckdb.connect()
    deadlock = conn.execute(f"SELECT count(*) FROM {parquet_glob(folder / 'threads')}"
                            " WHERE list_contains(labels, 'deadlock')").fetchone()[0]
    assert deadlock > 0 and deadlock == sum("deadlock" in row["labels"] for row in threads.to_pylist())
    assert conn.execute(f"SELECT typeof(first_date) FROM {parquet_glob(folder / 'threads')} LIMIT 1"
                        ).fetchone()[0] == "TIMESTAMP WITH TIME ZONE"
    card = (folder / "README.md").read_text()
    assert "| `labels` | list<string> |" in card and "| `first_date` | timestamp[ms, UTC] |" in card
    assert "| `message_count` | int64 |" in card


# --- Hive-partitioned Parquet (list=<list-id>/year=<yyyy>/part-<i>.parquet) ---

PART_FILE = re.compile(r"^(threads|messages|labels|evidence|bugs)/list=[^/]+/year=(\d{4}|__HIVE_DEFAULT_PARTITION__)"
                       r"/part-\d+\.parquet$")


def earliest_message_home(conn: sqlite3.Connection) -> dict[int, tuple[str | None, int | None]]:
    """thread_id -> (list_id, year) of its earliest real message, read from SQLite message by message."""
    home: dict[int, tuple[str | None, int | None]] = {}
    for thread_id, list_id, date in conn.execute(
            "SELECT thread_id, list_id, date FROM messages WHERE ghost = 0 ORDER BY thread_id, date, rowid"):
        home.setdefault(thread_id, (list_id, int(date[:4]) if date else None))
    return home


@pytest.fixture(scope="module")
def full_parquet(demo_db, tmp_path_factory) -> Path:
    """`miner export --format parquet` of the whole demo database."""
    out = tmp_path_factory.mktemp("hive") / "all"
    result = CliRunner().invoke(cli, ["export", "--db", str(demo_db), "--format", "parquet", "--out", str(out)])
    assert result.exit_code == 0, (result.output, result.exception)
    return out


def test_duckdb_reads_the_hive_partitions_with_the_databases_counts_per_list_and_year(full_parquet, demo_db):
    import duckdb

    sqlite = sqlite3.connect(demo_db)
    expected = {(list_id, int(year)): count for list_id, year, count in sqlite.execute(
        "SELECT list_id, substr(date, 1, 4), count(*) FROM messages WHERE ghost = 0 GROUP BY 1, 2")}
    assert len({list_id for list_id, _ in expected}) >= 5 and len({year for _, year in expected}) >= 8
    assert any(list_id is None for list_id, _ in expected)  # 10 sample mails carry no List-Id
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    messages = parquet_glob(full_parquet / "messages")
    found = {(list_id, year): count for list_id, year, count in conn.execute(
        f"SELECT list, year, count(*) FROM {messages} GROUP BY list, year").fetchall()}
    assert found == expected
    # the keys read from the path are the row's own list and year
    assert conn.execute(f"SELECT count(*) FROM {messages} WHERE list IS DISTINCT FROM list_id"
                        " OR year <> year(date)").fetchone()[0] == 0
    assert conn.execute(f"SELECT typeof(year), typeof(list) FROM {messages} LIMIT 1").fetchone() == ("BIGINT",
                                                                                                    "VARCHAR")
    # threads under their earliest message's list and year; their labels, evidence and bug records beside them
    home = earliest_message_home(sqlite)
    threads = parquet_glob(full_parquet / "threads")
    rows = conn.execute(f"SELECT thread_id, list, year FROM {threads}").fetchall()
    assert len(rows) == len(home) and {row[0]: (row[1], row[2]) for row in rows} == home
    for table in ("labels", "evidence", "bugs"):
        total = sqlite.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        assert total > 0
        assert conn.execute(f"SELECT count(*) FROM {parquet_glob(full_parquet / table)}").fetchone()[0] == total
        misplaced = conn.execute(
            f"SELECT count(*) FROM {parquet_glob(full_parquet / table)} x JOIN {threads} t USING (thread_id)"
            " WHERE x.list IS DISTINCT FROM t.list OR x.year IS DISTINCT FROM t.year").fetchone()[0]
        assert misplaced == 0, table
    per_label = dict(conn.execute(f"SELECT label, count(*) FROM {parquet_glob(full_parquet / 'labels')}"
                                  " GROUP BY label").fetchall())
    assert per_label == dict(sqlite.execute("SELECT label, count(*) FROM labels GROUP BY label").fetchall())


def test_the_export_folder_is_hive_layout_and_lineage_lists_every_file(full_parquet, demo_db):
    files = sorted(str(path.relative_to(full_parquet)) for path in full_parquet.rglob("*.parquet"))
    assert files and all(PART_FILE.match(name) for name in files), files[:5]
    assert "messages/list=__HIVE_DEFAULT_PARTITION__/year=2021/part-0.parquet" in files  # NULL List-Id
    assert "messages/list=linux-arch.vger.kernel.org/year=2019/part-0.parquet" in files
    lineage = json.loads((full_parquet / "lineage.json").read_text())
    assert sorted(entry["name"] for entry in lineage["files"]) == files
    messages = sqlite3.connect(demo_db).execute("SELECT count(*) FROM messages WHERE ghost = 0").fetchone()[0]
    assert sum(e["rows"] for e in lineage["files"] if e["table"] == "messages") == messages
    assert lineage["counts"]["messages"] == messages
    card = (full_parquet / "README.md").read_text()
    assert "## Layout" in card and "TABLE/list=<list-id>/year=<yyyy>/part-<i>.parquet" in card
    partitions = {name.rsplit("/", 1)[0] for name in files if name.startswith("messages/")}
    assert f"| `messages/` | {len(partitions)} | " in card
    assert "hive_partitioning = true" in card and "earliest real message" in card
    assert not any(path.name.startswith(".") for path in full_parquet.parent.iterdir())  # staged, renamed in


def test_pyarrow_dataset_reads_one_partition_and_keeps_the_types(full_parquet, demo_db):
    import pyarrow as pa
    import pyarrow.dataset as ds

    keys = ds.partitioning(pa.schema([("list", pa.string()), ("year", pa.int64())]), flavor="hive")
    messages = ds.dataset(full_parquet / "messages", format="parquet", partitioning=keys)
    wanted = (ds.field("list") == "linux-arch.vger.kernel.org") & (ds.field("year") == 2022)
    assert [Path(f.path).parent.name for f in messages.get_fragments(filter=wanted)] == ["year=2022"]
    table = messages.to_table(filter=wanted)
    stored = sqlite3.connect(demo_db).execute(
        "SELECT message_id FROM messages WHERE ghost = 0 AND list_id = 'linux-arch.vger.kernel.org'"
        " AND date LIKE '2022-%' ORDER BY thread_id, date, rowid").fetchall()
    assert table.column("message_id").to_pylist() == [row[0] for row in stored] and len(stored) == 30
    assert table.schema.field("references").type == pa.list_(pa.string())
    assert table.schema.field("date").type == pa.timestamp("ms", tz="UTC")
    assert table.schema.field("year").type == pa.int64()
    threads = ds.dataset(full_parquet / "threads", format="parquet", partitioning=keys).to_table()
    stored_years = dict(sqlite3.connect(demo_db).execute("SELECT thread_id, year FROM threads"))
    assert all(stored_years[row["thread_id"]] == row["year"]  # threads.year is the partition key
               for row in threads.select(["thread_id", "year"]).to_pylist())


def test_a_pseudonymized_parquet_export_keeps_the_partitions_and_hides_senders(demo_store, tmp_path):
    summary = export_dataset(demo_store, tmp_path / "p", "parquet", Selection(label="deadlock"), pseudonymize=True,
                             salt="s1")
    messages = read_partitioned(tmp_path / "p" / "messages").to_pylist()
    assert len(messages) == summary.counts["messages"] > 50
    assert all(m["from_email"] is None or m["from_email"].endswith("@pseudonym.invalid") for m in messages)
    assert all(m["list"] == m["list_id"] for m in messages)  # list ids are not personal: kept, and the keys


def test_a_thread_cross_posted_to_two_lists_is_filed_once_under_its_earliest_message(tmp_path):
    """Two real patch series of both bulk epochs whose patches went to linux-btrfs or to virtualization.

    Every message of the AUTOSEL 5.2 series (first patch on linux-btrfs) and of the compat_ioctl v5
    series (first patch on virtualization) refers to its cover letter, which neither archive holds.
    """
    from miner.ingest import ingest_paths
    from miner.sources.publicinbox import read_epoch
    from miner.store import open_store

    from conftest import SHARED, need_shared

    covers = {b"20190726133936.11177-1-sashal@kernel.org": "linux-btrfs.vger.kernel.org",
              b"20190730192552.4014288-1-arnd@arndb.de": "virtualization.lists.linux-foundation.org"}
    mails = []
    for name in ("linux-btrfs-0-first20k", "virtualization-0-first15k"):
        epoch = tmp_path / f"{name}.git"
        bundle = need_shared(SHARED / "corpus" / "bulk" / f"{name}.bundle")
        subprocess.run(["git", "clone", "-q", "--bare", str(bundle), str(epoch)], check=True)
        for mail in read_epoch(epoch):
            head = getattr(mail, "raw", b"").partition(b"\n\n")[0]
            if any(b"<" + cover + b">" in head for cover in covers):
                mails.append(mail.raw)
    (tmp_path / "cross.mbox").write_bytes(b"".join(mboxrd_entry(raw) for raw in mails))
    db = tmp_path / "cross.db"
    with open_store(db) as store:
        assert ingest_paths(store, [tmp_path / "cross.mbox"], progress=False, workers=1).rejected == 0
        export_dataset(store, tmp_path / "out", "parquet")
    home = earliest_message_home(sqlite3.connect(db))
    threads = read_partitioned(tmp_path / "out" / "threads").to_pylist()
    assert {t["thread_id"]: (t["list"], t["year"]) for t in threads} == home
    by_root = {t["root_message_id"].encode(): t for t in threads}
    assert {cover: by_root[cover]["list"] for cover in covers} == covers  # filed once, under the first message
    assert all(len(by_root[cover]["lists"]) == 2 for cover in covers)
    messages = read_partitioned(tmp_path / "out" / "messages").to_pylist()
    for thread in by_root.values():
        mine = [m for m in messages if m["thread_id"] == thread["thread_id"]]
        assert {m["list"] for m in mine} == set(thread["lists"])  # each message under its own list
        assert len(mine) == thread["message_count"]


def test_partition_folders_are_escaped_as_pyarrow_and_duckdb_read_them(tmp_path):
    import duckdb

    from miner.export.writers import write_parquet_dataset

    odd = "list with/slash=and%percent"  # a List-Id is free text; the path must still read back as written
    columns = ["thread_id", "label", "score", "classifier_version"]
    rows = [(odd, 2019, 1, "race", 0.5, "v"), (odd, 2019, 2, "race", 0.7, "v"), (None, None, 3, "deadlock", 0.9, "v")]
    parts = write_parquet_dataset(tmp_path / "labels", columns, rows, "labels")
    assert parts == [("labels/list=list%20with%2Fslash%3Dand%25percent/year=2019/part-0.parquet", 2),
                     ("labels/list=__HIVE_DEFAULT_PARTITION__/year=__HIVE_DEFAULT_PARTITION__/part-0.parquet", 1)]
    back = sorted((row["thread_id"], row["list"], row["year"])
                  for row in read_partitioned(tmp_path / "labels").to_pylist())
    assert back == [(1, odd, 2019), (2, odd, 2019), (3, None, None)]
    assert sorted(duckdb.connect().execute(f"SELECT thread_id, list, year FROM {parquet_glob(tmp_path / 'labels')}"
                                           ).fetchall()) == back


def test_a_partition_met_twice_gets_a_second_file_instead_of_overwriting_the_first(tmp_path):
    from miner.export.writers import write_parquet_dataset

    columns = ["thread_id", "label", "score", "classifier_version"]
    rows = [("a", 2020, 1, "race", 0.5, "v"), ("b", 2020, 2, "race", 0.5, "v"), ("a", 2020, 3, "race", 0.5, "v")]
    parts = write_parquet_dataset(tmp_path / "labels", columns, rows, "labels")
    assert parts == [("labels/list=a/year=2020/part-0.parquet", 1), ("labels/list=b/year=2020/part-0.parquet", 1),
                     ("labels/list=a/year=2020/part-1.parquet", 1)]
    assert sorted(read_partitioned(tmp_path / "labels").column("thread_id").to_pylist()) == [1, 2, 3]


def test_parquet_messages_come_in_partition_then_thread_order_whole_in_small_reads_and_batches(
        demo_db, tmp_path, monkeypatch):
    """The messages are sorted by rowid and read a few at a time, and converted in batches bounded by their
    text: each file holds, row group by row group, what one ORDER BY of the whole rows gives, bodies included."""
    from urllib.parse import unquote

    import pyarrow.parquet as pq

    import miner.export as export
    import miner.export.writers as writers
    from miner.textstore import register_text_functions

    monkeypatch.setattr(export, "ROWS_READ_AT_ONCE", 7)
    monkeypatch.setattr(writers, "PARQUET_BATCH_CHARACTERS", 20_000)  # a few messages a row group
    out = tmp_path / "parquet"
    result = CliRunner().invoke(cli, ["export", "--db", str(demo_db), "--format", "parquet", "--out", str(out)])
    assert result.exit_code == 0, (result.output, result.exception)
    conn = sqlite3.connect(demo_db)
    register_text_functions(conn)
    expected = [(list_id, int(year), message_id, body) for list_id, year, message_id, body in conn.execute(
        "SELECT coalesce(list_id, ''), substr(date, 1, 4), message_id, body FROM messages WHERE ghost = 0"
        " ORDER BY list_id, CAST(substr(date, 1, 4) AS INTEGER), thread_id, date, rowid")]
    files = sorted((out / "messages").glob("*/*/*.parquet"),
                   key=lambda path: (path.parts[-3] != f"list={writers.HIVE_NULL}", path.parts[-3:]))
    read, row_groups = [], 0
    for path in files:
        list_id = path.parts[-3].removeprefix("list=").replace(writers.HIVE_NULL, "")
        year = int(path.parts[-2].removeprefix("year="))
        table = pq.read_table(path, columns=["message_id", "body"])
        row_groups += pq.ParquetFile(path).num_row_groups
        read += [(unquote(list_id), year, row["message_id"], row["body"]) for row in table.to_pylist()]
    assert read == expected
    assert row_groups > len(files) * 2  # the text bound cut the batches


def test_an_mbox_export_meeting_a_message_without_raw_mail_fails_and_leaves_the_earlier_export(demo_db, tmp_path):
    """The mbox is written mail by mail, never held whole: a message found without its raw mail halfway
    stops the export with a one-line error, and the folder keeps the export it held."""
    from miner.textstore import register_check_stubs

    db = tmp_path / "copy.db"
    shutil.copy(demo_db, db)
    out = tmp_path / "export"
    assert CliRunner().invoke(cli, ["export", "--db", str(db), "--format", "mbox", "--out", str(out)]).exit_code == 0
    before = folder_snapshot(out)
    with sqlite3.connect(db) as conn:  # the last message the mbox would write loses its raw mail
        register_check_stubs(conn)  # an UPDATE computes the virtual body and prose columns
        (message_id,) = conn.execute("SELECT message_id FROM messages WHERE ghost = 0"
                                     " ORDER BY thread_id DESC, date DESC, rowid DESC LIMIT 1").fetchone()
        conn.execute("UPDATE messages SET raw_block = NULL WHERE message_id = ?", (message_id,))
    result = subprocess.run([sys.executable, "-m", "miner", "export", "--db", str(db), "--format", "mbox",
                             "--out", str(out), "--force"], capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stderr) == (
        1, f"miner: error: {message_id}: no raw mail stored, cannot write a byte-exact mbox\n")
    assert folder_snapshot(out) == before
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".export")] == []
