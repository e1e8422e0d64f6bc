"""One polite HTTP layer for every network source.

An honest User-Agent, robots.txt, a per-host rate limit, retries with exponential backoff and
jitter (connection errors, 429, 5xx; ``Retry-After`` honoured up to a maximum wait), timeouts and an
overall deadline per response, a maximum response size, bounded gzip decompression, redirects
followed only within the same scheme and host (or hosts the user allowed), each hop checked against
robots.txt and paced, and detection of anti-bot challenge pages (Anubis on lore.kernel.org).
Every final response goes to the raw cache (:mod:`miner.fetch.cache`), so ``--offline`` re-parses
without the network and refreshes use conditional requests.
"""

from __future__ import annotations

import random
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import SplitResult, urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import requests
import urllib3
from urllib3.util import Retry

from miner.errors import MinerError
from miner.fetch.cache import CachedResponse, ResponseCache
from miner.fetch.settings import HttpConfig
from miner.utc import utc_now

ROBOTS_AGENT = "lkml-miner"
CHUNK = 64 * 1024
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_PORTS = {"http": 80, "https": 443}
WAIT_NOTICE_SECONDS = 1.0  # waits at least this long are announced (on the progress line)
CHALLENGE_MARKERS = (b'id="anubis_challenge"', b"Making sure you&#39;re not a bot", b"/.within.website/",
                     b"Making sure you're not a bot")


class ChallengePage(MinerError):
    """The server answered with an anti-bot challenge page instead of the resource."""


class TransferError(Exception):
    """A response that arrived incomplete (cut connection, truncated gzip): worth retrying."""


