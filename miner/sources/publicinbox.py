"""public-inbox v2 archives: one git commit per message, the message in file ``m``.

Reads an epoch repository (``0.git``, bare) or a whole v2 inbox (``git/0.git``, ``git/1.git``...).
The last ingested commit of each epoch is remembered, so the next run reads only new commits.
"""

from __future__ import annotations

import functools
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from miner.errors import MinerError
from miner.model import Provenance, RawMail


@dataclass(frozen=True)
class Skipped:
    """A commit that carries no message blob (e.g. a deletion record)."""

    commit: str
    reason: str


def is_epoch(path: Path) -> bool:
    """True for a bare git repository (an epoch such as ``0.git``)."""
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


def is_inbox(path: Path) -> bool:
    """True for a public-inbox v2 inbox directory (``git/N.git`` epochs inside)."""
    return (path / "git").is_dir() and any(is_epoch(p) for p in (path / "git").glob("*.git"))


def epochs(path: Path) -> list[Path]:
    """Epoch repositories under ``path``, in epoch order."""
    if is_epoch(path):
        return [path]
    found = [p for p in (path / "git").glob("*.git") if is_epoch(p)]
    return sorted(found, key=lambda p: int(p.stem) if p.stem.isdigit() else 0)


def state_key(epoch: Path) -> str:
    """The source_state key under which an epoch's last commit is stored."""
    return f"public-inbox:{epoch.resolve()}"


# Bound git's memory: by default cat-file maps whole packs and keeps 96 MiB of delta bases.
GIT_MEMORY_OPTIONS = ("-c", "core.packedGitWindowSize=4m", "-c", "core.packedGitLimit=8m",
                      "-c", "core.deltaBaseCacheLimit=8m")


def _git(epoch: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["git", *GIT_MEMORY_OPTIONS, f"--git-dir={epoch}", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def new_commits(epoch: Path, after: str | None) -> list[tuple[str, str]]:
    """(commit, commit time as UTC ISO) of every commit after ``after``, oldest first."""
    revision = f"{after}..HEAD" if after else "HEAD"
    result = subprocess.run(
        ["git", f"--git-dir={epoch}", "log", "--reverse", "--format=%H %ct", revision],
        capture_output=True,
    )
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        if after and message:
            raise MinerError(f"{epoch}: remembered commit {after[:12]} is gone ({message[-1]});"
                             " the epoch was rewritten")
        if b"does not have any commits" in result.stderr or b"unknown revision" in result.stderr:
            return []
        raise MinerError(f"{epoch}: not a readable git repository ({message[-1] if message else 'git failed'})")
    commits = []
    for line in result.stdout.decode().splitlines():
        commit, _, stamp = line.partition(" ")
        when = datetime.fromtimestamp(int(stamp), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        commits.append((commit, when))
    return commits


def read_epoch(epoch: Path, after: str | None = None, list_id: str | None = None) -> Iterator[RawMail | Skipped]:
    """Yield the message of every commit after ``after`` (a Skipped for commits without ``m``)."""
    commits = new_commits(epoch, after)
    if not commits:
        return
    process = _git(epoch, "cat-file", "--batch")

    def feed() -> None:
        try:
            for commit, _ in commits:
                process.stdin.write(f"{commit}:m\n".encode())
            process.stdin.close()
        except BrokenPipeError:
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    location = str(epoch.resolve())
    try:
        for commit, when in commits:
            yield _read_object(process.stdout, epoch, CommitRef(location, commit, when, list_id))
    finally:
        process.stdout.close()
        process.kill()
        process.wait()
        writer.join(timeout=1)


@dataclass(frozen=True)
class CommitRef:
    """One commit of an epoch, to be read later (by a parser process) with :func:`read_commit`."""

    epoch: str
    commit: str
    archive_date: str
    list_id: str | None = None


def commit_refs(epoch: Path, after: str | None = None, list_id: str | None = None) -> Iterator[CommitRef]:
    """A CommitRef for every commit after ``after``, oldest first (no message is read yet)."""
    location = str(epoch.resolve())
    for commit, when in new_commits(epoch, after):
        yield CommitRef(location, commit, when, list_id)


_readers: dict[str, subprocess.Popen] = {}


@functools.cache
def _git_has_batch_command() -> bool:
    """git 2.36 and later take ``cat-file --batch-command``."""
    version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout
    numbers = [int(part) for part in version.split()[-1].split(".")[:2] if part.isdigit()]
    return numbers >= [2, 36]


def read_commits(refs: list[CommitRef]) -> list[RawMail | Skipped]:
    """The messages of some commits of one epoch, through a ``git cat-file --batch`` kept open per
    epoch and process; all requests are written before the answers are read (one round trip)."""
    if not refs:
        return []
    epoch = refs[0].epoch
    process = _readers.get(epoch)
    if process is None or process.poll() is not None:
        # --buffer: git writes the answers in large blocks, flushed once per chunk on request
        options = ("--batch-command", "--buffer") if _git_has_batch_command() else ("--batch",)
        process = _readers[epoch] = _git(Path(epoch), "cat-file", *options)
    if _git_has_batch_command():
        process.stdin.write("".join(f"contents {ref.commit}:m\n" for ref in refs).encode() + b"flush\n")
    else:
        process.stdin.write("".join(f"{ref.commit}:m\n" for ref in refs).encode())
    process.stdin.flush()
    return [_read_object(process.stdout, Path(epoch), ref) for ref in refs]


def _read_object(stdout, epoch: Path, ref: CommitRef) -> RawMail | Skipped:
    header = stdout.readline()
    if not header:
        raise MinerError(f"{epoch}: git cat-file stopped early")
    fields = header.split()
    if len(fields) < 3 or fields[-1] == b"missing":
        return Skipped(ref.commit, "no message blob 'm' in this commit")
    data = stdout.read(int(fields[2]))
    stdout.read(1)  # the newline after each object
    provenance = Provenance("public-inbox", ref.epoch, ref.commit, ref.list_id)
    return RawMail(data, provenance, archive_date=ref.archive_date)
