"""Serve the database with Datasette: read-only (not immutable), described from the schema, with the thread page."""

from __future__ import annotations

from pathlib import Path

from miner.errors import MinerError
from miner.serve.metadata import build_metadata
from miner.store import Store

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8001


# Suggested facets ran a GROUP BY per column on every table page: 90% of the 2.6 s of the messages page at
# 82,000 messages. The default facets of each table (metadata.py) are on indexed or small columns instead.
# A facet shows its 8 largest values (Datasette's default of 30 pushed the rows below the first screen).
SETTINGS = {"sql_time_limit_ms": 5000, "facet_time_limit_ms": 1000, "suggest_facets": False, "default_facet_size": 8}


def register_plugin() -> None:
    """Register the plugin module with Datasette unless its entry point already did."""
    from datasette.plugins import pm

    from miner.serve import plugin

    if not pm.is_registered(plugin):
        pm.register(plugin, name="lkml_miner")


def make_datasette(store: Store):
    """A Datasette instance on ``store``'s file opened read-only (``mode=ro``), with generated metadata.

    Not immutable: an ingest, classify or scrape may write to the file while it is served, and an
    immutable reader (``immutable=1``) trusts the file never to change. It ignores the write-ahead
    log and other writers' locks, so pages read mid-write answered "database disk image is
    malformed". A read-only reader sees each committed state, the log included, and never writes.
    """
    from datasette.app import Datasette

    path = Path(store.path)
    register_plugin()
    return Datasette(files=[str(path)], metadata=build_metadata(path),
                     settings=SETTINGS)


def check_readable(store: Store) -> None:
    """MinerError unless ``store``'s file opens read-only, as Datasette will open it."""
    import sqlite3

    from miner.store import database_error

    try:
        conn = sqlite3.connect(f"file:{Path(store.path).resolve()}?mode=ro", uri=True)
        try:
            conn.execute("SELECT count(*) FROM threads").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as error:
        raise database_error(store.path, error) from error


def listen(host: str, port: int):
    """A socket bound to ``host``:``port`` and listening, or a MinerError saying why not (port taken...)."""
    import socket

    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(info[0], socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(info[4])
        sock.listen(128)
    except OSError as error:
        raise MinerError(f"cannot listen on {host}:{port} ({error.strerror or error}); choose another"
                         " --port or --host") from error
    return sock


def serve(store: Store, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, announce=None) -> None:
    """Run Datasette on ``store`` until interrupted; the database and the port are checked before ``announce()``."""
    import asyncio

    import uvicorn

    check_readable(store)
    datasette = make_datasette(store)
    asyncio.run(datasette.invoke_startup())
    sock = listen(host, port)
    if announce is not None:
        announce()
    config = uvicorn.Config(datasette.app(), log_level="warning", lifespan="on", workers=1)
    uvicorn.Server(config).run(sockets=[sock])
