"""Build real public-inbox v2 epoch repositories (one commit per message, file ``m``) for tests."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

SAMPLE_MAIL = Path(__file__).resolve().parent.parent / "data" / "sample" / "mail"


def _git(repo: Path, *args: str, data: bytes | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "public-inbox", "GIT_AUTHOR_EMAIL": "public-inbox@example.invalid",
           "GIT_COMMITTER_NAME": "public-inbox", "GIT_COMMITTER_EMAIL": "public-inbox@example.invalid",
           "GIT_AUTHOR_DATE": "1600000000 +0000", "GIT_COMMITTER_DATE": "1600000000 +0000"}
    result = subprocess.run(["git", f"--git-dir={repo}", *args], input=data, capture_output=True, env=env,
                            check=True)
    return result.stdout.decode().strip()


def make_epoch(repo: Path, raws: list[bytes], deletion_after: int | None = None, when: int = 1600000000) -> list[str]:
    """Create (or extend) a bare epoch with one commit per message; returns the new commits.

    ``deletion_after=i`` adds, after message ``i``, a commit whose tree holds ``d`` instead of ``m``
    (how public-inbox v2 records a removed message), to test that such commits are skipped.
    One ``git fast-import`` writes them all (thousands of commits in a second). ``when`` is the
    commit time (public-inbox's received time, what ``rt:`` searches match).
    """
    if not (repo / "HEAD").exists():
        subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    head = subprocess.run(["git", f"--git-dir={repo}", "rev-parse", "-q", "--verify", "HEAD"],
                          capture_output=True).stdout.decode().strip() or None
    stream = bytearray()
    marks = []

    def commit(name: str, data: bytes) -> None:
        mark = len(marks) + 1
        marks.append(mark)
        stream.extend(b"commit refs/heads/master\nmark :%d\n" % mark)
        stream.extend(b"author public-inbox <public-inbox@example.invalid> %d +0000\n" % when)
        stream.extend(b"committer public-inbox <public-inbox@example.invalid> %d +0000\n" % when)
        stream.extend(b"data 7\nmessage\n")
        if mark == 1 and head:
            stream.extend(b"from %s\n" % head.encode())
        stream.extend(b"deleteall\nM 100644 inline %s\ndata %d\n" % (name.encode(), len(data)) + data + b"\n")

    for index, raw in enumerate(raws):
        if deletion_after is not None and index == deletion_after + 1:
            commit("d", raws[deletion_after])
        commit("m", raw)
    marks_file = repo / "fast-import.marks"
    subprocess.run(["git", f"--git-dir={repo}", "fast-import", "--quiet", f"--export-marks={marks_file}"],
                   input=bytes(stream), check=True, capture_output=True)
    by_mark = dict(line.split() for line in marks_file.read_text().splitlines())
    marks_file.unlink()
    _git(repo, "symbolic-ref", "HEAD", "refs/heads/master")
    return [by_mark[f":{mark}"] for mark in marks]


_ID_IN_HEADER = re.compile(rb"^((?:Message-ID|In-Reply-To|References):.*(?:\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
_ID = re.compile(rb"<([^>@]+)@")


def replicated_sample(copies: int) -> list[bytes]:
    """The bundled sample's real messages ``copies`` times, each copy with its own Message-IDs.

    IDs in Message-ID, In-Reply-To and References get a ``.cN`` suffix, so every copy threads
    like the original: a large, realistic input that needs no ../shared.
    """
    from miner.sources.mbox import read_mbox

    originals = [mail.raw for path in sorted(SAMPLE_MAIL.rglob("*.mbox")) for mail in read_mbox(path)]
    raws = []
    for copy in range(copies):
        suffix = f".c{copy}@".encode()
        for raw in originals:
            head, sep, body = raw.partition(b"\n\n")
            head = _ID_IN_HEADER.sub(lambda m: _ID.sub(lambda i: b"<" + i.group(1) + suffix, m.group(1)), head)
            raws.append(head + sep + body)
    return raws


def write_mbox(path: Path, raws: list[bytes]) -> Path:
    """An mboxrd file of ``raws`` (as public-inbox writes them)."""
    from miner.export.writers import mboxrd_entry

    with open(path, "wb") as handle:
        for raw in raws:
            handle.write(mboxrd_entry(raw))
    return path


def bulk_epoch(directory: Path, commits: int | None = None, name: str = "linux-btrfs-0.git") -> Path:
    """The real linux-btrfs epoch of ../shared (20,000 commits; its first ``commits`` only, if given) as a bare
    repository in ``directory``; the calling test skips, saying why, where ../shared is absent."""
    from conftest import BULK_BUNDLE, need_shared

    epoch = directory / name
    subprocess.run(["git", "clone", "-q", "--bare", str(need_shared(BULK_BUNDLE)), str(epoch)], check=True)
    if commits is not None:
        oldest_first = subprocess.run(["git", f"--git-dir={epoch}", "rev-list", "--reverse", "HEAD"], check=True,
                                      capture_output=True, text=True).stdout.split()
        subprocess.run(["git", f"--git-dir={epoch}", "update-ref", "HEAD", oldest_first[commits - 1]], check=True)
    return epoch
