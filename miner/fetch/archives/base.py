"""What every legacy web archive shares: the page interface (:class:`WebArchive`) and page-to-mail conversion.

Each archive (lkml.iu.edu, marc.info, mail-archive.com, lkml.org) is one module that reads its
own pages (``parse_page(html, url) -> PageResult``) and describes itself as one ``ARCHIVE``; what
all of them do alike (the URL worth fetching, links made absolute, microdata, page text to RFC
5322 mail) is here.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urldefrag, urljoin, urlsplit

from miner.errors import MinerError
from miner.model import Provenance, RawMail
from miner.sources.archive_text import PageMessage, derived_message_id, to_rfc822

SPACE = re.compile(r"\s+")


@dataclass
class PageResult:
    """The messages a page shows and the thread pages it links to."""

    messages: list[RawMail]
    links: list[str] = field(default_factory=list)  # in-reply-to / next-in-thread pages, absolute URLs
    raw_urls: list[str] = field(default_factory=list)  # the same messages as raw mail, preferred when served
    parent_pages: list[str | None] = field(default_factory=list)  # per message: the page of its parent, when
    # the page names the parent by its page only (marc's "prev in thread"), not by Message-ID


@dataclass
class PageFields:
    """One message as an archive page shows it."""

    subject: str
    author: str  # "Name <address>" or what the page shows
    date: str  # RFC 2822
    body: str
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)  # oldest first, ending with in_reply_to


def without_fragment(url: str) -> str:
    """The URL to fetch for a page: ``url`` without its #fragment."""
    return urldefrag(url)[0]


@dataclass(frozen=True)
class WebArchive:
    """One legacy web archive: its name, its hosts, how it reads a page and which URL a page is fetched by."""

    name: str  # what ``miner scrape url --archive`` takes
    hosts: tuple[str, ...]  # a URL on one of these (or a subdomain) is this archive's page
    parse_page: Callable[[bytes, str], PageResult]  # (html, url) -> the page's messages and links
    # A real saved page has checked the parser. An unverified one (no saved page was available offline:
    # the shared corpus MANIFEST, section 4e) refuses pages without the markup it relies on, and
    # ``miner scrape url`` says in its summary that it ran.
    verified: bool
    page_url: Callable[[str], str] = without_fragment  # the URL worth fetching for a page's URL

    def serves(self, url: str) -> bool:
        """True if ``url`` is on one of this archive's hosts."""
        host = (urlsplit(url).hostname or "").lower()
        return any(host == known or host.endswith("." + known) for known in self.hosts)


def soup_of(html: bytes | str):
    """The parsed HTML of a page (BeautifulSoup with lxml; imported here, when a page is read)."""
    from bs4 import BeautifulSoup

    return BeautifulSoup(html, "lxml")


def page_mail(fields: PageFields, url: str) -> RawMail:
    """RFC 5322 bytes for a page message (real Message-ID when the page has one, else a derived one)."""
    message = PageMessage(fields.subject, fields.author, fields.date, fields.body)
    message_id = fields.message_id or derived_message_id(message)
    raw = to_rfc822(message, message_id, fields.in_reply_to, url)
    if fields.in_reply_to and len(fields.references) > 1:  # to_rfc822 names the parent only: give the chain
        chain = " ".join(f"<{reference}>" for reference in fields.references)
        raw = raw.replace(f"\nReferences: <{fields.in_reply_to}>\n".encode(), f"\nReferences: {chain}\n".encode(), 1)
    return RawMail(raw, Provenance("url", url))


def with_parent(mail: RawMail, parent_id: str) -> RawMail:
    """A page mail (built by :func:`page_mail`) that names ``parent_id`` as the message it answers."""
    head, _, body = mail.raw.partition(b"\n\n")
    lines = [line for line in head.split(b"\n") if not line.lower().startswith((b"in-reply-to:", b"references:"))]
    lines.insert(4, f"In-Reply-To: <{parent_id}>\nReferences: <{parent_id}>".encode())
    return RawMail(b"\n".join(lines) + b"\n\n" + body, mail.provenance)


def clean_text(value: str | None) -> str:
    """Unescape HTML entities and fold whitespace."""
    return SPACE.sub(" ", html_lib.unescape(value or "")).strip()


def itemprop_text(soup, name: str) -> str:
    """Text of the first element with schema.org microdata ``itemprop=name`` ('' if absent).

    ``<br>`` is a line break: lkml.org writes a body's lines as ``line<br />`` inside its ``<pre>``,
    and ``get_text()`` alone would join them ("Hi all,second line").
    """
    element = soup.find(attrs={"itemprop": name})
    if element is None:
        return ""
    for line_break in element.find_all("br"):
        line_break.replace_with("\n")
    return element.get_text()


def message_scopes(soup) -> list:
    """The microdata scopes of a page that each hold one message (an ``itemscope`` with an articleBody).

    Thread and search pages of mail-archive.com show several messages; a message page shows one
    (then the whole page is its scope).
    """
    scopes = [element for element in soup.find_all(attrs={"itemscope": True})
              if element.find(attrs={"itemprop": "articleBody"}) is not None]
    leaves = [scope for scope in scopes if not any(other in scope.descendants for other in scopes)]
    return leaves if len(leaves) > 1 else [soup]


def microdata_fields(soup, url: str, archive: str) -> PageFields:
    """Subject, author, date and body from schema.org microdata (name, author, datePublished, articleBody)."""
    body = itemprop_text(soup, "articleBody")
    subject = clean_text(itemprop_text(soup, "name"))
    if not body or not subject:
        raise MinerError(f"{url}: not {archive} message page (no articleBody/name microdata)")
    return PageFields(subject=subject, author=clean_text(itemprop_text(soup, "author")),
                      date=clean_text(itemprop_text(soup, "datePublished")), body=body.strip("\n") + "\n")


def resolve_links(hrefs: Iterable[str], url: str, page_url: Callable[[str], str] = without_fragment,
                  accept: Callable[[str], bool] = lambda link: True) -> list[str]:
    """Absolute page URLs of ``hrefs`` (relative to ``url``), in order, without repeats or the page itself."""
    here = page_url(url)
    links = []
    for href in hrefs:
        link = page_url(urljoin(url, href))
        if link != here and link not in links and accept(link):
            links.append(link)
    return links
