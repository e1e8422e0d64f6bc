"""Scraping: saved searches on public-inbox servers, git mirrors and legacy archive pages.

Every fetched message goes through the same Ingester (parse -> thread -> store) as local files.
Resume: a thread is marked ``fetching`` in ``scrape_threads`` before its request and ``done``
after its messages are stored; a rerun finishes ``fetching`` threads from the raw cache, and
skips every matching message already stored, so an interrupted run ends where a whole run would.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from miner.errors import MinerError
from miner.ingest import Ingester
from miner.model import Provenance, RawMail
from miner import sources
from miner.fetch import lore
from miner.sources import eml
from miner.fetch.cache import ResponseCache
from miner.fetch.http import PoliteSession
from miner.fetch.settings import DEFAULT_MAX_MATCHES, DEFAULT_MAX_PAGES, HttpConfig, ScrapeOptions
from miner.fetch.archives import archive_for
from miner.store import Store
from miner.utc import utc_now
from miner.mid import clean_message_id

SYNC_OVERLAP_SECONDS = 2 * 24 * 3600  # like lei: re-ask a margin before the last run for late arrivals


@dataclass(frozen=True)
class LoreScrape:
    """A saved lore search: which server, list and query."""

    base_url: str
    list_name: str
    query: str = ""
    since: str = ""
    until: str = ""
    max_threads: int | None = None
    scrape_id: int | None = None
    received_mark: int | None = None
    last_run_at: str | None = None  # when it last ran (UTC), None before its first run


@dataclass
class ScrapeSummary:
    """Counts of one scrape run."""

    label: str
    requests: int = 0
    cache_hits: int = 0
    matches: int = 0
    threads_fetched: int = 0
    threads_skipped: int = 0
    matches_in_fetched: int = 0  # matches whose thread this same run had just fetched (not "already stored")
    pages: int = 0
    messages_read: int = 0
    messages_new: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    searched: bool = False  # a search ran: matches and threads are worth showing even when zero
    refused_ids: list[str] = field(default_factory=list)  # Message-IDs never requested: unsafe in a URL path
    capped_at: int | None = None  # the --max-matches cap that cut the search short
    repeated_page: bool = False  # the server paginated endlessly (a full page of nothing new)
    rejected_pages: list[str] = field(default_factory=list)  # why each refused page was refused (kept in rejects)
    unverified: list[str] = field(default_factory=list)  # archives whose parser no saved real page has checked

    def line(self) -> str:
        """The one-line summary printed at the end of a run."""
        parts = [f"{self.label}: {self.requests} requests ({self.cache_hits} from cache)"]
        if self.searched or self.threads_fetched:
            in_fetched = (f" (+{self.matches_in_fetched} matches inside them)" if self.matches_in_fetched else "")
            parts.append(f"{self.matches} matches, {self.threads_fetched} threads fetched{in_fetched},"
                         f" {self.threads_skipped} already stored")
        if self.capped_at is not None:
            parts.append(f"search stopped at the cap of {self.capped_at} matches (raise it with --max-matches)")
        if self.repeated_page:
            parts.append("search stopped: the server sent a full page of matches already seen")
        if self.refused_ids:
            parts.append(f"{len(self.refused_ids)} Message-IDs refused as unsafe in a URL path"
                         f" (e.g. {self.refused_ids[0]!r})")
        if self.pages:
            parts.append(f"{self.pages} pages")
        if self.rejected_pages:
            parts.append(f"{len(self.rejected_pages)} pages refused and kept as rejects"
                         f" (e.g. {self.rejected_pages[0]})")
        if self.unverified:
            parts.append(f"parsers not checked against a saved real page: {', '.join(self.unverified)}"
                         f" (their messages may be incomplete)")
        parts.append(f"{self.messages_read} messages read, {self.messages_new} new ({self.seconds:.1f} s)")
        parts += self.notes if len(self.notes) <= 3 else [f"{len(self.notes)} notes, e.g. {self.notes[0]}"]
        return "; ".join(parts)


def open_session(store: Store, config: HttpConfig | None = None) -> PoliteSession:
    """A polite HTTP session whose raw cache lives in ``store``."""
    return PoliteSession(config, ResponseCache(store.conn))


class _Progress:
    """A terminal progress bar for a scrape: requests made, threads fetched, messages new, and long waits."""

    def __init__(self, summary: ScrapeSummary, session: PoliteSession, ingester: Ingester, enabled: bool,
                 unit: str = " thread", total: int | None = None):
        self.summary, self.session, self.ingester = summary, session, ingester
        self.bar = tqdm(desc=summary.label, unit=unit, total=total, disable=not enabled, dynamic_ncols=True)
        session.on_wait = self.waiting

    def update(self, steps: int = 0) -> None:
        """Advance by ``steps`` (of the bar's unit) and refresh the counters shown."""
        self.bar.update(steps)
        self.bar.set_postfix(requests=self.session.stats.requests, new=self.ingester.summary.new, refresh=False)

    def set_total(self, total: int) -> None:
        """What the bar counts to, once it is known (a search's match count)."""
        self.bar.total = total
        self.bar.refresh()

    def waiting(self, notice: str) -> None:
        """Show why the scrape is standing still (a Retry-After, a backoff, a Crawl-delay)."""
        self.bar.set_postfix_str(notice)

    def close(self) -> None:
        """Remove the bar."""
        self.session.on_wait = None
        self.bar.close()


class ScrapeRun:
    """One scrape run: its summary, the ingest run that stores what it fetches, its progress bar and its clock.

    The clock and the session's counters start when the run is made (before a mirror is cloned,
    say); the ingest run and the bar open with ``with`` and close with it. A run counted in
    ``unit`` (threads, matches, pages) has a bar of its own, ``bar``, and stores quietly; without
    one the ingest's bar shows (a git mirror's commits). :meth:`finish` fills in the summary's counts.
    """

    def __init__(self, store: Store, session: PoliteSession, summary: ScrapeSummary, command: str,
                 progress: bool = False, unit: str | None = None, total: int | None = None):
        self.store, self.session, self.summary = store, session, summary
        self.command, self.progress, self.unit, self.total = command, progress, unit, total
        self.started = time.monotonic()
        self.requests_before, self.hits_before = session.stats.requests, session.stats.cache_hits
        self.ingester: Ingester | None = None
        self.bar: _Progress | None = None

    def __enter__(self) -> "ScrapeRun":
        self.ingester = Ingester(self.store, self.command, progress=self.progress and self.unit is None).__enter__()
        if self.unit is not None:
            self.bar = _Progress(self.summary, self.session, self.ingester, self.progress, self.unit, self.total)
        return self

    def __exit__(self, kind, value, traceback) -> None:
        try:
            if self.bar is not None:
                self.bar.close()
        finally:
            self.ingester.__exit__(kind, value, traceback)

    def finish(self) -> ScrapeSummary:
        """The summary with the requests, cache hits, messages and seconds of the run."""
        counts = self.ingester.finish()
        self.summary.requests = self.session.stats.requests - self.requests_before
        self.summary.cache_hits = self.session.stats.cache_hits - self.hits_before
        self.summary.messages_read = counts.read
        self.summary.messages_new = counts.new
        self.summary.seconds = time.monotonic() - self.started
        return self.summary


def classify_fetched(store: Store, options: ScrapeOptions):
    """Label what a scrape or sync stored (only new or changed threads); None when ``options`` say not to."""
    from miner.classify.store import classify_database

    return classify_database(store, progress=options.progress) if options.classify else None


# -- saved lore scrapes ------------------------------------------------------------------------

def save_scrape(store: Store, scrape: LoreScrape) -> LoreScrape:
    """Find or create the ``scrapes`` row of this search; returns it with its id and received mark."""
    key = ("lore", scrape.base_url.rstrip("/"), scrape.list_name, scrape.query, scrape.since, scrape.until)
    with store.conn:
        store.conn.execute(
            "INSERT OR IGNORE INTO scrapes(source, base_url, list_name, query, since, until, max_threads,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (*key, scrape.max_threads, utc_now()),
        )
        store.conn.execute(
            "UPDATE scrapes SET max_threads=? WHERE source=? AND base_url=? AND list_name=? AND query=?"
            " AND since=? AND until=?", (scrape.max_threads, *key),
        )
    row = store.conn.execute(
        "SELECT scrape_id, received_mark FROM scrapes WHERE source=? AND base_url=? AND list_name=? AND query=?"
        " AND since=? AND until=?", key,
    ).fetchone()
    return LoreScrape(key[1], scrape.list_name, scrape.query, scrape.since, scrape.until, scrape.max_threads,
                      row[0], row[1])


def _saved_id(store: Store, scrape: LoreScrape) -> int | None:
    row = store.conn.execute(
        "SELECT scrape_id FROM scrapes WHERE source='lore' AND base_url=? AND list_name=? AND query=? AND since=?"
        " AND until=?", (scrape.base_url.rstrip("/"), scrape.list_name, scrape.query, scrape.since, scrape.until),
    ).fetchone()
    return row[0] if row else None


def forget_scrape(store: Store, scrape_id: int) -> None:
    """Delete a saved scrape and its per-thread state (the mail it stored stays)."""
    with store.conn:
        store.conn.execute("DELETE FROM scrape_threads WHERE scrape_id=?", (scrape_id,))
        store.conn.execute("DELETE FROM scrapes WHERE scrape_id=?", (scrape_id,))


def saved_scrapes(store: Store) -> list[LoreScrape]:
    """Every saved lore scrape, oldest first."""
    rows = store.conn.execute(
        "SELECT base_url, list_name, query, since, until, max_threads, scrape_id, received_mark, last_run_at"
        " FROM scrapes WHERE source='lore' ORDER BY scrape_id"
    ).fetchall()
    return [LoreScrape(*row) for row in rows]


def scrape_lore(store: Store, session: PoliteSession, scrape: LoreScrape, progress: bool = True,
                received_after: int | None = None,
                max_matches: int | None = DEFAULT_MAX_MATCHES) -> ScrapeSummary:
    """Run a lore search and store every thread it matches that is not stored yet.

    At most ``max_matches`` matches are followed (None: no cap), fewer if the scrape has its own
    ``max_threads``; the summary says when the cap cut the search.
    """
    search = lore.build_query(scrape.query, scrape.since, scrape.until, received_after)  # fails before saving
    known = scrape.scrape_id is not None or _saved_id(store, scrape) is not None
    scrape = save_scrape(store, scrape)
    try:
        return _run_lore_scrape(store, session, scrape, search, progress, max_matches)
    except (MinerError, OSError):
        started = store.conn.execute("SELECT 1 FROM scrape_threads WHERE scrape_id=? LIMIT 1",
                                     (scrape.scrape_id,)).fetchone()
        if not known and not started:  # a search that never ran (unknown inbox, unreachable host): not kept
            forget_scrape(store, scrape.scrape_id)
        raise


def _run_lore_scrape(store: Store, session: PoliteSession, scrape: LoreScrape, search: str, progress: bool,
                     max_matches: int | None) -> ScrapeSummary:
    target = lore.LoreTarget(scrape.base_url, scrape.list_name)
    label = f"lore {scrape.list_name} {search!r}"
    run_started = int(time.time())
    summary = ScrapeSummary(label, searched=True)
    limits = [n for n in (scrape.max_threads, max_matches) if n]
    limit = min(limits) if limits else None
    outcome = lore.SearchOutcome()
    # the bar counts matches: fetched, or already stored
    with ScrapeRun(store, session, summary, f"scrape {label}", progress, unit=" match") as run:
        ingester, bar = run.ingester, run.bar
        for message_id in _pending_threads(store, scrape.scrape_id):  # an interrupted run's threads, first
            _store_thread(store, session, ingester, summary, scrape.scrape_id, target, message_id,
                          prefer_cache=True)
            bar.update(0)
        for message_id in lore.search_message_ids(session, target, search, limit, outcome,
                                                  on_total=bar.set_total if progress else None):
            summary.matches += 1
            if not session.config.offline and _already_covered(store, scrape.scrape_id, message_id):
                if store.stored_by_run(message_id, ingester.run_id):
                    summary.matches_in_fetched += 1  # its thread came with an earlier match of this run
                else:
                    summary.threads_skipped += 1
                bar.update(1)
                continue
            _store_thread(store, session, ingester, summary, scrape.scrape_id, target, message_id,
                          prefer_cache=session.config.offline)
            bar.update(1)
        if outcome.cut_at is not None and outcome.cut_at == max_matches:
            summary.capped_at = max_matches
        summary.repeated_page = outcome.repeated_page
        with store.conn:
            store.conn.execute("UPDATE scrapes SET last_run_at=?, received_mark=? WHERE scrape_id=?",
                               (utc_now(), run_started, scrape.scrape_id))
        return run.finish()


def scrape_lore_thread(store: Store, session: PoliteSession, target: lore.LoreTarget, message_id: str,
                       progress: bool = True) -> ScrapeSummary:
    """Fetch and store the one thread holding ``message_id``."""
    message_id = clean_message_id(message_id)
    summary = ScrapeSummary(f"lore {target.list_name} thread <{message_id}>")
    with ScrapeRun(store, session, summary, f"scrape lore --msgid {message_id}", progress, unit=" thread",
                   total=1) as run:
        ingester, bar = run.ingester, run.bar
        url, mails = lore.fetch_thread(session, target, message_id, prefer_cache=session.config.offline)
        if not mails:
            raise MinerError(f"{url}: no such thread on {target.base_url} (HTTP 404)")
        ingester.ingest_mails(mails)
        summary.threads_fetched = 1
        bar.update(1)
        return run.finish()


def sync(store: Store, session: PoliteSession, progress: bool = True, overlap: int = SYNC_OVERLAP_SECONDS,
         max_matches: int | None = DEFAULT_MAX_MATCHES,
         failures: list[tuple[LoreScrape, MinerError]] | None = None) -> list[ScrapeSummary]:
    """Re-run every saved scrape, asking only for messages received since its last run (minus ``overlap``).

    With a ``failures`` list, a scrape that fails is recorded there and the others still run;
    without one, the first failure is raised.
    """
    scrapes = saved_scrapes(store)
    if not scrapes:
        raise MinerError(f"{store.path}: no saved scrapes (run 'miner scrape lore' first)")
    summaries = []
    for scrape in scrapes:
        after = scrape.received_mark - overlap if scrape.received_mark is not None else None
        try:
            summaries.append(scrape_lore(store, session, scrape, progress, received_after=after,
                                         max_matches=max_matches))
        except MinerError as error:
            if failures is None:
                raise
            failures.append((scrape, error))
    return summaries


def sync_line(summaries: list[ScrapeSummary], failures: list[tuple[LoreScrape, MinerError]]) -> str:
    """The one total line of a sync: saved searches run, done and failed, threads fetched, new messages."""
    new = sum(summary.messages_new for summary in summaries)
    threads = sum(summary.threads_fetched for summary in summaries)
    return (f"sync: {len(summaries) + len(failures)} saved searches, {len(summaries)} done, {len(failures)} failed;"
            f" {threads:,} threads fetched, {new:,} new messages")


def scrape_threads_done(store: Store, scrape_id: int) -> int:
    """Threads a saved scrape has fetched and stored."""
    return store.conn.execute("SELECT count(*) FROM scrape_threads WHERE scrape_id=? AND status='done'",
                              (scrape_id,)).fetchone()[0]


def describe_scrape(scrape: LoreScrape) -> str:
    """A saved scrape in a few words: its number, list, query and dates."""
    dates = f" {scrape.since or '...'}..{scrape.until or '...'}" if scrape.since or scrape.until else ""
    return f"#{scrape.scrape_id} {scrape.list_name} {scrape.query!r}{dates} on {scrape.base_url}"


def _pending_threads(store: Store, scrape_id: int) -> list[str]:
    rows = store.conn.execute(
        "SELECT message_id FROM scrape_threads WHERE scrape_id=? AND status='fetching' ORDER BY rowid", (scrape_id,)
    ).fetchall()
    return [row[0] for row in rows]


def _already_covered(store: Store, scrape_id: int, message_id: str) -> bool:
    """True if the message is stored (its thread was fetched) or its thread fetch is done."""
    row = store.conn.execute("SELECT ghost FROM messages WHERE message_id=?", (message_id,)).fetchone()
    if row is not None and not row[0]:
        return True
    row = store.conn.execute("SELECT status FROM scrape_threads WHERE scrape_id=? AND message_id=?",
                             (scrape_id, message_id)).fetchone()
    return row is not None and row[0] == "done"


def _store_thread(store: Store, session: PoliteSession, ingester: Ingester, summary: ScrapeSummary, scrape_id: int,
                  target: lore.LoreTarget, message_id: str, prefer_cache: bool) -> None:
    """Fetch and store the thread of one match, marked ``fetching`` until its messages are stored."""
    try:
        url = lore.thread_mbox_url(target, message_id)
    except lore.UnsafeMessageId:  # counted and reported, never requested
        summary.refused_ids.append(message_id)
        return
    with store.conn:
        store.conn.execute(
            "INSERT OR REPLACE INTO scrape_threads(scrape_id, message_id, status, thread_url, messages, fetched_at)"
            " VALUES (?, ?, 'fetching', ?, NULL, NULL)", (scrape_id, message_id, url),
        )
    url, mails = lore.fetch_thread(session, target, message_id, prefer_cache=prefer_cache)
    ingester.ingest_mails(mails)
    with store.conn:
        store.conn.execute(
            "UPDATE scrape_threads SET status='done', messages=?, fetched_at=? WHERE scrape_id=? AND message_id=?",
            (len(mails), utc_now(), scrape_id, message_id),
        )
    summary.threads_fetched += 1


# -- public-inbox git mirrors --------------------------------------------------------------------

def scrape_lore_git(store: Store, session: PoliteSession, target: lore.LoreTarget, epoch: int, mirrors: Path,
                    progress: bool = True) -> ScrapeSummary:
    """Clone or fetch one epoch repository and ingest the commits not ingested yet."""
    run = ScrapeRun(store, session, ScrapeSummary(f"lore-git {target.list_name}/{epoch}"),
                    f"scrape lore-git {target.inbox_url}{epoch}", progress=progress)
    repository = lore.mirror_epoch(session, target, epoch, mirrors)  # the run's clock is already running
    with run:
        run.ingester.ingest_stream(sources.epoch_stream(repository))
        run.summary.notes.append(f"mirror in {repository}")
        return run.finish()


# -- legacy archive pages ------------------------------------------------------------------------

def scrape_urls(store: Store, session: PoliteSession, urls: list[str], max_pages: int = DEFAULT_MAX_PAGES,
                progress: bool = True, archive_name: str | None = None) -> ScrapeSummary:
    """Fetch archive pages and follow their thread links (at most ``max_pages`` pages), storing each message."""
    for url in urls:
        archive_for(url, archive_name)  # unknown archives fail before anything is fetched
    summary = ScrapeSummary("url")
    queue = deque(urls)
    seen: set[str] = set()
    page_ids: dict[str, list] = {}  # page URL -> Message-IDs of its messages
    waiting: list[tuple] = []  # (archive, page mails, parent pages): mails whose parent is named by its page
    with ScrapeRun(store, session, summary, "scrape url " + " ".join(urls), progress, unit=" page") as run:
        ingester, bar = run.ingester, run.bar
        while queue and summary.pages < max_pages:
            url = queue.popleft()
            archive = archive_for(url, archive_name)
            page_url = archive.page_url(url)
            if page_url in seen:
                continue
            seen.add(page_url)
            response = session.fetch(page_url, prefer_cache=True)
            summary.pages += 1
            if response.status != 200:
                summary.notes.append(f"{page_url}: HTTP {response.status}")
                bar.update(1)
                continue
            try:
                result = archive.parse_page(response.body, page_url)
            except MinerError as error:  # one page the parser refuses: kept as a reject, the rest goes on
                if store.add_reject(ingester.run_id, page_url, None, str(error), response.body):
                    ingester.summary.rejected += 1
                summary.rejected_pages.append(str(error))
                bar.update(1)
                continue
            if not archive.verified and archive.name not in summary.unverified:
                summary.unverified.append(archive.name)
            mails = _raw_messages(session, result.raw_urls)
            if len(mails) < len(result.messages):  # raw form not served: the page text will do
                mails = _with_fetch_time(result.messages, response.fetched_at)
                page_ids[page_url] = [_message_id(mail) for mail in mails]
                if any(result.parent_pages):  # parents named by page: stored once their page is read
                    waiting.append((archive, mails, result.parent_pages))
                    mails = []
            else:
                page_ids[page_url] = [_message_id(mail) for mail in mails]
            ingester.ingest_mails(mails)
            queue.extend(link for link in result.links if archive.page_url(link) not in seen)
            bar.update(1)
        ingester.ingest_mails(_with_parents(waiting, page_ids))
        return run.finish()


def _message_id(mail: RawMail) -> str | None:
    from miner.parse import parse_message

    try:
        return parse_message(mail.raw).message_id
    except MinerError:
        return None


def _with_parents(waiting: list, page_ids: dict[str, list]) -> list[RawMail]:
    """The held-back page mails, each naming the Message-ID found on its parent's page (if that page was read)."""
    from miner.fetch.archives.base import with_parent

    mails = []
    for archive, page_mails, parent_pages in waiting:
        for mail, parent_page in zip(page_mails, parent_pages):
            found = page_ids.get(archive.page_url(parent_page), []) if parent_page else []
            mails.append(with_parent(mail, found[0]) if found and found[0] else mail)
    return mails


def _raw_messages(session: PoliteSession, raw_urls: list[str]) -> list[RawMail]:
    """The raw messages an archive serves for a page; none if any of them is missing or not mail."""
    mails = []
    for raw_url in raw_urls:
        raw = session.fetch(raw_url, prefer_cache=True)
        if raw.status != 200 or not has_real_headers(raw.body.lstrip()[:65536]):
            return []
        mails.append(RawMail(raw.body, Provenance("url", raw.url, None, None, raw.fetched_at)))
    return mails


def has_real_headers(data: bytes) -> bool:
    """Mail with a header block holding ``Message-ID:`` and ``Date:``: not marc's body-only "raw" download.

    marc's ``&q=raw`` often returns the body alone, starting with an in-body ``From:`` line that
    looks like a header; such bytes would be stored as a message without its ID or date.
    """
    if not eml.looks_like_message(data[:4096]):
        return False
    head = data.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].lower()
    names = {line.split(b":", 1)[0].strip() for line in head.split(b"\n") if b":" in line and line[:1] not in b" \t"}
    return b"message-id" in names and b"date" in names


def _with_fetch_time(mails: list[RawMail], fetched_at: str) -> list[RawMail]:
    import dataclasses

    return [dataclasses.replace(m, provenance=m.provenance._replace(fetched_at=fetched_at))
            for m in mails]
