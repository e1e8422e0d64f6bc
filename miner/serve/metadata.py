"""Datasette metadata generated from the schema description (miner/schema.py) and queries/*.sql."""

from __future__ import annotations

from pathlib import Path

from miner.queries import load_queries
from miner.schema import FTS_TABLE, TABLES

# How Datasette should present each table: facets, the column that names a row, default sort.
# Default facets are on small tables or indexed columns only: a facet on an unindexed column of
# `messages` reads every body (list_id and is_patch took 0.5 s at 82,000 messages); add them with ?_facet=.
TABLE_PRESENTATION: dict[str, dict] = {
    "threads": {
        "facets": [{"array": "labels"}, "year", {"array": "lists"}, "has_patch"],
        "label_column": "subject",
        "sort_desc": "last_date",
    },
    "messages": {
        "label_column": "subject",
        "sort_desc": "date",
        "fts_table": f"{FTS_TABLE}_fts",
        "fts_pk": "rowid",
    },
    "labels": {"facets": ["label", "classifier_version"], "sort_desc": "score"},
    "evidence": {"facets": ["label", "subtype", "pattern", "quoted", "in_diff"]},
    "patch_files": {"facets": ["subsystem"]},
    "trailers": {"facets": ["name"]},
    "provenance": {"facets": ["list_id"]},
    "people": {"label_column": "name"},
    "bugs": {
        "facets": [{"array": "labels"}, {"array": "tools"}, {"array": "subsystems"}, "fix_status"],
        "label_column": "subject",
        "sort_desc": "first_report",
    },
    "commits": {"facets": ["release"], "label_column": "subject", "sort_desc": "commit_date"},
    "commit_links": {"facets": ["match"]},
}

# Columns a table page leaves out until asked (?_col=...): long text, or bookkeeping a reader rarely needs.
# The JSON and CSV renderings keep every column.
_READER_HIDDEN: dict[str, tuple[str, ...]] = {
    "messages": ("body", "prose", "raw", "references", "notes", "base_subject", "added_at"),
    # year stays a facet; participant_count and the rest are in the row page, JSON and CSV
    "threads": ("base_subject", "year", "ghost_count", "participant_count", "changed_at", "revision"),
}
# ... and every column the schema calls internal: how a value is kept (sha256, raw_block, body_at,
# prose_spans ...), not what it is (a table page names these apart).
INTERNAL_COLUMNS: dict[str, tuple[str, ...]] = {
    table.name: tuple(c.name for c in table.columns if c.internal) for table in TABLES
}
DEFAULT_HIDDEN_COLUMNS: dict[str, tuple[str, ...]] = {
    table.name: hidden for table in TABLES
    if (hidden := _READER_HIDDEN.get(table.name, ()) + INTERNAL_COLUMNS[table.name])
}

# Bookkeeping of the pipeline, not research data: left off the table lists (still reachable by URL and SQL).
HIDDEN_TABLES = ("raw_messages", "classify_state", "http_responses", "meta", "source_state", "scrape_threads",
                 "ingest_runs", "rejects", "scrapes", "mail_blocks", "zstd_dictionaries")


def database_name(db_path: str | Path) -> str:
    """The name Datasette gives a database file: its file name without the extension."""
    return Path(db_path).stem


def build_metadata(db_path: str | Path, queries_directory: Path | None = None) -> dict:
    """Datasette metadata for ``db_path``: table and column descriptions, facets, FTS, canned queries."""
    tables = {}
    for table in TABLES:
        tables[table.name] = {
            "description": table.description,
            "columns": {column.name: column.description for column in table.columns},
            **TABLE_PRESENTATION.get(table.name, {}),
        }
        if table.name in HIDDEN_TABLES:
            tables[table.name]["hidden"] = True
    queries = {
        query.name: {
            "sql": query.sql,
            "title": query.title,
            "description": query.description
            + "".join(f" :{p.name}: {p.description}." for p in query.params),
            "hide_sql": True,  # results first; Datasette's "show" link unfolds the SQL
        }
        for query in load_queries(queries_directory).values()
    }
    return {
        "title": "lkml-miner",
        "description": "Linux kernel mailing-list threads tagged deadlock / race / ordering, with evidence."
        " Open any message's thread at /-/thread/<Message-ID>.",
        "databases": {database_name(db_path): {"tables": tables, "queries": queries}},
    }
