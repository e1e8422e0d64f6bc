"""lkml.org message pages (``/lkml/YYYY/M/D/N``).

The page puts the headers in a table whose cells carry schema.org microdata
(``itemprop="author"``, ``datePublished``, ``name`` for the subject) and the body in
``<pre itemprop="articleBody">``, one ``line<br />`` per body line; addresses are removed (``Name <>``) and no Message-ID is shown,
so one is derived from the content. Thread neighbours are the ``/lkml/Y/M/D/N`` links of the
thread list. Not verified
against a saved page (see :attr:`WebArchive.verified <miner.fetch.archives.base.WebArchive>`).
"""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import urlsplit

from miner.fetch.archives.base import PageResult, WebArchive, microdata_fields, page_mail, resolve_links, soup_of, without_fragment

MESSAGE_PATH = re.compile(r"^/lkml/\d{4}/\d{1,2}/\d{1,2}/\d+$")


def page_url(url: str) -> str:
    """The URL to fetch for a page (without its #fragment or trailing slash)."""
    return without_fragment(url).rstrip("/")


def parse_page(html: bytes, url: str) -> PageResult:
    """The message on an lkml.org page and the thread pages it links to."""
    soup = soup_of(html)
    fields = microdata_fields(soup, url, "an lkml.org")
    fields = dataclasses.replace(fields, author=fields.author.replace("<>", "").strip())
    hrefs = [a["href"] for a in soup.select(".threadlist a[href]")]
    links = resolve_links(hrefs, url, page_url, lambda link: bool(MESSAGE_PATH.match(urlsplit(link).path)))
    return PageResult([page_mail(fields, url)], links)


ARCHIVE = WebArchive("lkml-org", ("lkml.org",), parse_page, verified=False, page_url=page_url)
