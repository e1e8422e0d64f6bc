"""The schema description (miner/schema.py) and its generated documentation stay in step."""

from __future__ import annotations

import sqlite_utils

from miner.schema import TABLES, schema_markdown

from conftest import ROOT


def test_docs_schema_is_generated_from_miner_schema():
    assert (ROOT / "docs" / "schema.md").read_text() == schema_markdown(), (
        "docs/schema.md is stale: python -c \"from miner.schema import schema_markdown;"
        " open('docs/schema.md','w').write(schema_markdown())\"")


def test_database_has_every_described_table_and_column(store):
    for table in TABLES:
        columns = {row[1] for row in store.conn.execute(f'PRAGMA table_xinfo("{table.name}")')}  # virtual ones too
        assert columns == {column.name for column in table.columns}, table.name
    pragmas = dict(
        journal_mode=store.conn.execute("PRAGMA journal_mode").fetchone()[0],
        foreign_keys=store.conn.execute("PRAGMA foreign_keys").fetchone()[0],
    )
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1}
    assert "messages_fts" in sqlite_utils.Database(store.conn).table_names()
