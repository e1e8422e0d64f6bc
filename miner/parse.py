"""Parse raw RFC 5322 bytes into a :class:`~miner.model.Message` (pure functions)."""

from __future__ import annotations

import binascii
import hashlib
import quopri
import re
from datetime import datetime, timedelta, timezone
from email import message_from_bytes
from email.header import decode_header
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime

from miner import body as body_split
from miner.trailers import find_trailers
from miner.errors import MinerError
from miner.limits import MAX_HEADER_CHARS, MAX_REFERENCES
from miner.model import Message
from miner.mid import all_msgids, first_msgid
from miner.utc import utc_text_of_utc

ENCODED_ID_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
BRACKET = re.compile(r"^\s*\[([^\]]*)\]\s*")
REPLY_PREFIX = re.compile(r"^\s*(?:re|fwd?|aw|sv|antw|odp)\s*(?:\[\d+\])?\s*:\s*", re.IGNORECASE)
PATCH_COUNTER = re.compile(r"^(\d+)/(\d+)$")
PATCH_VERSION = re.compile(r"^v(\d+)$", re.IGNORECASE)
GLUED_VERSION = re.compile(r"^PATCH[vV](\d+)$")  # "[PATCHv2]"
MARKER_SEPARATOR = re.compile(r"[\s,]+")  # between the words of a "[PATCH v3 2/7]"
KNOWN_TAGS = {"PATCH", "RFC", "RESEND", "PULL", "GIT", "SYZBOT", "BUG", "REPORT", "TIP"}  # "[GIT PULL]" gives GIT, PULL
TZ_NAMES = {"EST": "-0500", "EDT": "-0400", "CST": "-0600", "CDT": "-0500", "MST": "-0700",
            "MDT": "-0600", "PST": "-0800", "PDT": "-0700", "UT": "+0000", "GMT": "+0000",
            "UTC": "+0000", "CET": "+0100", "CEST": "+0200", "MET": "+0100", "MEST": "+0200"}
