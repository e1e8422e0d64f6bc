"""Serve the database with Datasette: read-only, described from the schema, with the thread page."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from miner.errors import MinerError
from miner.serve.metadata import build_metadata


def register_plugin() -> None:
    """Register the plugin module with Datasette unless its entry point already did."""
    from datasette.plugins import pm

    from miner.serve import plugin

    if not pm.is_registered(plugin):
        pm.register(plugin, name="lkml_miner")


def make_datasette(db_path: str | Path):
    """A Datasette instance on ``db_path`` opened immutable (read-only), with generated metadata."""
    from datasette.app import Datasette

    path = Path(db_path)
    if not path.is_file():
        raise MinerError(f"{path}: no such database (run 'miner ingest' or 'miner demo' first)")
    fold_wal(path)
    register_plugin()
    return Datasette(immutables=[str(path)], metadata=build_metadata(path),
                     settings={"sql_time_limit_ms": 5000, "facet_time_limit_ms": 1000})


def fold_wal(path: Path) -> None:
    """Checkpoint a leftover write-ahead log into the file: an immutable reader ignores the -wal file."""
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size:
        try:
            conn = sqlite3.connect(str(path), timeout=30)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.close()
        except sqlite3.Error as error:
            raise MinerError(f"{path}: could not fold its write-ahead log before serving ({error})") from error


def serve(db_path: str | Path, host: str = "127.0.0.1", port: int = 8001) -> None:
    """Run Datasette on ``db_path`` until interrupted."""
    import asyncio

    import uvicorn

    datasette = make_datasette(db_path)
    asyncio.run(datasette.invoke_startup())
    uvicorn.run(datasette.app(), host=host, port=port, log_level="warning", lifespan="on", workers=1)
