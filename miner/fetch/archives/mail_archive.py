"""www.mail-archive.com message pages (``/<list address>/msgNNNNN.html``).

A page marks its parts with schema.org microdata (``itemprop="name"`` subject, ``author``,
``datePublished``, ``articleBody``); the "reply via email" link carries the message's own
Message-ID as ``In-Reply-To=<...>``; thread neighbours are ``msgNNNNN.html`` links in the
thread slice. Addresses are hidden, so the sender is a name only.

Thread and search pages show several messages, each its own microdata scope with its own
"reply" link: each is one message.
Not verified against a saved page (see :attr:`WebArchive.verified <miner.fetch.archives.base.WebArchive>`).
"""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import parse_qs, unquote, urlsplit

from miner.fetch.archives.base import (PageResult, WebArchive, message_scopes, microdata_fields, page_mail,
                                      resolve_links, soup_of)
from miner.mid import clean_message_id

MESSAGE_PAGE = re.compile(r"/msg\d+\.html$")


def parse_page(html: bytes, url: str) -> PageResult:
    """The message on a mail-archive.com page and the thread pages it links to."""
    soup = soup_of(html)
    mails = []
    for scope in message_scopes(soup):  # a thread or search page shows several messages
        fields = microdata_fields(scope, url, "a mail-archive.com")
        mails.append(page_mail(dataclasses.replace(fields, message_id=_own_message_id(scope)), url))
    hrefs = [a["href"] for a in soup.select(".tSliceList a[href], .threadlist a[href]")]
    links = resolve_links(hrefs, url, accept=lambda link: bool(MESSAGE_PAGE.search(urlsplit(link).path)))
    return PageResult(mails, links)


def _own_message_id(soup) -> str | None:
    for anchor in soup.find_all("a", href=True):
        if anchor["href"].lower().startswith("mailto:"):
            for key, values in parse_qs(urlsplit(anchor["href"]).query).items():
                if key.lower() == "in-reply-to" and values:
                    return clean_message_id(unquote(values[0])) or None
    return None


ARCHIVE = WebArchive("mail-archive", ("mail-archive.com",), parse_page, verified=False)
