"""What a fetch is told: the HTTP settings and the defaults of every scrape (standard library only).

The command line takes its defaults from here without importing the HTTP stack; the library
modules (``http``, ``lore``, ``scrape``) take theirs from here too, so the two cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from miner import PROJECT_URL, __version__

DEFAULT_USER_AGENT = f"lkml-miner/{__version__} (+{PROJECT_URL})"
LORE_BASE_URL = "https://lore.kernel.org"
DEFAULT_MAX_MATCHES = 10_000  # matches one search follows unless raised: a runaway search stops here
DEFAULT_MAX_PAGES = 50  # archive pages one ``scrape url`` run fetches at most


@dataclass
class HttpConfig:
    """How politely to fetch: identity, pace, patience and limits."""

    user_agent: str = DEFAULT_USER_AGENT
    rate: float = 1.0  # requests per second per host; 0 means no limit
    timeout: float = 60.0  # seconds to connect and between bytes
    deadline: float = 600.0  # seconds for one whole response, however steadily its bytes trickle in
    max_bytes: int = 256 * 1024 * 1024  # largest body accepted, as received
    max_decompressed: int = 1024 * 1024 * 1024  # largest body accepted after gunzip
    retries: int = 5
    backoff: float = 1.0  # first retry delay in seconds, doubled each time, plus jitter
    max_wait: float = 300.0  # longest wait before a retry; a Retry-After asking for more gives up
    max_redirects: int = 5  # hops followed for one request
    allow_hosts: tuple[str, ...] = ()  # other hosts (name or name:port) that redirects may lead to
    robots: bool = True
    offline: bool = False


@dataclass(frozen=True)
class ScrapeOptions:
    """What every scrape or sync is told besides what to fetch: how politely, and what to do around it."""

    http: HttpConfig = field(default_factory=HttpConfig)
    progress: bool = True  # a progress bar on the terminal
    classify: bool = True  # label what was stored once the fetch is done
