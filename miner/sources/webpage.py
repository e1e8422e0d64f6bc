"""What every legacy web-archive module shares: the page interface and page-to-mail conversion.

Each archive (lkml.iu.edu, marc.info, mail-archive.com, lkml.org) is one module with
``HOSTS``, ``page_url(url)`` (the URL worth fetching for a page) and
``parse_page(html, url) -> PageResult``. :func:`archive_for` picks the module for a URL.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass, field
from types import ModuleType
from urllib.parse import urlsplit

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


ARCHIVE_NAMES = ("lkml-iu", "marc", "mail-archive", "lkml-org")


def microdata_fields(soup, url: str, archive: str) -> PageFields:
    """Subject, author, date and body from schema.org microdata (name, author, datePublished, articleBody)."""
    body = itemprop_text(soup, "articleBody")
    subject = clean_text(itemprop_text(soup, "name"))
    if not body or not subject:
        raise MinerError(f"{url}: not {archive} message page (no articleBody/name microdata)")
    return PageFields(subject=subject, author=clean_text(itemprop_text(soup, "author")),
                      date=clean_text(itemprop_text(soup, "datePublished")), body=body.strip("\n") + "\n")


def resolve_links(hrefs, url: str, page_url, accept=lambda link: True) -> list[str]:
    """Absolute page URLs of ``hrefs`` (relative to ``url``), in order, without repeats or the page itself."""
    from urllib.parse import urljoin

    here = page_url(url)
    links = []
    for href in hrefs:
        link = page_url(urljoin(url, href))
        if link != here and link not in links and accept(link):
            links.append(link)
    return links


def archive_for(url: str, name: str | None = None) -> ModuleType:
    """The archive module that reads pages of ``url``'s host (or the one ``name``d, for mirrors)."""
    from miner.sources import lkml_iu, lkml_org, mail_archive, marc

    modules = dict(zip(ARCHIVE_NAMES, (lkml_iu, marc, mail_archive, lkml_org)))
    if name is not None:
        if name not in modules:
            raise MinerError(f"{name!r}: unknown archive (one of {', '.join(ARCHIVE_NAMES)})")
        return modules[name]
    host = (urlsplit(url).hostname or "").lower()
    for module in modules.values():
        if any(host == known or host.endswith("." + known) for known in module.HOSTS):
            return module
    raise MinerError(f"{url}: not a page of a supported archive (lkml.iu.edu, marc.info, mail-archive.com, lkml.org)")