TZ_NAME = re.compile(r"\b(?:" + "|".join(TZ_NAMES) + r")\b")
SIMPLE_FROM = re.compile(r'^\s*(?:"([^"\\]*)"|([^"<>;@]*?))\s*<([^<>\s@]+@[^<>\s]+)>\s*$')
BARE_ADDRESS = re.compile(r"^\s*<?([^<>\s@]+@[^<>\s]+?)>?\s*$")
COMMON_DATE = re.compile(
    r"\s*(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{1,2}):(\d\d)(?::(\d\d))?\s+([+-])(\d\d)(\d\d)"
    r"(?:\s*\([^)]*\))?\s*$"
)
MONTHS = {name: number for number, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
EARLIEST_PLAUSIBLE = datetime(1991, 1, 1, tzinfo=timezone.utc)
LATEST_PLAUSIBLE = datetime.now(timezone.utc) + timedelta(days=366)  # later dates are clock errors


class ParseError(MinerError):
    """The bytes are not a mail message we can store."""


def parse_message(raw: bytes, archive_date: str | None = None) -> Message:
    """Parse one message; ``archive_date`` (UTC ISO) is used if the Date header is unusable."""
    return parse_message_and_lines(raw, archive_date)[0]


def parse_message_and_lines(raw: bytes, archive_date: str | None = None) -> tuple[Message, list[str],
                                                                                list[tuple[int, int]]]:
    """:func:`parse_message`, the lines of its body (``body.split("\\n")``, made for the scan anyway:
    splitting the btrfs bodies again for the store's prose_spans took 0.45 of its 0.8 CPU s) and the runs
    of those lines its prose joins (:func:`miner.body.prose_runs`: where the store's prose spans are,
    not looked for again)."""
    if not raw or raw.isspace():  # isspace: no copy of the mail, as strip() made
        raise ParseError("empty message")
    first_line_end = raw.find(b"\n")
    if b"\r" in raw[:first_line_end if first_line_end >= 0 else len(raw)].rstrip(b"\r"):
        raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")  # old Mac line ends: CR alone
    if raw.startswith(b"From ") or raw.startswith(b">From "):
        first_newline = raw.find(b"\n")
        raw = raw[first_newline + 1:] if first_newline >= 0 else b""
    split = header_split(raw)
    headers, cut = parse_header_block(raw[: split[0]] if split else raw)
    if cut is not None:  # no blank line after the headers: the body starts at the first non-header line
        split = (cut, cut)
    if not headers:
        raise ParseError("no mail headers found")
    if not ("from" in headers or "subject" in headers or "message-id" in headers or "date" in headers):
        raise ParseError("no From, Subject, Message-ID or Date header")

    own_ids = all_msgids([id_header_text(value) for value in raw_headers(headers, "Message-ID")], bare=True)
    message_id = own_ids[0] if own_ids else None
    synthetic = False
    if not message_id:
        message_id = "no-message-id-" + hashlib.sha256(raw).hexdigest()[:32] + "@lkml-miner.invalid"
        synthetic = True
    # public-inbox (mids_for_index) indexes a second Message-ID and X-Alt-Message-ID too: replies to
    # them join this message's thread (all_msgids reads each value alone: the Message-IDs' are own_ids)
    alt_ids = all_msgids([id_header_text(value) for value in raw_headers(headers, "X-Alt-Message-ID")], bare=True)
    alias_ids = [mid for mid in dict.fromkeys(own_ids + alt_ids) if mid != message_id]
    notes: list[str] = []
    references = all_msgids([id_header_text(value) for value in raw_headers(headers, "References")])
    in_reply_to_ids = all_msgids([id_header_text(value) for value in raw_headers(headers, "In-Reply-To")])
    not_ids = _not_message_ids(headers, references + in_reply_to_ids)
    if not_ids:
        references = [ref for ref in references if ref not in not_ids]
        in_reply_to_ids = [ref for ref in in_reply_to_ids if ref not in not_ids]
    if len(references) > MAX_REFERENCES:
        # the first is the root and the last the nearest ancestors: the ones threading needs
        notes.append(f"references: {len(references)} Message-IDs, {MAX_REFERENCES} kept (the first and the latest)")
        references = references[:1] + references[-(MAX_REFERENCES - 1):]
    in_reply_to = in_reply_to_ids[0] if in_reply_to_ids else None

    subject = decode_text_header(_bounded(raw_header(headers, "Subject"), "subject", notes)) or ""
    subject = " ".join(subject.split())
    markers = subject_markers(subject)
    from_name, from_email = parse_from(decode_text_header(_bounded(raw_header(headers, "From"), "from", notes)) or "")
    date, flagged = normalise_date(raw_header(headers, "Date"), archive_date)
    list_id_header = id_header_text(raw_header(headers, "List-Id"))
    list_id = first_msgid(list_id_header) or (list_id_header or "").strip() or None

    text = decode_body(raw, headers, split[1] if split else len(raw))
    scanned = body_split.scan(text)
    runs = body_split.prose_runs(scanned)
    message = Message(
        message_id=message_id,
        subject=subject,
        base_subject=markers["base_subject"],
        from_name=from_name,
        from_email=from_email,
        date=date,
        date_flagged=flagged,
        in_reply_to=in_reply_to if in_reply_to != message_id else None,
        references=[r for r in references if r != message_id],
        list_id=list_id,
        body=text,
        patch_tags=markers["tags"],
        patch_version=markers["version"],
        patch_index=markers["index"],
        patch_total=markers["total"],
        is_patch=bool(scanned.files) or "PATCH" in markers["tags"],
        trailers=find_trailers(scanned),
        patch_files=body_split.patch_files(scanned),
        prose=body_split.prose_text(scanned, runs),
        message_id_synthetic=synthetic,
        notes=notes,
        alias_ids=alias_ids,
    )
    return message, scanned.lines, runs


def _bounded(value: str | None, name: str, notes: list[str]) -> str | None:
    """A text header cut to MAX_HEADER_CHARS (decoding a million encoded words takes minutes)."""
    if value is None or len(value) <= MAX_HEADER_CHARS:
        return value
    notes.append(f"{name}: {len(value)} characters, cut to {MAX_HEADER_CHARS} before decoding")
    return value[:MAX_HEADER_CHARS]


# Only these headers are used: one regex finds every header line (Received/DKIM blocks included,
# cheaply), and the names are filtered here.
WANTED_HEADERS = frozenset(("message-id", "x-alt-message-id", "references", "in-reply-to", "subject", "from", "date",
                            "list-id", "to", "cc",
                            "content-type", "content-transfer-encoding", "content-disposition"))
HEADER_LINE = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*(?:\n[ \t].*)*)", re.MULTILINE)