@dataclass
class Response:
    """A final HTTP response: from the network or the raw cache."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes
    fetched_at: str
    from_cache: bool = False
    data: bytes | None = None  # body after gunzip, when the caller asked for it

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower case."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


@dataclass
class FetchStats:
    """What the session did: network requests, cache hits, retries."""

    requests: int = 0
    cache_hits: int = 0
    not_modified: int = 0
    retries: int = 0
    waits: list[float] = field(default_factory=list)


def is_challenge_page(body: bytes, content_type: str = "text/html") -> bool:
    """True if ``body`` is an anti-bot proof-of-work page (Anubis) rather than the content asked for."""
    if content_type and "html" not in content_type and not body.lstrip()[:15].lower().startswith(b"<!doctype html"):
        return False
    head = body[:65536]
    return any(marker in head for marker in CHALLENGE_MARKERS)


def gunzip_bounded(data: bytes, limit: int, what: str = "body") -> bytes:
    """Decompress gzip (or zlib) ``data`` but never beyond ``limit`` bytes; truncated input raises TransferError."""
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # 32: accept gzip and zlib headers
    out = []
    size = 0
    pending = data
    while pending:
        try:
            chunk = inflater.decompress(pending, CHUNK)
        except zlib.error as error:
            raise MinerError(f"{what}: not gzip data ({error})") from error
        size += len(chunk)
        if size > limit:
            raise MinerError(f"{what}: more than {limit} bytes after decompression; refusing it")
        out.append(chunk)
        pending = inflater.unconsumed_tail
        if inflater.eof:
            break
    if not inflater.eof:
        tail = inflater.flush()
        if not inflater.eof:
            raise TransferError(f"{what}: gzip data is truncated")
        out.append(tail)
    return b"".join(out)


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class PoliteSession:
    """Fetches URLs politely, through the raw cache."""

    def __init__(self, config: HttpConfig | None = None, cache: ResponseCache | None = None):
        self.config = config or HttpConfig()
        self.cache = cache
        self.stats = FetchStats()
        self.session = requests.Session()
        # urllib3 retries only what it can retry safely by itself: failed connects, before any byte
        adapter = requests.adapters.HTTPAdapter(max_retries=Retry(total=None, connect=1, read=False, status=0,
                                                                  redirect=5, backoff_factor=0.1))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"User-Agent": self.config.user_agent, "Accept-Encoding": "gzip"})
        self._last_request: dict[str, float] = {}
        self._robots: dict[str, RobotFileParser | None] = {}
        self._robots_unreachable: dict[str, str] = {}  # host -> why nothing is fetched from it
        self._lock = threading.Lock()
        self.on_wait: Callable[[str], None] | None = None  # told about long waits, e.g. by a progress bar

    def close(self) -> None:
        """Close the connection pool."""
        self.session.close()

    # -- the one public entry point ---------------------------------------------------------

    def fetch(self, url: str, method: str = "GET", form: dict[str, str] | None = None,
              prefer_cache: bool = False, gunzip: bool = False) -> Response:
        """Fetch ``url``: from the cache when offline or ``prefer_cache``, else conditionally from the network."""
        request_body = _encode_form(form)
        cached = self.cache.get(method, url, request_body) if self.cache else None
        if self.config.offline or (prefer_cache and cached is not None):
            if cached is None:
                raise MinerError(f"{url}: not in the raw cache (offline run; fetch it once without --offline)")
            self.stats.cache_hits += 1
            return self._finish(_from_cached(cached), gunzip)
        self._check_robots(url)
        response = self._request(method, url, request_body, cached, gunzip)
        return response

    def check_allowed(self, url: str) -> None:
        """Raise MinerError if robots.txt forbids ``url`` (for fetches made outside this session, e.g. git)."""
        if not self.config.offline:
            self._check_robots(url)

    # -- internals ----------------------------------------------------------------------------

    def _finish(self, response: Response, gunzip: bool) -> Response:
        if gunzip and response.status == 200:
            response.data = gunzip_bounded(response.body, self.config.max_decompressed, response.url)
        return response

    def _request(self, method: str, url: str, request_body: bytes | None, cached: CachedResponse | None,
                 gunzip: bool) -> Response:
        headers = {}
        if cached is not None and cached.status == 200:
            if cached.etag:
                headers["If-None-Match"] = cached.etag
            if cached.last_modified:
                headers["If-Modified-Since"] = cached.last_modified
        if request_body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        config = self.config
        attempts = config.retries + 1
        problem = ""
        for attempt in range(attempts):
            delay = None
            try:
                response = self._send(method, url, request_body, headers)
                if response.status in RETRY_STATUSES:
                    problem = f"HTTP {response.status}"
                    delay = retry_after_seconds(response.headers.get("retry-after"))
                else:
                    if is_challenge_page(response.body, response.content_type):
                        raise ChallengePage(
                            f"{url}: the server answered with an anti-bot challenge page (Anubis), not the"
                            f" content; nothing was stored. Keep the honest User-Agent, lower --rate, or use"
                            f" 'miner scrape lore-git' (git mirrors are not challenged)")
                    if response.status == 304 and cached is not None:
                        self.stats.not_modified += 1
                        self.cache.touch(cached, response.fetched_at)
                        return self._finish(_from_cached(cached), gunzip)
                    response = self._finish(response, gunzip)
                    if self.cache is not None and response.status < 500:
                        self.cache.put(method, url, request_body, response.status, response.headers,
                                       response.body, response.fetched_at)
                    return response
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                    urllib3.exceptions.HTTPError, TransferError) as error:
                problem = _describe(error)
            except requests.RequestException as error:  # not worth retrying: a malformed URL or header
                raise MinerError(f"{url}: {type(error).__name__}: {error}") from error
            if attempt + 1 >= attempts:
                break
            if delay is not None and delay > config.max_wait:
                raise MinerError(f"{url}: {problem} with Retry-After of {delay:.0f} s, more than the maximum wait"
                                 f" of {config.max_wait:.0f} s; gave up (try later, or raise --max-wait)")
            if delay is None:
                delay = min(config.backoff * (2 ** attempt) * (1 + random.random()), config.max_wait)
            self.stats.retries += 1
            self.stats.waits.append(delay)
            self._announce(delay, f"{problem} from {urlsplit(url).netloc}, retry {attempt + 1} of {config.retries}")
            time.sleep(delay)
        raise MinerError(f"{url}: {problem} (gave up after {attempts} attempts)")

    def _announce(self, seconds: float, why: str) -> None:
        if self.on_wait is not None and seconds >= WAIT_NOTICE_SECONDS:
            self.on_wait(f"waiting {seconds:.0f} s: {why}")

    def _send(self, method: str, url: str, request_body: bytes | None, headers: dict[str, str]) -> Response:
        """One request and the redirects it leads to, each hop checked, paced and counted."""
        hop_url = url
        for hop in range(self.config.max_redirects + 1):
            if hop:
                self._check_robots(hop_url)
            response = self._send_one(method, hop_url, request_body, headers)
            location = response.headers.get("location")
            if response.status not in REDIRECT_STATUSES or not location:
                return response
            next_url = urljoin(hop_url, location.strip())
            self._check_redirect(url, next_url)
            if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                method, request_body = "GET", None  # what browsers (and requests) do
                headers = {k: v for k, v in headers.items() if k != "Content-Type"}
            hop_url = next_url
        raise MinerError(f"{url}: more than {self.config.max_redirects} redirects (the last to {hop_url});"
                         f" not followed")

    def _check_redirect(self, url: str, target: str) -> None:
        """Refuse a redirect to another scheme, or to another host the user did not allow."""
        origin, goal = urlsplit(url), urlsplit(target)
        if goal.scheme != origin.scheme:
            raise MinerError(f"{url}: redirected to {target}, another scheme; not followed")
        if _host_port(goal) != _host_port(origin) and not self._host_allowed(goal):
            raise MinerError(f"{url}: redirected to {target}, another host; not followed"
                             f" (--allow-host {goal.hostname} would follow it)")

    def _host_allowed(self, parts: SplitResult) -> bool:
        """True if the user named this host (``--allow-host name`` or ``name:port``)."""
        names = {(parts.hostname or "").lower(), parts.netloc.lower()}
        return any(allowed.lower() in names for allowed in self.config.allow_hosts)

    def _send_one(self, method: str, url: str, request_body: bytes | None, headers: dict[str, str]) -> Response:
        self._wait_turn(urlsplit(url).netloc)
        self.stats.requests += 1
        fetched_at = utc_now()
        started = time.monotonic()
        with self.session.request(method, url, data=request_body, headers=headers, stream=True,
                                  allow_redirects=False,
                                  timeout=(self.config.timeout, self.config.timeout)) as reply:
            received = self._read_limited(reply, url, started + self.config.deadline)
            response_headers = {k.lower(): v for k, v in reply.headers.items()}
            encoding = response_headers.pop("content-encoding", "").strip().lower()
            if encoding in ("gzip", "x-gzip", "deflate"):
                received = gunzip_bounded(received, self.config.max_decompressed, url)
            elif encoding not in ("", "identity"):
                raise MinerError(f"{url}: unsupported Content-Encoding {encoding!r}")
            response_headers.pop("content-length", None)
            return Response(reply.url or url, reply.status_code, response_headers, received, fetched_at)

    def _read_limited(self, reply: requests.Response, url: str, deadline: float) -> bytes:
        """The body as received, within the size limit and before ``deadline`` (a ``time.monotonic()``)."""
        declared = reply.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.config.max_bytes:
            raise MinerError(f"{url}: response of {declared} bytes exceeds the limit of {self.config.max_bytes}")
        parts = []
        size = 0
        # read1: whatever one socket read brings, so a body trickling in still meets the deadline check
        while chunk := reply.raw.read1(CHUNK, decode_content=False):
            size += len(chunk)
            if size > self.config.max_bytes:
                raise MinerError(f"{url}: response exceeds the limit of {self.config.max_bytes} bytes")
            parts.append(chunk)
            if time.monotonic() > deadline:
                raise TransferError(f"{url}: not complete within the deadline of {self.config.deadline:g} s"
                                    f" ({size} bytes so far)")
        return b"".join(parts)

    def _wait_turn(self, host: str) -> None:
        interval = 1.0 / self.config.rate if self.config.rate > 0 else 0.0
        robots = self._robots.get(host)
        if robots is not None:
            delay = robots.crawl_delay(ROBOTS_AGENT)
            if delay:
                interval = max(interval, float(delay))
        with self._lock:
            now = time.monotonic()
            ready = self._last_request.get(host, 0.0) + interval
            if ready > now:
                self._announce(ready - now, f"rate limit for {host}")
                time.sleep(ready - now)
            self._last_request[host] = time.monotonic()

    def _check_robots(self, url: str) -> None:
        if not self.config.robots:
            return
        parts = urlsplit(url)
        host = parts.netloc
        if host in self._robots_unreachable:
            raise MinerError(self._robots_unreachable[host])
        if host not in self._robots:
            self._robots[host] = None  # no recursion while robots.txt itself is fetched
            robots_url = f"{parts.scheme}://{host}/robots.txt"
            parser = RobotFileParser(robots_url)
            try:
                response = self._request("GET", robots_url, None, None, gunzip=False)
            except MinerError as error:  # RFC 9309: an unreachable robots.txt means complete disallow
                del self._robots[host]
                self._robots_unreachable[host] = f"{error}; without robots.txt nothing is fetched from {host}"
                raise MinerError(self._robots_unreachable[host]) from error
            if response.status in (401, 403):
                parser.disallow_all = True
            elif response.status >= 400:
                parser.allow_all = True
            else:
                parser.parse(response.body.decode("utf-8", errors="replace").splitlines())
            self._robots[host] = parser
        parser = self._robots[host]
        if parser is not None and not parser.can_fetch(ROBOTS_AGENT, url):
            raise MinerError(f"{url}: disallowed by {parts.scheme}://{host}/robots.txt for {ROBOTS_AGENT}")


def _host_port(parts: SplitResult) -> tuple[str, int | None]:
    """The host of a split URL as compared for redirects: name in lower case, port made explicit."""
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: compare it as written
        return parts.netloc.lower(), None
    return (parts.hostname or "").lower(), port or DEFAULT_PORTS.get(parts.scheme)


def _encode_form(form: dict[str, str] | None) -> bytes | None:
    if form is None:
        return None
    from urllib.parse import urlencode

    return urlencode(form).encode()


def _from_cached(cached: CachedResponse) -> Response:
    return Response(cached.url, cached.status, cached.headers, cached.body, cached.fetched_at, from_cache=True)


def _describe(error: Exception) -> str:
    if isinstance(error, (requests.Timeout, urllib3.exceptions.TimeoutError)):
        return "timed out"
    if isinstance(error, TransferError):
        return str(error).split(": ", 1)[-1]
    if isinstance(error, (requests.exceptions.ChunkedEncodingError, urllib3.exceptions.ProtocolError)):
        return "connection broken mid-response"
    return f"connection failed ({type(error).__name__})"
