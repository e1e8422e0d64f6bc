"""lore.kernel.org and any public-inbox server: search via Atom, threads as ``t.mbox.gz``.

URL shapes follow public-inbox's own code (``SearchView.pm``, ``SearchQuery.pm``,
``WwwAtomStream.pm``): ``/<list>/?q=<query>&x=A&o=<offset>`` gives up to 200 matches per page
as Atom entries whose ``<link href>`` is ``<base>/<list>/<escaped Message-ID>/``; an empty result
is HTTP 404. The feed does not say how many messages match; the HTML result page does, at its foot
(``search_nav_bot``: "Results 1-1 of ~1234", ``~`` when Xapian estimated it). ``/<list>/<Message-ID>/t.mbox.gz`` is the whole thread as gzip mboxrd.
Query prefixes: ``d:YYYYMMDD..YYYYMMDD`` (date) and ``rt:<epoch>..`` (received time).
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from collections.abc import Callable
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from urllib.parse import quote, unquote, urlencode, urlsplit

from lxml import etree

from miner.errors import MinerError
from miner import mid
from miner.model import RawMail
from miner.fetch.http import PoliteSession
from miner.sources.mbox import split_mbox

PAGE_SIZE = 200  # public-inbox's SearchQuery $LIM: the most results one page returns
ATOM = "{http://www.w3.org/2005/Atom}"
RESULTS_LINE = re.compile(r"Results \d+-\d+ of ~?(\d+)|No more results, only (\d+)")
DOT_SEGMENTS = ("", ".", "..")  # path segments that would move the URL out of /<list>/<id>/


class UnsafeMessageId(MinerError):
    """A Message-ID that cannot become one URL path segment (it would be ``.``, ``..`` or empty)."""


@dataclasses.dataclass
class SearchOutcome:
    """How a search ended: pages asked for, and what stopped it early."""

    pages: int = 0
    total: int | None = None  # how many messages the server says match (None: it did not say)
    cut_at: int | None = None  # the limit that stopped it while the server had more matches
    repeated_page: bool = False  # a full page brought no new Message-ID: pagination that never ends


@dataclasses.dataclass(frozen=True)
class LoreTarget:
    """One inbox on one public-inbox server."""

    base_url: str
    list_name: str

    @property
    def inbox_url(self) -> str:
        """``<base>/<list>/``."""
        return f"{self.base_url.rstrip('/')}/{self.list_name}/"


def build_query(query: str | None, since: str | None = None, until: str | None = None,
                received_after: int | None = None) -> str:
    """A public-inbox search string: the user's query plus d: and rt: ranges.

    The query is parenthesised when a range is added: public-inbox's Xapian parser binds the
    implicit AND of ``a OR b d:...`` tighter than OR (``a OR (b d:...)``), so without the
    parentheses the range would limit only the last alternative.
    """
    query = query.strip() if query else ""
    terms = [query] if query else []
    if query and (since or until or received_after is not None):
        terms = [f"({query})"]
    if since or until:
        terms.append(f"d:{_yyyymmdd(since)}..{_yyyymmdd(until)}")
    if received_after is not None:
        terms.append(f"rt:{int(received_after)}..")
    if not terms:
        raise MinerError("lore search: give --query, --since or --until (an empty search would match the whole list)")
    return " ".join(terms)


def _yyyymmdd(value: str | None) -> str:
    if not value:
        return ""
    try:
        return date.fromisoformat(value[:10]).strftime("%Y%m%d")
    except ValueError as error:
        raise MinerError(f"{value!r}: not a date (expected YYYY-MM-DD)") from error


def search_page_url(target: LoreTarget, search: str, offset: int) -> str:
    """URL of one Atom page of search results."""
    params = {"q": search, "x": "A"}
    if offset:
        params["o"] = str(offset)
    return target.inbox_url + "?" + urlencode(params, quote_via=quote)


def search_count_url(target: LoreTarget, search: str) -> str:
    """URL of the HTML result page of a search with one result on it: its foot says how many match."""
    return target.inbox_url + "?" + urlencode({"q": search, "l": "1"}, quote_via=quote)


def search_match_count(session: PoliteSession, target: LoreTarget, search: str) -> int | None:
    """How many messages the server says ``search`` matches (0 for its 404 of no results; None if it does not say)."""
    response = session.fetch(search_count_url(target, search))
    if response.status == 404:
        return 0
    match = RESULTS_LINE.search(response.body.decode("utf-8", "replace")) if response.status == 200 else None
    return int(match.group(1) or match.group(2)) if match else None


def escape_message_id(message_id: str) -> str:
    """``message_id`` as one URL path segment, escaped as public-inbox's ``mid_escape`` does.

    Everything outside RFC 3986's segment characters (``/``, ``?``, ``#``, ``%``, spaces, non-ASCII)
    becomes %XX of its UTF-8 bytes, so no ID can add a segment, a query or a fragment. Dots are left
    as they are (as public-inbox does), so an ID that is ``.`` or ``..`` (or empty) would still move
    the URL (``/lkml/../t.mbox.gz`` is ``/t.mbox.gz``): those raise UnsafeMessageId.
    """
    escaped = mid.escape_message_id(message_id)
    if escaped in DOT_SEGMENTS:
        raise UnsafeMessageId(f"Message-ID {message_id!r}: would be the URL path segment {escaped!r}, which leaves"
                              f" the thread's URL; not requested")
    return escaped


def thread_mbox_url(target: LoreTarget, message_id: str) -> str:
    """URL of the gzip mboxrd of the whole thread holding ``message_id`` (unsafe IDs raise UnsafeMessageId)."""
    return f"{target.inbox_url}{escape_message_id(message_id)}/t.mbox.gz"


def parse_atom_message_ids(body: bytes, url: str) -> list[str]:
    """Message-IDs of the entries of an Atom feed, in feed order."""
    try:
        root = etree.fromstring(body, parser=etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    except etree.XMLSyntaxError as error:
        raise MinerError(f"{url}: not an Atom feed ({error})") from error
    if root.tag != f"{ATOM}feed":
        raise MinerError(f"{url}: not an Atom feed (root element {root.tag!r})")
    found = []
    for entry in root.iter(f"{ATOM}entry"):
        for link in entry.findall(f"{ATOM}link"):
            href = link.get("href")
            if href and link.get("rel") in (None, "alternate"):
                path = urlsplit(href).path.rstrip("/")
                found.append(unquote(path.rsplit("/", 1)[-1]))
                break
    return found


def check_inbox(session: PoliteSession, target: LoreTarget) -> None:
    """MinerError when the server has no inbox ``target.list_name`` (its top page is a 404 too)."""
    response = session.fetch(target.inbox_url)
    if response.status == 404:
        raise MinerError(f"{target.inbox_url}: no inbox {target.list_name!r} on {target.base_url} (HTTP 404);"
                         " check --list")


def search_message_ids(session: PoliteSession, target: LoreTarget, search: str, limit: int | None = None,
                       outcome: SearchOutcome | None = None,
                       on_total: Callable[[int], object] | None = None) -> Iterator[str]:
    """Each Message-ID the server's search returns, once, newest first, page by page, at most ``limit``.

    ``outcome`` (if given) learns how the search ended: cut at ``limit`` while the server had more,
    or stopped because a full page repeated only Message-IDs already seen. ``on_total`` (if given)
    is told how many messages match once the first page is in: a first page that is not full holds
    them all; after a full one the server is asked (one more request, :func:`search_match_count`).
    """
    outcome = outcome if outcome is not None else SearchOutcome()
    offset = 0
    seen: set[str] = set()
    while True:
        url = search_page_url(target, search, offset)
        response = session.fetch(url)
        outcome.pages += 1
        if response.status == 404:
            if offset == 0:
                check_inbox(session, target)  # a 404 is also what an unknown inbox answers
            return  # public-inbox: "[No results found]"
        if response.status != 200:
            raise MinerError(f"{url}: search failed with HTTP {response.status}")
        ids = parse_atom_message_ids(response.body, url)
        if offset == 0 and on_total is not None:
            outcome.total = len(set(ids)) if len(ids) < PAGE_SIZE else search_match_count(session, target, search)
            if outcome.total is not None:
                on_total(min(outcome.total, limit) if limit is not None else outcome.total)
        new = [message_id for message_id in dict.fromkeys(ids) if message_id not in seen]
        for message_id in new:
            if limit is not None and len(seen) >= limit:
                outcome.cut_at = limit
                return
            seen.add(message_id)
            yield message_id
        if len(ids) < PAGE_SIZE:
            return
        if not new:
            outcome.repeated_page = True
            return
        if limit is not None and len(seen) >= limit:
            outcome.cut_at = limit  # a full page: the server has more
            return
        offset += len(ids)


def fetch_thread(session: PoliteSession, target: LoreTarget, message_id: str,
                 prefer_cache: bool = False) -> tuple[str, list[RawMail]]:
    """The URL and messages of the thread holding ``message_id`` (one request, never one per message)."""
    url = thread_mbox_url(target, message_id)
    response = session.fetch(url, prefer_cache=prefer_cache, gunzip=True)
    if response.status == 404:
        return url, []
    if response.status != 200:
        raise MinerError(f"{url}: HTTP {response.status} for the thread mbox")
    data = response.data or b""
    mails = []
    for mail in split_mbox(data.splitlines(keepends=True), response.url, "lore"):  # the URL that answered
        provenance = mail.provenance._replace(list_id=None, fetched_at=response.fetched_at)
        mails.append(dataclasses.replace(mail, provenance=provenance))
    return url, mails


def mirror_epoch(session: PoliteSession, target: LoreTarget, epoch: int, mirrors: Path) -> Path:
    """Clone (``git clone --mirror``) or update (``git fetch``) one epoch repository; returns its path."""
    url = f"{target.inbox_url}{epoch}"
    session.check_allowed(url)
    if session.config.offline:
        raise MinerError(f"{url}: a git mirror cannot be fetched offline")
    destination = mirrors / target.list_name / f"{epoch}.git"
    git = ["git", "-c", f"http.userAgent={session.config.user_agent}"]
    if (destination / "HEAD").is_file():
        _run_git([*git, f"--git-dir={destination}", "fetch", "--prune", "--quiet"], url)
        return destination
    partial = destination.with_name(destination.name + ".partial")
    if partial.exists():  # a clone that was interrupted: git cannot resume it, start over
        import shutil

        shutil.rmtree(partial)
    partial.parent.mkdir(parents=True, exist_ok=True)
    _run_git([*git, "clone", "--mirror", "--quiet", url, str(partial)], url)
    partial.rename(destination)
    return destination


def _run_git(command: list[str], url: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        raise MinerError(f"{url}: git failed ({lines[-1] if lines else f'exit {result.returncode}'})")