# Python's email (feedparser headerRE): what a header line may look like; any other line ends the headers
LOOSE_HEADER_LINE = re.compile(r"^(?:[\041-\071\073-\176]*:|[ \t])")


# A header block of header lines only, one after the other (line breaks at its end aside): as good
# as every block. In one, HEADER_LINE finds a header at every line that is no folded line, so
# WANTED_HEADER_LINE finds the same lines of the wanted names without a Python step for the others
# (a btrfs block has 58 lines: 20,000 blocks took 0.62 s by HEADER_LINE alone, 0.48 s so).
# _whole_block tells such a block: without its trailing line breaks it starts with a header line, and
# no line after a line break in it is neither folded nor a header line (possessive: the name, blanks
# and colon are told apart by their first character). Only a line's start is looked at, not every
# character of it, as the full regex of such a block did (tests/test_parse.py holds the two to the same
# answers): over the btrfs blocks 0.23 -> 0.17 CPU s.
HEADER_START = re.compile(r"[A-Za-z][A-Za-z0-9-]*+[ \t]*+:")
NO_HEADER_LINE = re.compile(r"\n(?![ \t]|[A-Za-z][A-Za-z0-9-]*+[ \t]*+:)")


def _alternation(names: list[str]) -> str:
    """A regex alternation of ``names`` with common prefixes taken out (``c(?:c|ontent-(?:...))``): the regex
    engine tries the names of one first letter only, not each name in turn. No name here is the prefix of
    another, so at most one can match, as in a plain alternation."""
    return "|".join(_branches(names))


def _branches(names: list[str]) -> list[str]:
    by_first: dict[str, list[str]] = {}
    for name in names:
        by_first.setdefault(name[:1], []).append(name[1:])
    branches = []
    for first, rests in sorted(by_first.items()):
        inner = _branches(rests) if first else []
        branches.append(re.escape(first) + ("" if not inner else inner[0] if len(inner) == 1
                                            else "(?:" + "|".join(inner) + ")"))
    return branches


# after a line break (a literal start lets the regex engine skip from one to the next); the ASCII
# flag: no Unicode case folding (the Kelvin sign is no "k"). The names as a tree (_alternation): over the
# btrfs blocks 0.57 -> 0.49 CPU s for a plain alternation of the 13 names
WANTED_HEADER_LINE = re.compile(r"\n(" + _alternation(sorted(WANTED_HEADERS)) +
                                r")[ \t]*:[ \t]*(.*(?:\n[ \t].*)*)", re.IGNORECASE | re.ASCII)


def parse_header_block(block: bytes) -> tuple[dict[str, list[str]], int | None]:
    """The headers we use, name (lower case) -> unfolded values; raw 8-bit bytes kept as surrogates.

    Also the offset where the header block really ends when a line that is no header stands in
    it (the blank line after the headers is missing), else None: there, as Python's email does,
    the body begins.
    """
    text = block.decode("ascii", "surrogateescape")
    if _whole_block(text):
        return _wanted_headers(text), None
    return _headers_line_by_line(text)


def _whole_block(text: str) -> bool:
    """Whether ``text`` is header lines only, one after the other (line breaks at its end aside)."""
    lines = text.rstrip("\r\n")
    return HEADER_START.match(lines) is not None and NO_HEADER_LINE.search(lines) is None


