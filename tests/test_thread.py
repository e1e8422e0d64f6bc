"""miner/thread.py alone, on the real Message-IDs of the sample's threads: no database involved."""

from __future__ import annotations

import ast

from miner.parse import parse_message
from miner.sources.mbox import read_mbox
from miner.thread import COPY, FILLED, NEW, VIVIFIED, BatchThreading, Known

from conftest import ROOT, SAMPLE

IO_URING = SAMPLE / "mail" / "io-uring" / "syzbot-possible-deadlock-in-io_sq_thread_finish.mbox"
PADATA = SAMPLE / "mail" / "linux-arch" / "patch-padata-smp_mb-padata_reorder.mbox"


def messages(path):
    return [parse_message(mail.raw) for mail in read_mbox(path)]


def place(threading, message):
    return threading.link(message.message_id, tuple(message.parent_ids), tuple(message.alias_ids))


def test_thread_py_is_pure():
    tree = ast.parse((ROOT / "miner" / "thread.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"sqlite3", "sqlite_utils"}


def test_a_thread_in_order_is_one_thread_and_a_repeat_is_a_copy():
    thread = messages(IO_URING)
    threading = BatchThreading({}, next_thread_id=7)
    placements = [place(threading, message) for message in thread]
    assert {p.thread_id for p in placements} == {7} and threading.new_threads == [7]
    assert [p.outcome for p in placements] == [NEW] * len(thread)
    referenced = {parent for message in thread for parent in message.parent_ids}
    missing = referenced - {message.message_id for message in thread}
    assert set(threading.ghosts) == missing == {"20210310041025.2438-1-hdanton@sina.com"}  # not archived
    assert place(threading, thread[3]).outcome == COPY


def test_replies_first_make_ghosts_that_the_late_root_fills():
    root, *replies = messages(IO_URING)
    threading = BatchThreading({}, next_thread_id=1)
    for reply in replies:
        place(threading, reply)
    assert root.message_id in threading.ghosts
    late = place(threading, root)
    assert late.outcome == VIVIFIED and root.message_id not in threading.ghosts
    assert {p.thread_id for p in threading.placements} == {late.thread_id}


def test_a_ghost_stored_by_an_earlier_batch_keeps_its_thread_id():
    root, *_ = messages(IO_URING)
    threading = BatchThreading({root.message_id: Known(42, True)}, next_thread_id=100)
    placement = place(threading, root)
    assert (placement.thread_id, placement.outcome, threading.new_threads) == (42, FILLED, [])


def test_a_message_linking_two_threads_merges_them_into_the_lower_id():
    first, second = messages(IO_URING)[0], messages(PADATA)[0]
    threading = BatchThreading({first.message_id: Known(3, False), second.message_id: Known(9, False)},
                               next_thread_id=10)
    # a real reply of the io_uring thread that also references the padata patch
    bridge = messages(IO_URING)[1]
    placement = threading.link(bridge.message_id, (second.message_id, *bridge.parent_ids))
    assert placement.thread_id == 3 and threading.merged == {9: 3}
    assert threading.resolve(second.message_id) == Known(3, False)
    assert threading.final_thread(9) == 3


def test_other_message_ids_of_a_message_are_ghosts_under_it():
    root = messages(IO_URING)[0]
    threading = BatchThreading({}, next_thread_id=1)
    threading.link(root.message_id, (), ("alias@example.org",))
    ghost = threading.ghosts["alias@example.org"]
    assert (ghost.thread_id, ghost.parent_id) == (1, root.message_id)
    reply = threading.link("reply@example.org", ("alias@example.org",))
    assert reply.thread_id == 1
