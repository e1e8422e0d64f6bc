"""A real public-inbox server (Debian package public-inbox) on 127.0.0.1, over real mail from fixtures.

The epoch repository is built the way public-inbox v2 stores mail (one commit per message, file ``m``),
indexed with ``public-inbox-index`` and served by ``public-inbox-httpd``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from miner.sources.mbox import split_mbox

from epochs import make_epoch

FIXTURES = Path(__file__).parent / "fixtures" / "scrape"


def require_public_inbox() -> None:
    """Skip the calling test when public-inbox is not installed."""
    for tool in ("public-inbox-init", "public-inbox-index", "public-inbox-httpd", "git"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (Debian package public-inbox, listed in .ci/apt-packages.txt)")


def fixture_messages(list_name: str) -> list[bytes]:
    """Every message of the list's fixture thread mboxes, thread by thread."""
    messages = []
    for path in sorted((FIXTURES / list_name).glob("*.mbox")):
        with open(path, "rb") as handle:
            messages += [mail.raw for mail in split_mbox(handle, str(path))]
    return messages


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class PublicInboxServer:
    """A running public-inbox-httpd serving one v2 inbox."""

    root: Path
    list_name: str
    port: int
    process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def inbox(self) -> Path:
        """The inbox directory."""
        return self.root / self.list_name

    @property
    def epoch(self) -> Path:
        """The epoch repository ``git/0.git``."""
        return self.inbox / "git" / "0.git"

    def env(self) -> dict[str, str]:
        """Environment that points public-inbox at this server's config."""
        return {**os.environ, "PI_CONFIG": str(self.root / "config"), "HOME": str(self.root), "TZ": "UTC"}

    def git(self, *args: str) -> str:
        """Output of a git command run on the epoch repository."""
        return subprocess.run(["git", f"--git-dir={self.epoch}", *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    def add_messages(self, messages: list[bytes]) -> None:
        """Commit messages to the epoch (one commit each, like public-inbox) and index them."""
        make_epoch(self.epoch, messages, when=int(time.time()))
        subprocess.run(["public-inbox-index", str(self.inbox)], check=True, env=self.env(), capture_output=True)
        if self.process is not None:  # httpd keeps its search index open for a while: restart to see new mail
            self.stop()
            self.start()

    def start(self) -> None:
        """Start public-inbox-httpd and wait until it answers."""
        log = open(self.root / "httpd.log", "ab")
        self.process = subprocess.Popen(
            ["public-inbox-httpd", "-l", f"http://127.0.0.1:{self.port}", "-W0"],
            env=self.env(), stdout=log, stderr=log,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"public-inbox-httpd did not start; see {self.root / 'httpd.log'}")

    def stop(self) -> None:
        """Stop the server process started by :meth:`start`."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def make_server(root: Path, list_name: str, messages: list[bytes], index_level: str = "medium") -> PublicInboxServer:
    """Create, fill, index and start a v2 inbox named ``list_name`` under ``root``.

    ``index_level`` is public-inbox's ``-L``: ``full`` also keeps term positions, which phrase
    searches (``s:"possible deadlock"``) need.
    """
    require_public_inbox()
    server = PublicInboxServer(root, list_name, _free_port())
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["public-inbox-init", "-V2", "-L", index_level, list_name, str(server.inbox),
         f"http://127.0.0.1/{list_name}", f"{list_name}@vger.kernel.org"],
        check=True, env=server.env(), capture_output=True,
    )
    if not (server.epoch / "HEAD").is_file():
        subprocess.run(["git", "init", "-q", "--bare", str(server.epoch)], check=True)
    server.add_messages(messages)
    server.start()
    return server