def _wanted_headers(text: str) -> dict[str, list[str]]:
    """parse_header_block's headers of a block that is header lines only (_whole_block)."""
    headers: dict[str, list[str]] = {}
    for name, value in WANTED_HEADER_LINE.findall("\n" + text):
        if "\n" in value:  # unfolding removes only the line breaks
            value = value.replace("\r\n", "").replace("\n", "")
        headers.setdefault(name.lower(), []).append(value.strip())
    return _some(headers, True)


def _headers_line_by_line(text: str) -> tuple[dict[str, list[str]], int | None]:
    """parse_header_block of any block: every header line looked at, and where a line that is no header cuts it."""
    headers: dict[str, list[str]] = {}
    seen_any = False
    previous_end = 0
    for match in HEADER_LINE.finditer(text):
        if match.start() > previous_end + 1:
            cut = _end_of_headers(text, previous_end)
            if cut is not None:
                return _some(headers, seen_any), cut
        previous_end = match.end()
        seen_any = True
        name = match.group(1).lower()
        if name not in WANTED_HEADERS:
            continue
        value = match.group(2)
        if "\n" in value:  # unfolding removes only the line breaks
            value = value.replace("\r\n", "").replace("\n", "")
        headers.setdefault(name, []).append(value.strip())
    if previous_end + 1 < len(text.rstrip("\r\n")):
        cut = _end_of_headers(text, previous_end)
        if cut is not None:
            return _some(headers, seen_any), cut
    return _some(headers, seen_any), None


def _some(headers: dict[str, list[str]], seen_any: bool) -> dict[str, list[str]]:
    if not headers and seen_any:
        headers["x-other"] = []  # headers, just none we use
    return headers


def _end_of_headers(text: str, start: int) -> int | None:
    """Offset of the first line from ``start`` on that no header line could be, or None."""
    position = start + 1 if text[start:start + 1] == "\n" else start
    while position < len(text):
        line_end = text.find("\n", position)
        line_end = len(text) if line_end < 0 else line_end
        line = text[position:line_end]
        if line.strip("\r") and not LOOSE_HEADER_LINE.match(line):
            return position
        position = line_end + 1
    return None


def header_split(data: bytes) -> tuple[int, int] | None:
    """(end of headers, start of body) at the first blank line, or None."""
    lf = data.find(b"\n\n")
    before = lf if lf >= 0 else len(data)
    # a search for one byte runs as memchr: ten times faster than one for four, where no CR is
    crlf = data.find(b"\r\n\r\n", 0, before) if data.find(b"\r", 0, before) >= 0 else -1
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf, crlf + 4
    return (lf, lf + 2) if lf >= 0 else None


def raw_headers(headers: dict[str, list[str]], name: str) -> list[str]:
    """All values of header ``name``."""
    return headers.get(name.lower(), [])


def raw_header(headers: dict[str, list[str]], name: str) -> str | None:
    """The first value of header ``name`` (see :func:`raw_headers`)."""
    values = raw_headers(headers, name)
    return values[0] if values else None


def id_header_text(value: str | None) -> str | None:
    """An ID header (Message-ID, References, In-Reply-To, List-Id) as text without surrogates.

    Old archives carry 8-bit bytes in IDs. public-inbox keeps the bytes; SQLite needs text, so the
    canonical form is the bytes read as UTF-8, or as Latin-1 when they are not UTF-8: the same
    bytes always give the same ID, wherever they appear.
    """
    if value is None:
        return None
    text = _recover_8bit(value)
    if "=?" in text and ENCODED_ID_WORD.search(text):
        # ProtonMail sends References as RFC 2047 words with IDs folded inside them: decode first
        text = "".join(decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk
                       for chunk, charset in _decoded_words(text))
    return text


def _decoded_words(text: str) -> list:
    try:
        return decode_header(text)
    except Exception:  # malformed encoded words: keep the text as it is
        return [(text, None)]


# git send-email once asked for In-Reply-To and users answered "y" or "n" (public-inbox MID.pm)
PROMPT_ANSWERS = frozenset(("y", "n"))


