"""The dataset card (README.md) and lineage.json written beside every export."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from miner import __version__
from miner.schema import SCHEMA_VERSION, TABLES_BY_NAME
from miner.store import Store
from miner.utc import utc_now

if TYPE_CHECKING:
    from miner.export import ExportSummary

CITATION = ("lkml-miner contributors. lkml-miner: Linux kernel mailing-list threads tagged deadlock / race /"
            " ordering, with evidence. https://github.com/lkml-miner/lkml-miner")


BUG_RECORDS_SECTION = [
    "## Bug records", "",
    "`bugs` holds one record per labelled thread, derived from the other tables: the lock classes of its"
    " lockdep reports (`locks`), the functions of its KCSAN and syzbot titles, access stacks and top call-trace"
    " frames (`functions`), who found it (`tools`: lockdep, KCSAN, KASAN, hung task, sleep-in-atomic, RCU,"
    " syzbot, kernel test robot, human) and its `syzbot_id`, the files and subsystems its patches touch, its"
    " timeline (`first_report`, `first_patch`, `last_patch_version`), the reviews given in the thread (b4's"
    " rules: cover-letter trailers apply to the series), the `Fixes:` targets, and the evidence of a merge"
    " (`applied`: maintainers' applied replies, tip-bot commit notices, commits matched by `miner"
    " link-commits`, each saying how it was matched; `subject` matches are weaker than `link` matches)."
    " List columns are JSON arrays. Like the labels, these are extracted by rules from the mail, not checked"
    " by hand.", "",
]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def lineage(store: Store, summary: "ExportSummary", command: str | None) -> dict:
    """Where the export came from: tool, database, selection, classifier, ingest runs, sources, files."""
    ids = json.dumps(summary.thread_ids)
    selected = "SELECT message_id FROM messages WHERE thread_id IN (SELECT value FROM json_each(?)) AND ghost = 0"
    classifier_versions = [row[0] for row in store.conn.execute(
        "SELECT DISTINCT classifier_version FROM labels WHERE thread_id IN (SELECT value FROM json_each(?))"
        " ORDER BY 1", (ids,))]
    sources = [
        dict(zip(("source_type", "location", "list_id", "messages", "first_ingested_at", "last_fetched_at"), row))
        for row in store.conn.execute(
            "SELECT source_type, location, list_id, count(DISTINCT message_id), min(ingested_at), max(fetched_at)"
            f" FROM provenance WHERE message_id IN ({selected}) GROUP BY source_type, location, list_id"
            " ORDER BY location", (ids,))
    ]
    run_columns = [column.name for column in TABLES_BY_NAME["ingest_runs"].columns]
    runs = [dict(zip(run_columns, row)) for row in store.conn.execute(
        f"SELECT {', '.join(run_columns)} FROM ingest_runs WHERE id IN"
        f" (SELECT run_id FROM provenance WHERE message_id IN ({selected})) ORDER BY id", (ids,))]
    files = []
    for exported in summary.files:
        path = summary.out_dir / exported.name
        files.append({"name": exported.name, "table": exported.table, "rows": exported.rows,
                      "bytes": path.stat().st_size, "sha256": _sha256(path)})
    return {
        "tool": {"name": "lkml-miner", "version": __version__},
        "created_at": utc_now(),
        "command": command,
        "database": {"path": str(store.path.resolve()) if store.path else None, "schema_version": SCHEMA_VERSION},
        "selection": summary.as_dict()["selection"],
        "selection_rule": "threads as listed by 'miner threads' (miner.reading.list_threads: real messages,"
                          " label present, last_date >= since, first_date < until), then threads.lists"
                          " containing the list; messages: every real (non-ghost) message of those threads",
        "format": summary.fmt,
        "pseudonymized": summary.pseudonymized,
        "counts": summary.counts,
        "classifier_versions": classifier_versions,
        "ingest_runs": runs,
        "sources": sources,
        "files": files,
    }


def _schema_section(tables: list[str], fmt: str = "") -> list[str]:
    """Each exported table's columns with their types: SQLite's, or the Arrow types of the Parquet files."""
    from miner.export.writers import parquet_type_name

    lines = []
    for table in tables:
        spec = TABLES_BY_NAME[table]
        lines += [f"### `{table}`", "", spec.description, "", "| column | type | meaning |", "|---|---|---|"]
        for c in spec.exported_columns:
            kind = parquet_type_name(table, c.name) if fmt == "parquet" else c.type
            lines.append(f"| `{c.name}` | {kind} | {c.description} |")
        lines.append("")
    if fmt == "parquet":
        lines += ["Parquet types: `list<string>` columns are lists (no `json.loads` needed), `timestamp[ms, UTC]`",
                  "columns are UTC instants, `int64` counts, ids and 0/1 flags, `double` scores.", ""]
    return lines


PARTITION_RULES = [
    "Each table is a folder of Parquet files in Hive layout, `TABLE/list=<list-id>/year=<yyyy>/part-<i>.parquet`,",
    "so DuckDB, Spark, Dask or pyarrow read a whole dataset in parallel and skip the lists and years a query",
    "does not ask for. `list` and `year` are read back from the path as columns (`year` an integer); list ids",
    "are URI-escaped in the path, and a missing value is `__HIVE_DEFAULT_PARTITION__`, read back as NULL.", "",
    "- `messages`: the message's own list (`list_id`, the list of the first copy stored) and the UTC year of",
    "  its `date`.",
    "- `threads`, `labels`, `evidence`, `bugs`: the list and UTC year of the thread's earliest real message",
    "  (the one `first_date` and `year` come from), so a thread's labels, evidence and bug record sit in its",
    "  folder. A thread that spans lists or years is filed once, there: `threads.lists` names every list it",
    "  reached, and its later messages are filed under their own list and year (join on `thread_id`, not on",
    "  the folder). `threads.year` is the partition key itself: it is read from the path.",
    "- A table without rows has no folder.", "",
]


def _layout_section(files: list[dict]) -> list[str]:
    """The Hive layout of a Parquet export: the partition rules and, per table, its partitions and rows."""
    lines = ["## Layout", ""] + PARTITION_RULES
    lines += ["| table | partitions (list, year) | files | rows | bytes |", "|---|---|---|---|---|"]
    for table in dict.fromkeys(f["table"] for f in files):
        mine = [f for f in files if f["table"] == table]
        partitions = {f["name"].rsplit("/", 1)[0] for f in mine}
        lines.append(f"| `{table}/` | {len(partitions)} | {len(mine)} | {sum(f['rows'] for f in mine)} |"
                     f" {sum(f['bytes'] for f in mine)} |")
    lines += ["", "`lineage.json` lists every file with its rows, bytes and SHA-256, with the ingest runs and sources.",
              ""]
    return lines


def _reload_section(fmt: str) -> list[str]:
    if fmt == "mbox":
        return ["```python", "import mailbox", "for message in mailbox.mbox('messages.mbox'):",
                "    print(message['Message-ID'], message['Subject'])", "```", "",
                "The file is mboxrd (lines starting with `>*From ` carry one more `>`), as public-inbox writes",
                "`t.mbox`: `b4 am -m messages.mbox <Message-ID>` applies a series from it, and",
                "`miner ingest messages.mbox` rebuilds a database.", ""]
    if fmt == "parquet":
        return ["```python", "import pyarrow.dataset as ds",
                "threads = ds.dataset('threads', format='parquet', partitioning='hive').to_table()",
                "```", "", "```sql", "-- DuckDB",
                "SELECT list, year, count(*) FROM read_parquet('messages/*/*/*.parquet', hive_partitioning = true)",
                "GROUP BY list, year ORDER BY list, year;",
                "SELECT label, count(*) FROM read_parquet('labels/*/*/*.parquet', hive_partitioning = true)"
                " GROUP BY label;", "```", "",
                "Spark: `spark.read.parquet('messages')`; Dask: `dask.dataframe.read_parquet('messages')`.", ""]
    if fmt == "jsonl":
        return ["```python", "import json", "threads = [json.loads(line) for line in open('threads.jsonl')]",
                "```", "", "`sqlite-utils insert data.db threads threads.jsonl --nl` loads it into SQLite.", ""]
    return ["```python", "import csv", "threads = list(csv.DictReader(open('threads.csv', newline='')))", "```",
            "", "`sqlite-utils insert data.db threads threads.csv --csv` loads it into SQLite;",
            "empty cells are NULL.", ""]


def card_markdown(facts: dict) -> str:
    """The dataset card: what was selected and how, counts, files, schema, classifier, sources, citation."""
    selection = facts["selection"]
    chosen = [f"{key} = `{value}`" for key, value in selection.items() if value] or ["everything"]
    lines = [
        "# lkml-miner export", "",
        f"Made by lkml-miner {facts['tool']['version']} on {facts['created_at']} from"
        f" `{facts['database']['path']}` (schema version {facts['database']['schema_version']}).", "",
        "## What was selected and how", "",
        f"Filters: {', '.join(chosen)}.", "",
        f"Rule: {facts['selection_rule']}.", "",
    ]
    if facts["command"]:
        lines += [f"Command: `{facts['command']}`", ""]
    if facts["pseudonymized"]:
        lines += [
            "**Pseudonymized.** Sender names and addresses, and every address and known name (people, senders,"
            " trailer people) inside subjects, bodies, prose and evidence text, are replaced by"
            " `person-<12 hex>` tokens: the salted SHA-256 of the person's address, so one person has one token"
            " in every file. Message-IDs (which often hold the sender's address) become `msg-<16 hex>` tokens,"
            " the same in every file, so the tables still join. The salt is not stored here: the same salt"
            " (--salt) gives the same tokens in a later export. Names the database does not know stay as written.",
            "",
        ]
    lines += ["## Counts", "", "| what | count |", "|---|---|"]
    lines += [f"| {name} | {count} |" for name, count in facts["counts"].items()]
    if facts["format"] == "parquet":
        lines += [""] + _layout_section(facts["files"])
    else:
        lines += ["", "## Files", "", "| file | rows | bytes | sha256 |", "|---|---|---|---|"]
        lines += [f"| `{f['name']}` | {f['rows']} | {f['bytes']} | `{f['sha256'][:16]}…` |" for f in facts["files"]]
        lines += ["", "`lineage.json` holds the same facts for programs (full hashes, ingest runs, sources).", ""]
    lines += ["## Schema", ""]
    lines += _schema_section(sorted({f["table"] for f in facts["files"]}, key=list(TABLES_BY_NAME).index),
                             facts["format"])
    versions = ", ".join(f"`{v}`" for v in facts["classifier_versions"]) or "none (no labelled thread selected)"
    lines += [
        "## Classifier", "",
        f"Labels and evidence come from the rule-based classifier, version {versions}. Labels are"
        " `deadlock`, `race` and `ordering`; each `evidence` row names the pattern that fired, the message"
        " and line, and whether the line was quoted or inside a diff. They are machine judgements, not ground"
        " truth.", "",
    ]
    if any(f["table"] == "bugs" for f in facts["files"]):
        lines += BUG_RECORDS_SECTION
    lines += [
        "## Sources", "",
        "| source | location | list | messages | ingested | fetched |", "|---|---|---|---|---|---|",
    ]
    lines += [f"| {s['source_type']} | `{s['location']}` | {s['list_id'] or ''} | {s['messages']} |"
              f" {s['first_ingested_at'] or ''} | {s['last_fetched_at'] or 'not fetched (local files)'} |"
              for s in facts["sources"]]
    lines += ["", "Ingest runs:", ""]
    lines += [f"- run {r['id']}: `{r['command']}`, {r['started_at']} to {r['finished_at'] or '?'}, {r['status']},"
              f" {r['messages_new']} new messages" for r in facts["ingest_runs"]]
    lines += ["", "The mail itself is copyright its authors and was posted to public mailing lists.", "",
              "## How to reload", ""]
    lines += _reload_section(facts["format"])
    lines += ["## How to cite", "", CITATION + f" Version {facts['tool']['version']}, export of"
              f" {facts['created_at'][:10]}.", ""]
    return "\n".join(lines)


def write_card(store: Store, summary: "ExportSummary", command: str | None = None, salt_given: bool = False) -> dict:
    """Write README.md and lineage.json into the export folder; returns the lineage facts."""
    facts = lineage(store, summary, command)
    facts["salt_given"] = salt_given
    (summary.out_dir / "lineage.json").write_text(json.dumps(facts, indent=2, ensure_ascii=False) + "\n",
                                                  encoding="utf-8")
    (summary.out_dir / "README.md").write_text(card_markdown(facts), encoding="utf-8")
    return facts
