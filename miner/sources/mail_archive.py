"""www.mail-archive.com message pages (``/<list address>/msgNNNNN.html``).

A page marks its parts with schema.org microdata (``itemprop="name"`` subject, ``author``,
``datePublished``, ``articleBody``); the "reply via email" link carries the message's own
Message-ID as ``In-Reply-To=<...>``; thread neighbours are ``msgNNNNN.html`` links in the
thread slice. Addresses are hidden, so the sender is a name only.

Not verified against a saved page: none was available offline (see the shared corpus
MANIFEST, section 4e); the parser refuses pages without the microdata it relies on.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urldefrag, urljoin, urlsplit

from bs4 import BeautifulSoup

from miner.errors import MinerError
from miner.sources.webpage import PageFields, PageResult, clean_text, itemprop_text, page_mail

HOSTS = ("mail-archive.com",)
MESSAGE_PAGE = re.compile(r"/msg\d+\.html$")


def page_url(url: str) -> str:
    """The URL to fetch for a page (without its #fragment)."""
    return urldefrag(url)[0]


def parse_page(html: bytes, url: str) -> PageResult:
    """The message on a mail-archive.com page and the thread pages it links to."""
    soup = BeautifulSoup(html, "lxml")
    body = itemprop_text(soup, "articleBody")
    subject = clean_text(itemprop_text(soup, "name"))
    if not body or not subject:
        raise MinerError(f"{url}: not a mail-archive.com message page (no articleBody/name microdata)")
    fields = PageFields(
        subject=subject,
        author=clean_text(itemprop_text(soup, "author")),
        date=clean_text(itemprop_text(soup, "datePublished")),
        body=body.strip("\n") + "\n",
        message_id=_own_message_id(soup),
    )
    links = []
    for anchor in soup.select(".tSliceList a[href], .threadlist a[href]"):
        target = page_url(urljoin(url, anchor["href"]))
        if MESSAGE_PAGE.search(urlsplit(target).path) and target != page_url(url) and target not in links:
            links.append(target)
    return PageResult([page_mail(fields, url)], links)


def _own_message_id(soup: BeautifulSoup) -> str | None:
    for anchor in soup.find_all("a", href=True):
        if anchor["href"].lower().startswith("mailto:"):
            query = parse_qs(urlsplit(anchor["href"]).query)
            for key, values in query.items():
                if key.lower() == "in-reply-to" and values:
                    return unquote(values[0]).strip().strip("<>") or None
    return None