def _not_message_ids(headers: dict[str, list[str]], ids: list[str]) -> set[str]:
    """The IDs of References/In-Reply-To that public-inbox ignores: prompt answers, and addresses
    of the message's own From, To or Cc (a client that put an address where an ID belongs)."""
    found = {mid for mid in ids if mid in PROMPT_ANSWERS}
    address_text = " ".join(value for name in ("from", "to", "cc") for value in headers.get(name, ()))
    candidates = [mid for mid in ids if "@" in mid and mid in address_text]  # cheap test first
    if candidates:
        addresses = {address.lower() for _, address in getaddresses([address_text]) if address}
        found.update(mid for mid in candidates if mid.lower() in addresses)
    return found


def _recover_8bit(text: str) -> str:
    """compat32 keeps raw 8-bit header bytes as surrogates; read them as UTF-8, else Latin-1."""
    if text.isascii():  # no surrogates (as good as every header): no need to encode and decode
        return text
    try:
        raw = text.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return text
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def decode_text_header(value) -> str | None:
    """Decode an RFC 2047 header (and raw 8-bit bytes) to text, never failing."""
    if value is None:
        return None
    text = _recover_8bit(str(value))
    if "=?" not in text:
        return " ".join(text.split())
    text = re.sub(r"(\?=)\s+(=\?)", r"\1\2", text)  # whitespace between encoded words is dropped
    parts = []
    try:
        chunks = decode_header(text)
    except Exception:  # malformed encoded words: keep the header as it is
        return " ".join(text.split())
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            parts.append(chunk)
            continue
        parts.append(decode_bytes(chunk, charset))
    return " ".join("".join(parts).split())


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode bytes in the declared charset, falling back to UTF-8 and then Latin-1."""
    for candidate in (charset, "utf-8"):
        if not candidate:
            continue
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError, ValueError):  # ValueError: a NUL in the charset name
            continue
    return data.decode("latin-1")


def subject_markers(subject: str) -> dict:
    """Split a subject into base form and patch markers (``[PATCH v3 2/7]``, ``[RFC]``...)."""
    tags: list[str] = []
    version = index = total = None
    rest = subject
    while True:
        reply = REPLY_PREFIX.match(rest)
        if reply:
            rest = rest[reply.end():]
            continue
        bracket = BRACKET.match(rest)
        if bracket:
            inner = bracket.group(1)
            for token in MARKER_SEPARATOR.split(inner.strip()):
                if not token:
                    continue
                counter = PATCH_COUNTER.match(token)
                ver = PATCH_VERSION.match(token)
                if counter:
                    index, total = int(counter.group(1)), int(counter.group(2))
                elif ver:
                    version = int(ver.group(1))
                elif token.upper() in KNOWN_TAGS or token.upper() in ("PATCHV", "PATCHSET"):
                    tag = token.upper()
                    if tag not in tags:
                        tags.append(tag)
                else:
                    glued = GLUED_VERSION.match(token)
                    if glued:
                        version = int(glued.group(1))
                        if "PATCH" not in tags:
                            tags.append("PATCH")
            rest = rest[bracket.end():]
            continue
        break
    if version is None and tags:
        version = 1 if "PATCH" in tags else None
    return {"base_subject": rest.strip(), "tags": tags, "version": version, "index": index, "total": total}


def parse_from(value: str) -> tuple[str | None, str | None]:
    """Name and lower-cased address of a From header."""
    if not value:
        return None, None
    if "@" not in value and " at " not in value:
        if "<" in value:  # "MAILER DAEMON <>": a name and an empty address, as email.utils reads it
            value = getaddresses([value])[0][0] or value.split("<", 1)[0]
        return value.strip().strip('"') or None, None  # archive pages show only the name
    simple = SIMPLE_FROM.match(value)
    if simple:
        name = (simple.group(1) if simple.group(1) is not None else simple.group(2)).strip()
        return name or None, simple.group(3).lower()
    bare = BARE_ADDRESS.match(value)
    if bare:
        return None, bare.group(1).lower()
    pairs = getaddresses([value])
    name, address = pairs[0] if pairs else ("", "")
    name = (name or "").strip().strip('"') or None
    address = (address or "").strip().lower() or None
    if address and "@" not in address:
        # "user at example.com" obfuscation used by some archives
        deobfuscated = re.sub(r"\s+at\s+", "@", value.strip()).split()[-1].strip("<>()")
        if "@" in deobfuscated:
            address = deobfuscated.lower()
        elif not name:
            name, address = address, None
    return name, address


def normalise_date(value: str | None, archive_date: str | None) -> tuple[str | None, bool]:
    """Date header to UTC ISO 8601; on failure the archive's date, flagged."""
    parsed = _parse_date(value) if value else None
    if parsed is not None:
        if EARLIEST_PLAUSIBLE <= parsed <= LATEST_PLAUSIBLE:
            return utc_text_of_utc(parsed), False  # already in UTC; a plausible year has four digits
    return archive_date, True


