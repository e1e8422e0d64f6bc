"""Builds the test database the query, serve, export, report and browser tests read.

The real pipeline: ``miner demo`` (ingest + classify the bundled sample), then one hostile mail
(tests/fixtures/hostile, a real syzbot reply with <script> added) ingested and classified.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from miner.classify.store import classify_database
from miner.demo import run_demo
from miner.ingest import ingest_paths
from miner.store import open_store

HOSTILE_MAIL = Path(__file__).resolve().parent / "fixtures" / "hostile" / "script-in-subject-and-body.eml"
HOSTILE_MESSAGE_ID = "hostile-script-0001@lkml-miner.invalid"
DEADLOCK_ROOT = "000000000000430bf505bcef3b00@google.com"  # "[syzbot] possible deadlock in io_sq_thread_finish"


def build_demo_db(db_path: Path, hostile: bool = True) -> Path:
    """The demo database at ``db_path`` (plus the hostile mail); returns the path."""
    with open_store(db_path) as store:
        run_demo(store, progress=False)
        if hostile:
            ingest_paths(store, [HOSTILE_MAIL], progress=False, workers=1)
            classify_database(store, progress=False)
    return db_path


@contextmanager
def datasette_get(db: Path) -> Iterator[Callable[[str], tuple[int, str]]]:
    """GET a path from an in-process Datasette on ``db``: (status, text)."""
    from miner.serve import make_datasette

    with open_store(db, create=False) as store:
        datasette = make_datasette(store)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(datasette.invoke_startup())

    def fetch(path: str) -> tuple[int, str]:
        response = loop.run_until_complete(datasette.client.get(path))
        return response.status_code, response.text

    try:
        yield fetch
    finally:
        loop.close()
