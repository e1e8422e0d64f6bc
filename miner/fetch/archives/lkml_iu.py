"""lkml.iu.edu message pages: hypermail (1995-2002) and MHonArc (2003 on).

Both archivers leave the message's headers in HTML comments: hypermail as ``<!-- id="..." -->``,
``inreplyto``, ``name``, ``email``, ``sent``; MHonArc as ``<!--X-Message-Id: -->``,
``<!--X-Reference: -->``, ``<!--X-Date: -->`` and the sender in ``<!--X-From-R13: -->``, a
reversible rotation (MHonArc's ``mrot13``) that survives the archive's ``xxxxxx`` address masking.
"""

from __future__ import annotations

import re
from email.utils import formataddr, parseaddr

from miner.errors import MinerError
from miner.fetch.archives.base import PageFields, PageResult, WebArchive, clean_text, page_mail, resolve_links, soup_of

HYPERMAIL_COMMENT = re.compile(r'^\s*(\w+)="(.*)"\s*$', re.DOTALL)
MHONARC_COMMENT = re.compile(r"^X-([\w-]+): ?(.*?)\s*$", re.DOTALL)
THREAD_LINK_LABELS = ("in reply to", "maybe in reply to", "next in thread", "reply")
# MHonArc's mrot13: tr/@A-Z[a-z/N-Z[@A-Mn-za-m/ (a 27-letter rotation of @A-Z[ and rot13 of a-z)
_R13_PLAIN = "@ABCDEFGHIJKLMNOPQRSTUVWXYZ[abcdefghijklmnopqrstuvwxyz"
_R13_CODED = "NOPQRSTUVWXYZ[@ABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm"
R13_DECODE = str.maketrans(_R13_CODED, _R13_PLAIN)


def decode_r13(value: str) -> str:
    """Undo MHonArc's X-From-R13 rotation: ``Oy Hveb <ivebNsgc.yvahk.bet.hx>`` -> ``Al Viro <viro@ftp.linux.org.uk>``."""
    return value.translate(R13_DECODE)


def parse_page(html: bytes, url: str) -> PageResult:
    """The message on an lkml.iu.edu page and its in-reply-to / next-in-thread / reply links."""
    from bs4 import Comment

    soup = soup_of(html)
    comments = [str(c) for c in soup.find_all(string=lambda s: isinstance(s, Comment))]
    text = html.decode(soup.original_encoding or "utf-8", errors="replace")
    if any(c.startswith("X-Message-Id:") for c in comments):
        fields = _mhonarc_fields(comments, text)
    elif any(c.strip().startswith('id="') for c in comments):
        fields = _hypermail_fields(comments, text)
    else:
        raise MinerError(f"{url}: not an lkml.iu.edu message page (no hypermail or MHonArc header comments)")
    return PageResult([page_mail(fields, url)], thread_links(soup, url))


def thread_links(soup, url: str) -> list[str]:
    """Absolute URLs of the thread neighbours named in the page's navigation lists."""
    hrefs = []
    for item in soup.find_all("li"):
        label = item.find(["b", "strong"])
        anchor = item.find("a", href=True)
        if label is not None and anchor is not None:
            if label.get_text().strip().rstrip(":").strip().lower() in THREAD_LINK_LABELS:
                hrefs.append(anchor["href"])
    return resolve_links(hrefs, url)


def _body_between(text: str, start: str, end: str) -> str:
    begin = text.find(start)
    finish = text.find(end, begin + len(start))
    if begin < 0 or finish < 0:
        return ""
    fragment = soup_of(text[begin + len(start):finish])
    return fragment.get_text().strip("\n") + "\n"


def _hypermail_fields(comments: list[str], text: str) -> PageFields:
    values = {}
    for comment in comments:
        match = HYPERMAIL_COMMENT.match(comment)
        if match and match.group(1) not in values:
            values[match.group(1)] = clean_text(match.group(2))
    name, email = values.get("name", ""), values.get("email", "")
    author = formataddr((name if name != email else "", email)) if email else name
    return PageFields(
        subject=values.get("subject", ""),
        author=author,
        date=values.get("sent", ""),
        body=_body_between(text, '<!-- body="start" -->', '<!-- body="end" -->'),
        message_id=values.get("id") or None,
        in_reply_to=values.get("inreplyto") or None,
    )


def _mhonarc_fields(comments: list[str], text: str) -> PageFields:
    values: dict[str, list[str]] = {}
    for comment in comments:
        match = MHONARC_COMMENT.match(comment)
        if match:
            values.setdefault(match.group(1), []).append(clean_text(match.group(2)))

    def first(name: str) -> str:
        return values.get(name, [""])[0]

    sender = decode_r13(first("From-R13"))
    name, address = parseaddr(sender)
    references = values.get("Reference", [])
    return PageFields(
        subject=first("Subject"),
        author=formataddr((name, address)) if address else sender,
        date=first("Date"),
        body=_body_between(text, "<!--X-Body-of-Message-->", "<!--X-Body-of-Message-End-->"),
        message_id=first("Message-Id") or None,
        in_reply_to=references[-1] if references else None,
        references=references,
    )


ARCHIVE = WebArchive("lkml-iu", ("lkml.iu.edu",), parse_page, verified=True)  # checked on tests/fixtures/html
