"""lkml.org message pages (``/lkml/YYYY/M/D/N``).

The page puts the headers in a table whose cells carry schema.org microdata
(``itemprop="author"``, ``datePublished``, ``name`` for the subject) and the body in
``<pre itemprop="articleBody">``; addresses are removed (``Name <>``) and no Message-ID is shown,
so one is derived from the content. Thread neighbours are the ``/lkml/Y/M/D/N`` links of the
thread list.

Not verified against a saved page: none was available offline (see the shared corpus
MANIFEST, section 4e); the parser refuses pages without the microdata it relies on.
"""

from __future__ import annotations

import re
from urllib.parse import urldefrag, urljoin, urlsplit

from bs4 import BeautifulSoup

from miner.errors import MinerError
from miner.sources.webpage import PageFields, PageResult, clean_text, itemprop_text, page_mail

HOSTS = ("lkml.org",)
MESSAGE_PATH = re.compile(r"^/lkml/\d{4}/\d{1,2}/\d{1,2}/\d+$")


def page_url(url: str) -> str:
    """The URL to fetch for a page (without its #fragment or trailing slash)."""
    return urldefrag(url)[0].rstrip("/")


def parse_page(html: bytes, url: str) -> PageResult:
    """The message on an lkml.org page and the thread pages it links to."""
    soup = BeautifulSoup(html, "lxml")
    body = itemprop_text(soup, "articleBody")
    subject = clean_text(itemprop_text(soup, "name"))
    if not body or not subject:
        raise MinerError(f"{url}: not an lkml.org message page (no articleBody/name microdata)")
    author = clean_text(itemprop_text(soup, "author")).replace("<>", "").strip()
    fields = PageFields(subject=subject, author=author, date=clean_text(itemprop_text(soup, "datePublished")),
                        body=body.strip("\n") + "\n")
    links = []
    for list_element in soup.select(".threadlist"):
        for anchor in list_element.find_all("a", href=True):
            target = page_url(urljoin(url, anchor["href"]))
            if MESSAGE_PATH.match(urlsplit(target).path) and target != page_url(url) and target not in links:
                links.append(target)
    return PageResult([page_mail(fields, url)], links)
