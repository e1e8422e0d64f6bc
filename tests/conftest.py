"""Shared test helpers: where the real data lives, and small database builders."""

from __future__ import annotations

from pathlib import Path

import pytest

from miner.ingest import ingest_paths
from miner.store import open_store

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
SAMPLE = ROOT / "data" / "sample"
SHARED = ROOT.parent / "shared"
BULK_BUNDLE = SHARED / "corpus" / "bulk" / "linux-btrfs-0-first20k.bundle"


@pytest.fixture
def store(tmp_path):
    """An empty database in a temporary directory."""
    db = open_store(tmp_path / "test.db")
    yield db
    db.close()


@pytest.fixture
def ingest(store):
    """Ingest paths into the test database, quietly, in one process; returns the summary."""

    def run(*paths, workers: int = 1):
        return ingest_paths(store, [Path(p) for p in paths], progress=False, workers=workers)

    return run


def need_shared(path: Path) -> Path:
    """``path`` of ../shared; skip (saying why) when it is absent. CI always has it."""
    if not path.exists():
        pytest.skip(f"{path} is not here: this test reads the shared corpus beside the project root")
    return path


@pytest.fixture(scope="module")
def demo_store(demo_db):
    """An open store on the demo database of the test module (its own ``demo_db`` fixture)."""
    with open_store(demo_db, create=False) as opened:
        yield opened
