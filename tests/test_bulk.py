"""The real 20,000-commit linux-btrfs public-inbox epoch (58 MB bundle, read from ../shared)."""

from __future__ import annotations

from miner.ingest import ingest_paths

from epochs import bulk_epoch


def test_every_message_of_the_bulk_epoch_is_stored(tmp_path, store):
    epoch = bulk_epoch(tmp_path)
    summary = ingest_paths(store, [epoch], progress=False)
    assert summary.read == 20000 and summary.rejected == 0 and summary.skipped == 0
    distinct = store.conn.execute("SELECT count(*) FROM messages WHERE ghost = 0").fetchone()[0]
    assert distinct == 19979  # 21 commits carry a Message-ID already seen
    commits = store.conn.execute(
        "SELECT count(DISTINCT position) FROM provenance WHERE source_type = 'public-inbox'").fetchone()[0]
    assert commits == 20000
    lists = store.conn.execute("SELECT DISTINCT list_id FROM provenance").fetchall()
    assert lists == [("linux-btrfs.vger.kernel.org",)]
    flagged = store.conn.execute("SELECT count(*) FROM messages WHERE ghost = 0 AND date IS NULL").fetchone()[0]
    assert flagged == 0
    again = ingest_paths(store, [epoch], progress=False)
    assert again.read == 0  # the last commit was remembered
