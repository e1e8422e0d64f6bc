"""The package as a user installs it: a wheel (not the checkout) and databases of earlier versions."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import sqlite_utils

from miner.schema import SCHEMA_VERSION

from conftest import ROOT

# The last commit of schema version 1 (before messages.notes): what a user's older database came from.
SCHEMA_1_COMMIT = "9bf0e41"
# The last commit of schema version 6 (each text stored in full): the layout schema 7 migrates.
SCHEMA_6_COMMIT = "7f6262d"


def run(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, check=True, **kwargs)


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory) -> Path:
    """lkml-miner built as a wheel and installed (without its dependencies, which this venv has) into a folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp / "dist"), str(ROOT))
    wheel = next((tmp / "dist").glob("lkml_miner-*.whl"))
    run(sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tmp / "site"), str(wheel))
    return tmp / "site"


def wheel_env(site: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(site)}


def test_the_wheel_ships_queries_sample_templates_and_py_typed(installed_wheel, tmp_path):
    package = installed_wheel / "miner"
    assert (package / "py.typed").exists()
    assert sorted(p.name for p in (package / "canned_queries").glob("*.sql")) == sorted(
        p.name for p in (ROOT / "queries").glob("*.sql"))
    assert (package / "sample" / "PROVENANCE.md").exists()
    where = run(sys.executable, "-c", "import miner; print(miner.__file__)", cwd=tmp_path,
                env=wheel_env(installed_wheel)).stdout
    assert where.startswith(str(installed_wheel))  # the installed copy runs, not the checkout


def test_an_installed_wheel_runs_demo_every_canned_query_and_serve(installed_wheel, tmp_path):
    env = wheel_env(installed_wheel)
    miner = [sys.executable, "-m", "miner"]
    db = tmp_path / "demo.db"
    run(*miner, "demo", "--quiet", "--db", str(db), cwd=tmp_path, env=env)
    listing = run(*miner, "query", "--db", str(db), cwd=tmp_path, env=env).stdout
    names = [p.stem for p in (ROOT / "queries").glob("*.sql")]
    assert all(name in listing for name in names)
    for name in names:
        params = ["--param", "q=deadlock"] if name == "search_messages" else []
        result = subprocess.run([*miner, "query", "--db", str(db), name, *params], cwd=tmp_path, env=env,
                                capture_output=True, text=True)
        assert result.returncode == 0, (name, result.stderr)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([*miner, "serve", "--db", str(db), "--port", str(port)], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/-/thread/000000000000430bf505bcef3b00@google.com",
                                              timeout=5).read().decode()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        assert "io_sq_thread_finish" in page
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/demo/search_messages?q=deadlock", timeout=5).status == 200
    finally:
        server.terminate()
        server.wait(timeout=10)


def old_code(tmp_path: Path, commit: str) -> Path:
    """The package and sample of an earlier commit, extracted with git archive (skips if not in history)."""
    old_tree = tmp_path / "old"
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "miner", "data/sample"],
                             capture_output=True)
    if archive.returncode != 0:
        pytest.skip(f"commit {commit} is not in this clone's history (a shallow clone?)")
    old_tree.mkdir()
    subprocess.run(["tar", "-x", "-C", str(old_tree)], input=archive.stdout, check=True)
    return old_tree


