"""`miner link-commits`: read a local kernel clone with one streaming ``git log`` and tie commits to threads.

The shell around ``commits.py``: it runs git (never the network), looks Message-IDs and posted
patches up in the store, writes ``commits`` and ``commit_links``, remembers the last commit read
in ``source_state`` (so the next run reads ``LAST..HEAD`` only) and rebuilds the ``bugs`` table.
"""

from __future__ import annotations

import codecs
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from miner.bugs.commits import GIT_LOG_FORMAT, GitCommit, PatchIndex, PostedPatch, linked_message_ids, \
    parse_git_log, release_of, subject_key
from miner.bugs.store import rebuild_bugs
from miner.errors import MinerError
from miner.store import Store
from miner.utc import utc_now

STATE_PREFIX = "git-commits:"
NAME_REV_CHUNK = 200  # commits per `git name-rev` call when git is too old for --annotate-stdin
READ_SIZE = 1 << 16


@dataclass
class LinkSummary:
    """What one `miner link-commits` run did."""

    repo: str
    commits_read: int = 0
    linked: int = 0
    by_subject: int = 0
    records_applied: int = 0
    range: str = ""

    def line(self) -> str:
        """One line for the terminal."""
        return (f"read {self.commits_read} commits of {self.repo} ({self.range}): {self.linked} matched by"
                f" Link:/Message-ID:, {self.by_subject} by subject and author; {self.records_applied}"
                f" bug records with evidence of a merge")


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "no message"


def _git(repo: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    except FileNotFoundError as error:
        raise MinerError("git: not found (link-commits reads a local clone with git)") from error
    if done.returncode != 0:
        raise MinerError(f"{repo}: git {args[0]} failed: {_last_line(done.stderr)}")
    return done.stdout


def _is_ancestor(repo: Path, older: str, newer: str) -> bool:
    return subprocess.run(["git", "-C", str(repo), "merge-base", "--is-ancestor", older, newer],
                          capture_output=True, check=False).returncode == 0


def stream_log(repo: Path, revision_range: str, since: str | None) -> "subprocess.Popen":
    """One ``git log`` process printing every commit of the range in GIT_LOG_FORMAT."""
    args = ["git", "-C", str(repo), "log", "--no-color", "--no-show-signature", f"--format={GIT_LOG_FORMAT}"]
    if since:
        args.append(f"--since={since}")
    args.append(revision_range)
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _chunks(stream) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while True:
        data = stream.read(READ_SIZE)
        if not data:
            tail = decoder.decode(b"", final=True)
            if tail:
                yield tail
            return
        yield decoder.decode(data)


def posted_patches(store: Store) -> PatchIndex:
    """Every stored patch (a diff in a message that is not a reply), with its thread's time window."""
    rows = store.conn.execute(
        "SELECT m.message_id, coalesce(m.base_subject, m.subject, ''), m.from_name, m.from_email,"
        " t.first_date, t.last_date FROM messages m JOIN threads t ON t.thread_id = m.thread_id"
        " WHERE m.ghost = 0 AND m.subject NOT LIKE 'Re:%' COLLATE NOCASE"
        " AND EXISTS (SELECT 1 FROM patch_files f WHERE f.message_id = m.message_id)"
    ).fetchall()
    return PatchIndex(PostedPatch(*row) for row in rows)


def releases(repo: Path, shas: list[str]) -> dict[str, str | None]:
    """The first tag containing each commit (``git describe --contains``), from one ``git name-rev`` process.

    ``--annotate-stdin`` (git 2.39+) names every commit fed to it in one history walk; older git
    takes them as arguments, a chunk per process.
    """
    if not shas:
        return {}
    done = subprocess.run(["git", "-C", str(repo), "name-rev", "--tags", "--name-only", "--annotate-stdin"],
                          input="\n".join(shas) + "\n", capture_output=True, text=True, check=False)
    if done.returncode == 0:
        names = done.stdout.splitlines()
        # a commit no tag contains comes back unchanged
        return {sha: (None if name.strip() == sha else release_of(name)) for sha, name in zip(shas, names)}
    found: dict[str, str | None] = {}
    for start in range(0, len(shas), NAME_REV_CHUNK):
        chunk = shas[start:start + NAME_REV_CHUNK]
        output = _git(repo, "name-rev", "--tags", "--name-only", *chunk).splitlines()
        for sha, name in zip(chunk, output):
            found[sha] = release_of(name)
    return found


def link_commits(store: Store, repo: str | Path, since: str | None = None) -> LinkSummary:
    """Read the commits of ``repo`` not read before, store those that match a message, rebuild bug records."""
    path = Path(repo)
    if not path.exists():
        raise MinerError(f"{path}: no such directory (give --repo a local kernel git clone)")
    top = Path(_git(path, "rev-parse", "--absolute-git-dir").strip())
    head = _git(path, "rev-parse", "HEAD").strip()
    state_key = STATE_PREFIX + str(top)
    last = store.get_state(state_key)
    summary = LinkSummary(str(path))
    if last == head:
        summary.range = "no new commits"
        summary.records_applied = rebuild_bugs(store).applied
        return summary
    revision_range = f"{last}..{head}" if last and _is_ancestor(path, last, head) else head
    summary.range = revision_range if last else "all history" + (f" since {since}" if since else "")
    patches = posted_patches(store)
    conn = store.conn
    matched: dict[str, GitCommit] = {}
    links: list[tuple[str, str, str, str]] = []
    process = stream_log(path, revision_range, since)
    try:
        for commit in parse_git_log(_chunks(process.stdout)):
            summary.commits_read += 1
            found_link = False
            for message_id, line in linked_message_ids(commit.message):
                if conn.execute("SELECT 1 FROM messages WHERE message_id=?", (message_id,)).fetchone():
                    links.append((commit.sha, message_id, "link", line))
                    matched[commit.sha] = commit
                    found_link = True
            if found_link:
                summary.linked += 1
                continue
            patch = patches.match(commit) if subject_key(commit.subject) in patches.by_subject else None
            if patch:
                links.append((commit.sha, patch.message_id, "subject", commit.subject))
                matched[commit.sha] = commit
                summary.by_subject += 1
    finally:
        stderr = process.stderr.read().decode("utf-8", "replace") if process.stderr else ""
        code = process.wait()
    if code != 0:
        raise MinerError(f"{path}: git log failed: {_last_line(stderr)}")
    unreleased = [row[0] for row in conn.execute("SELECT sha FROM commits WHERE release IS NULL")]
    tags = releases(path, sorted(set(matched) | set(unreleased)))
    now = utc_now()
    with conn:
        conn.executemany(
            "INSERT OR REPLACE INTO commits(sha, repo, subject, author_name, author_email, author_date,"
            " commit_date, release, read_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(c.sha, str(top), c.subject, c.author_name, c.author_email, c.author_date, c.commit_date,
              tags.get(c.sha), now) for c in matched.values()],
        )
        conn.executemany("UPDATE commits SET release=? WHERE sha=? AND release IS NULL",
                         [(tags[sha], sha) for sha in unreleased if tags.get(sha)])
        conn.executemany("INSERT OR REPLACE INTO commit_links(sha, message_id, match, trailer) VALUES (?, ?, ?, ?)",
                         links)
        conn.execute("INSERT OR REPLACE INTO source_state(source, state, updated_at) VALUES (?, ?, ?)",
                     (state_key, head, now))
    summary.records_applied = rebuild_bugs(store).applied
    return summary
