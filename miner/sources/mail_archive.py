"""www.mail-archive.com message pages (``/<list address>/msgNNNNN.html``).

A page marks its parts with schema.org microdata (``itemprop="name"`` subject, ``author``,
``datePublished``, ``articleBody``); the "reply via email" link carries the message's own
Message-ID as ``In-Reply-To=<...>``; thread neighbours are ``msgNNNNN.html`` links in the
thread slice. Addresses are hidden, so the sender is a name only.

Not verified against a saved page: none was available offline (see the shared corpus
MANIFEST, section 4e); the parser refuses pages without the microdata it relies on.
"""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import parse_qs, unquote, urldefrag, urlsplit

from bs4 import BeautifulSoup

from miner.sources.webpage import PageResult, microdata_fields, page_mail, resolve_links

HOSTS = ("mail-archive.com",)
MESSAGE_PAGE = re.compile(r"/msg\d+\.html$")


def page_url(url: str) -> str:
    """The URL to fetch for a page (without its #fragment)."""
    return urldefrag(url)[0]


def parse_page(html: bytes, url: str) -> PageResult:
    """The message on a mail-archive.com page and the thread pages it links to."""
    soup = BeautifulSoup(html, "lxml")
    fields = dataclasses.replace(microdata_fields(soup, url, "a mail-archive.com"), message_id=_own_message_id(soup))
    hrefs = [a["href"] for a in soup.select(".tSliceList a[href], .threadlist a[href]")]
    links = resolve_links(hrefs, url, page_url, lambda link: bool(MESSAGE_PAGE.search(urlsplit(link).path)))
    return PageResult([page_mail(fields, url)], links)


def _own_message_id(soup: BeautifulSoup) -> str | None:
    for anchor in soup.find_all("a", href=True):
        if anchor["href"].lower().startswith("mailto:"):
            for key, values in parse_qs(urlsplit(anchor["href"]).query).items():
                if key.lower() == "in-reply-to" and values:
                    return unquote(values[0]).strip().strip("<>") or None
    return None