def _parse_date(value: str) -> datetime | None:
    fast = _parse_common_date(value)
    if fast is not None:
        return fast
    text = " ".join(str(value).split())
    text = re.sub(r"\s*\([^)]*\)\s*$", "", text)  # trailing "(PDT)" comments
    for attempt in range(2):
        candidate = text if attempt == 0 else _fix_tz_name(text)
        try:
            parsed = parsedate_to_datetime(candidate)
        except (TypeError, ValueError, IndexError, OverflowError):  # an offset of 20 digits, a year 99999
            continue
        if parsed is None:
            continue
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.astimezone(timezone.utc)
    return None


def _parse_common_date(value: str) -> datetime | None:
    """The usual ``Mon, 7 Mar 2021 01:49:21 -0800`` form, without the general parser (or None)."""
    match = COMMON_DATE.match(value)
    if not match:
        return None
    day, month_name, year, hour, minute, second, sign, offset_hours, offset_minutes = match.groups()
    month = MONTHS.get(month_name.lower())
    if month is None:
        return None
    try:
        local = datetime(int(year), month, int(day), int(hour), int(minute), int(second or 0), tzinfo=timezone.utc)
    except ValueError:
        return None
    offset = timedelta(hours=int(offset_hours), minutes=int(offset_minutes))
    return local - offset if sign == "+" else local + offset


def _fix_tz_name(text: str) -> str:
    return TZ_NAME.sub(lambda match: TZ_NAMES[match.group(0)], text)


def decode_body(raw: bytes, headers: dict[str, list[str]], body_start: int) -> str:
    """The message's text: single-part fast path, else text parts of the MIME tree."""
    content_type = _content_type(raw_header(headers, "Content-Type"))
    encoding = (raw_header(headers, "Content-Transfer-Encoding") or "").strip().lower()
    if "multipart/" not in content_type and "message/" not in content_type:
        payload = raw[body_start:]
        disposition = (raw_header(headers, "Content-Disposition") or "").lower()
        if not content_type.lstrip().startswith("text/") and not _is_patch_attachment(content_type, disposition):
            return ""  # a lone image or binary: no text to keep
        return _lf_lines(_decode_payload(payload, encoding, _charset(content_type)))
    if content_type.lstrip().startswith("multipart/"):
        texts = multipart_texts(raw[body_start:], raw_header(headers, "Content-Type") or "")
        if texts is not None:
            return "\n".join(texts)
    return "\n".join(_email_package_texts(raw))


def _content_type(value: str | None) -> str:
    """A Content-Type value in lower case; one without a subtype ("text", ELM's) is text/plain, as email reads it."""
    content_type = (value or "text/plain").lower()
    main = content_type.split(";", 1)[0].strip()
    if "/" not in main:
        return "text/plain" + content_type[len(content_type.split(";", 1)[0]):]
    return content_type


