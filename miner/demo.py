"""`miner demo`: build a database from the bundled sample and say what to try next."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from miner.ingest import ingest_paths
from miner.package_data import packaged_folder
from miner.store import Store

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "data" / "sample"


def sample_dir() -> Path:
    """The bundled sample corpus: as installed with the package (``miner.sample``), else ``data/sample``."""
    return packaged_folder("miner.sample", SAMPLE_DIR, "bundled sample")


def run_demo(store: Store, progress: bool = True) -> list[str]:
    """Ingest and classify the sample into ``store``; returns the lines to print."""
    from miner.classify.store import classify_database

    return [ingest_paths(store, [sample_dir()], progress=progress).line(),
            classify_database(store, progress=progress).line(), *next_steps(store.path)]


def next_steps(db_path: Path) -> Iterator[str]:
    """What to try on the demo database."""
    db = str(db_path)
    yield ""
    yield f"Database ready: {db}. Try:"
    yield f"  miner threads --db {db} --label deadlock"
    yield f"  miner show --db {db} 000000000000430bf505bcef3b00@google.com"
    yield f"  miner sql --db {db} \"SELECT label, count(*) FROM labels GROUP BY label\""
    yield f"  miner serve --db {db}"