def test_a_database_of_schema_version_1_is_migrated_on_open(tmp_path):
    """A database made by the code of schema version 1 (built here from the git history)."""
    old_tree = old_code(tmp_path, SCHEMA_1_COMMIT)
    db = tmp_path / "v1.db"
    run(sys.executable, "-c", "import miner.store, sys; assert miner.store.__file__.startswith(sys.argv[1]);"
        " from miner.schema import SCHEMA_VERSION; assert SCHEMA_VERSION == 1", str(old_tree),
        cwd=old_tree, env={**os.environ, "PYTHONPATH": str(old_tree)})
    run(sys.executable, "-m", "miner", "demo", "--quiet", "--db", str(db), cwd=old_tree,
        env={**os.environ, "PYTHONPATH": str(old_tree)})
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("1",)
        before = conn.execute("SELECT count(*) FROM messages WHERE ghost=0").fetchone()[0]
    from miner.store import open_store
    with open_store(db) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert "ON DELETE CASCADE" in store._table_sql("labels")
        assert "ON DELETE CASCADE" in store._table_sql("bugs")
        assert "notes" in sqlite_utils.Database(store.conn)["messages"].columns_dict
        assert {"bugs", "commits", "commit_links"} <= set(sqlite_utils.Database(store.conn).table_names())
        assert {"notes", "date_precision"} <= set(sqlite_utils.Database(store.conn)["messages"].columns_dict)
        assert {"written_name", "kind", "applies_to", "applies_via", "copied"} <= set(sqlite_utils.Database(store.conn)["trailers"].columns_dict)
        assert store.conn.execute("SELECT count(*) FROM messages WHERE ghost=0").fetchone()[0] == before
        from miner.ingest import ingest_paths  # new mail in the old database: trailers say which patch they apply to
        ingest_paths(store, [ROOT / "tests" / "fixtures" / "mail" / "trailers" / "slub-sysfs-v2-series.mbox"],
                     progress=False, workers=1)
        assert store.conn.execute("SELECT count(*) FROM trailers WHERE applies_via='cover'").fetchone() == (4,)
    result = subprocess.run([sys.executable, "-m", "miner", "threads", "--db", str(db), "--label", "deadlock"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0 and "io_sq_thread_finish" in result.stdout
    # the bug records of a migrated database are built from its labels the first time they are asked for
    bugs = subprocess.run([sys.executable, "-m", "miner", "bugs", "--db", str(db), "--format", "json"],
                          capture_output=True, text=True, cwd=ROOT)
    assert bugs.returncode == 0 and "&sqd->lock" in bugs.stdout


def test_a_database_of_schema_version_6_gets_each_text_once_unchanged(tmp_path):
    """A database of the layout before schema 7 (body, prose and each raw mail stored in full), made
    by that code from the git history, is migrated on open: every text reads back the same, smaller."""
    import hashlib

    from miner.compress import decompress

    old_tree = old_code(tmp_path, SCHEMA_6_COMMIT)
    db = tmp_path / "v6.db"
    old_env = {**os.environ, "PYTHONPATH": str(old_tree)}
    run(sys.executable, "-c", "import miner.store, sys; assert miner.store.__file__.startswith(sys.argv[1]);"
        " from miner.schema import SCHEMA_VERSION; assert SCHEMA_VERSION == 6", str(old_tree), cwd=old_tree, env=old_env)
    run(sys.executable, "-m", "miner", "demo", "--quiet", "--db", str(db), cwd=old_tree, env=old_env)
    run(sys.executable, "-m", "miner", "ingest", "--quiet", "--db", str(db),
        str(ROOT / "tests" / "fixtures" / "mail" / "kcsan"), cwd=old_tree, env=old_env)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("6",)
        texts = conn.execute("SELECT message_id, body, prose FROM messages ORDER BY message_id").fetchall()
        raws = {message_id: decompress(raw) for message_id, raw in conn.execute("SELECT message_id, raw FROM raw_messages")}
        threads = conn.execute("SELECT * FROM threads ORDER BY thread_id").fetchall()
        search = conn.execute("SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'deadlock' ORDER BY rowid").fetchall()
        provenance = conn.execute("SELECT message_id, source_type, location, position FROM provenance ORDER BY 1, 2, 3, 4"
                                  ).fetchall()
    size_before = db.stat().st_size
    assert len(raws) > 200 and sum(1 for _, body, _ in texts if body) > 200
    from miner.store import open_store
    with open_store(db) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.conn.execute("SELECT message_id, body, prose FROM messages ORDER BY message_id").fetchall() == texts
        for message_id, raw in raws.items():
            assert store.raw_message(message_id) == raw, message_id
        assert dict(store.conn.execute("SELECT message_id, sha256 FROM raw_messages")) == {
            message_id: hashlib.sha256(raw).hexdigest() for message_id, raw in raws.items()}
        assert store.conn.execute("SELECT * FROM threads ORDER BY thread_id").fetchall() == threads
        assert store.conn.execute("SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'deadlock' ORDER BY rowid"
                                  ).fetchall() == search
        assert store.conn.execute("SELECT message_id, source_type, location, position FROM provenance"
                                  " ORDER BY 1, 2, 3, 4").fetchall() == provenance
        assert "WITHOUT ROWID" in store._table_sql("provenance")
        columns = {row[1] for row in store.conn.execute("PRAGMA table_xinfo(messages)")}
        assert {"body", "prose", "body_z", "prose_spans", "raw_block"} <= columns
        assert "body_before_7" not in columns
        assert store.conn.execute("SELECT count(*) FROM messages WHERE body_z IS NULL AND ghost = 0").fetchone()[0] > 200
    assert db.stat().st_size < size_before / 2  # VACUUM after the migration gave the room back
    # a migrated database takes new mail, and the commands read it
    result = subprocess.run([sys.executable, "-m", "miner", "show", "--db", str(db), "--body",
                             texts[0][0]], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    result = subprocess.run([sys.executable, "-m", "miner", "threads", "--db", str(db), "--search", "deadlock"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0 and "deadlock" in result.stdout.lower()


def test_a_database_of_a_newer_version_is_refused_in_one_line(tmp_path):
    from miner.store import open_store
    db = tmp_path / "new.db"
    open_store(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    result = subprocess.run([sys.executable, "-m", "miner", "threads", "--db", str(db)], capture_output=True,
                            text=True, cwd=ROOT)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"miner: error: {db}: made by a newer lkml-miner (schema version 99; this one reads up to {SCHEMA_VERSION}):"
        " upgrade it with 'pip install -U lkml-miner'"]