def multipart_texts(payload: bytes, content_type: str, depth: int = 0) -> list[str] | None:
    """Text of the text/plain and patch parts of a multipart body; None if it cannot be split."""
    boundary = _param(content_type, "boundary")
    if not boundary or depth > 8:
        return None
    delimiter = b"--" + boundary.encode("ascii", "surrogateescape")
    chunks = payload.split(delimiter)
    if len(chunks) < 2:
        return None
    texts: list[str] = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--") and not chunk[2:3].strip():
            break  # closing delimiter
        chunk = chunk.split(b"\n", 1)[1] if b"\n" in chunk else b""  # rest of the delimiter line
        if chunk.startswith((b"\n", b"\r\n")):  # no part headers: text/plain
            part_headers, body = {}, chunk[1:] if chunk.startswith(b"\n") else chunk[2:]
        else:
            split = header_split(chunk) or (len(chunk), len(chunk))
            part_headers, cut = parse_header_block(chunk[: split[0]])
            if cut is not None:  # no blank line after the part's headers: its body starts at the cut
                split = (cut, cut)
                part_headers, _ = parse_header_block(chunk[:cut])
            body = chunk[split[1]:]
        if body.endswith(b"\n"):  # the line break before the next delimiter belongs to it
            body = body[:-2] if body.endswith(b"\r\n") else body[:-1]
        part_type_raw = raw_header(part_headers, "Content-Type") or "text/plain"
        part_type = _content_type(part_type_raw)
        disposition = (raw_header(part_headers, "Content-Disposition") or "").lower()
        encoding = (raw_header(part_headers, "Content-Transfer-Encoding") or "").strip().lower()
        if part_type.lstrip().startswith("multipart/"):
            inner = multipart_texts(body, part_type_raw, depth + 1)
            if inner is None:
                return None
            texts.extend(inner)
        elif part_type.lstrip().startswith(("text/plain", "text/x-patch", "text/x-diff")) or (
            part_type.lstrip().startswith("application/") and _is_patch_attachment(part_type, disposition)
        ):
            texts.append(_lf_lines(_decode_payload(body, encoding, _charset(part_type))))
    return texts


def _email_package_texts(raw: bytes) -> list[str]:
    """Text parts found by the standard library's parser (slow, but takes anything)."""
    message = message_from_bytes(raw, policy=compat32)
    texts: list[str] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        part_type = part.get_content_type()
        disposition = str(part.get("Content-Disposition", "")).lower()
        if part_type in ("text/plain", "text/x-patch", "text/x-diff") or (
            part_type.startswith("application/")
            and _is_patch_attachment(str(part.get("Content-Type", "")).lower(), disposition)
        ):
            payload = part.get_payload(decode=True) or b""
            texts.append(_lf_lines(decode_bytes(payload, part.get_content_charset())))
    return texts


def _lf_lines(text: str) -> str:
    """A text with CRLF line ends as LF ones; a text without CR as it is (a search for one character is
    memchr, one for two was 0.09 s of CPU over the btrfs bodies)."""
    return text.replace("\r\n", "\n") if "\r" in text else text


def _is_patch_attachment(content_type: str, disposition: str) -> bool:
    """True for application/* parts that carry a patch (by type or by file name)."""
    return any(word in content_type or word in disposition for word in ("patch", "diff"))


PARAMETERS = {name: re.compile(name + r'\s*=\s*(?:"([^"]*)"|([^";\s]+))', re.IGNORECASE)
              for name in ("boundary", "charset")}


def _param(content_type: str, name: str) -> str | None:
    """A parameter of a Content-Type value (``boundary``, ``charset``)."""
    match = PARAMETERS[name].search(content_type)  # compiled once: re.search's cache look-up cost more than the search
    return (match.group(1) if match.group(1) is not None else match.group(2)) if match else None


def _charset(content_type: str) -> str | None:
    return _param(content_type, "charset")


def _decode_payload(payload: bytes, encoding: str, charset: str | None) -> str:
    if encoding == "quoted-printable":
        payload = quopri.decodestring(payload)
    elif encoding == "base64":
        try:
            payload = binascii.a2b_base64(payload)
        except binascii.Error:
            pass
    return decode_bytes(payload, charset)
