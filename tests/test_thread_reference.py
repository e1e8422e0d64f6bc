"""Threading against public-inbox's own index, on real headers and on the whole btrfs epoch."""

from __future__ import annotations


from miner.parse import parse_message
from miner.sources.mbox import read_mbox

from conftest import FIXTURES, SAMPLE
from epochs import bulk_epoch, make_epoch
from pi_index import miner_threads, partition_differences, public_inbox_threads, require_public_inbox

MAIL = SAMPLE / "mail"


def real(path: str, index: int = 0) -> bytes:
    return list(read_mbox(MAIL / path))[index].raw


def header(raw: bytes, name: bytes, value: bytes, replace: bool = True) -> bytes:
    head, sep, body = raw.partition(b"\n\n")
    lines = head.split(b"\n")
    if replace:
        lines = [line for line in lines if not line.lower().startswith(name.lower() + b":")]
    return b"\n".join([*lines, name + b": " + value]) + sep + body


def strip_thread_headers(raw: bytes) -> bytes:
    head, sep, body = raw.partition(b"\n\n")
    kept = []
    skipping = False
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and skipping:
            continue
        skipping = line.lower().startswith((b"in-reply-to:", b"references:"))
        if not skipping:
            kept.append(line)
    return b"\n".join(kept) + sep + body


def thread_both(tmp_path, raws: list[bytes]) -> tuple[dict, dict]:
    require_public_inbox()
    epoch = tmp_path / "0.git"
    make_epoch(epoch, raws)
    from miner.ingest import ingest_paths
    from miner.store import open_store
    with open_store(tmp_path / "m.db") as store:
        ingest_paths(store, [epoch], progress=False, workers=1)
    return public_inbox_threads(tmp_path / "pi", epoch), miner_threads(tmp_path / "m.db")


def roots() -> list[bytes]:
    """Thread starters of four unrelated real threads of the sample, without any In-Reply-To."""
    return [strip_thread_headers(real(path)) for path in (
        "io-uring/syzbot-possible-deadlock-in-io_sq_thread_finish.mbox",
        "cgroups/patch-fix-AA-deadlock-cgroup_bpf_release.mbox",
        "linux-arch/patch-padata-smp_mb-padata_reorder.mbox",
        "linux-btrfs/lockdep-splat-report-possible-circular-locking-single.mbox")]


def test_in_reply_to_prompt_answers_and_addresses_do_not_join_threads(tmp_path):
    a, b, c, d = roots()
    to_address = parse_message(c).from_email.encode()
    raws = [header(a, b"In-Reply-To", b"<y>"), header(b, b"In-Reply-To", b"<y>"),
            header(c, b"In-Reply-To", b"<" + to_address + b">"),
            header(d, b"References", b"<" + to_address + b">")]
    d_head = raws[3].partition(b"\n\n")
    raws[3] = header(raws[3], b"Cc", b"Someone <" + to_address + b">", replace=False)
    reference, ours = thread_both(tmp_path, raws)
    assert len(set(reference.values())) == 4  # public-inbox: four threads
    assert partition_differences(reference, ours) == (0, 0)
    assert len(set(ours.values())) == 4


def test_a_second_message_id_and_x_alt_message_id_are_threaded_as_public_inbox_does(tmp_path):
    a, b, c, _ = roots()
    a = header(a, b"Message-ID", b"<second-id@example.org>", replace=False)
    a = header(a, b"X-Alt-Message-ID", b"<alt-id@example.org>")
    raws = [a, header(b, b"In-Reply-To", b"<second-id@example.org>"),
            header(c, b"References", b"<alt-id@example.org>")]
    reference, ours = thread_both(tmp_path, raws)
    assert len(set(reference.values())) == 1  # public-inbox: both replies join the first message
    assert partition_differences(reference, ours) == (0, 0)


def test_protonmail_references_in_encoded_words_are_decoded_not_junk_ghosts(tmp_path, store, ingest):
    """ProtonMail folds IDs inside RFC 2047 words; public-inbox keeps 12 junk ghosts, miner decodes."""
    folder = FIXTURES / "mail" / "protonmail"
    summary = ingest(folder)
    assert summary.new == 2
    junk = store.conn.execute("SELECT count(*) FROM messages WHERE message_id LIKE '%=?%'"
                              " OR message_id LIKE '%?=%' OR message_id LIKE '%=3D%'").fetchone()[0]
    assert junk == 0
    ids = store.conn.execute("SELECT \"references\" FROM messages WHERE message_id LIKE '6LDov933%'").fetchone()[0]
    assert "8oT9s0Jlzpgp2ctPAXOixSR03oOiPXaitR0AiOkNdBsYHwjPMfjK7CoVAPXuvj71hiUTH-fKoSevAM-To8iSPPBvGRvZeBkU0Nd1_NPonyU="\
           "@protonmail.com" in ids
    # what Python's email reads the header as
    import email
    import email.header
    raw = (folder / "51507bb49fb970ebcf7f34da2f2caf5e4e2b40c2.eml").read_bytes()
    value = email.message_from_bytes(raw)["References"]
    decoded = "".join(part.decode() if isinstance(part, bytes) else part
                      for part, _ in email.header.decode_header(value))
    assert parse_message(raw).references == [word.strip("<>") for word in decoded.split()]


def test_threading_equals_public_inbox_on_the_btrfs_epoch(tmp_path):
    """19,979 real messages: every pair public-inbox threads together miner does too, and no other."""
    require_public_inbox()
    epoch = bulk_epoch(tmp_path, name="0.git")
    from miner.ingest import ingest_paths
    from miner.store import open_store
    with open_store(tmp_path / "m.db") as store:
        ingest_paths(store, [epoch], progress=False)
    reference, ours = public_inbox_threads(tmp_path / "pi", epoch), miner_threads(tmp_path / "m.db")
    assert len(reference) == len(ours) == 19979
    assert set(reference) == set(ours)
    assert partition_differences(reference, ours) == (0, 0)
    assert len(set(reference.values())) == len(set(ours.values())) == 3106
