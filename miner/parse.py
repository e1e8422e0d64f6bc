"""Parse raw RFC 5322 bytes into a :class:`~miner.model.Message` (pure functions)."""

from __future__ import annotations

import binascii
import hashlib
import quopri
import re
from datetime import datetime, timezone
from email import message_from_bytes
from email.header import decode_header
from email.message import Message as EmailMessage
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime

from miner import body as body_split
from miner.errors import MinerError
from miner.model import Message

MSGID = re.compile(r"<([^<>\s]+)>")
BRACKET = re.compile(r"^\s*\[([^\]]*)\]\s*")
REPLY_PREFIX = re.compile(r"^\s*(?:re|fwd?|aw|sv|antw|odp)\s*(?:\[\d+\])?\s*:\s*", re.IGNORECASE)
PATCH_COUNTER = re.compile(r"^(\d+)/(\d+)$")
PATCH_VERSION = re.compile(r"^v(\d+)$", re.IGNORECASE)
KNOWN_TAGS = {"PATCH", "RFC", "RESEND", "GIT PULL", "PULL", "GIT", "SYZBOT", "BUG", "REPORT", "TIP"}
HEADER_SPLIT = re.compile(rb"\r?\n\r?\n")
ENCODED_WORD = re.compile(r"=\?[^?]+\?[bBqQ]\?[^?]*\?=")
TZ_NAMES = {"EST": "-0500", "EDT": "-0400", "CST": "-0600", "CDT": "-0500", "MST": "-0700",
            "MDT": "-0600", "PST": "-0800", "PDT": "-0700", "UT": "+0000", "GMT": "+0000",
            "UTC": "+0000", "CET": "+0100", "CEST": "+0200", "MET": "+0100", "MEST": "+0200"}
EARLIEST_PLAUSIBLE = datetime(1991, 1, 1, tzinfo=timezone.utc)

_header_parser = BytesHeaderParser(policy=compat32)


class ParseError(MinerError):
    """The bytes are not a mail message we can store."""


def parse_message(raw: bytes, archive_date: str | None = None) -> Message:
    """Parse one message; ``archive_date`` (UTC ISO) is used if the Date header is unusable."""
    if not raw or not raw.strip():
        raise ParseError("empty message")
    if raw.startswith(b"From ") or raw.startswith(b">From "):
        first_newline = raw.find(b"\n")
        raw = raw[first_newline + 1:] if first_newline >= 0 else b""
    headers = _header_parser.parsebytes(raw)
    if not headers.keys():
        raise ParseError("no mail headers found")
    if headers.defects and not any(k.lower() in ("from", "subject", "message-id", "date") for k in headers.keys()):
        raise ParseError("no From, Subject, Message-ID or Date header")

    message_id = first_msgid(raw_header(headers, "Message-ID"))
    synthetic = False
    if not message_id:
        message_id = "no-message-id-" + hashlib.sha256(raw).hexdigest()[:32] + "@lkml-miner.invalid"
        synthetic = True
    references = all_msgids(raw_headers(headers, "References"))
    in_reply_to = first_msgid(" ".join(raw_headers(headers, "In-Reply-To")))

    subject = decode_text_header(raw_header(headers, "Subject")) or ""
    subject = " ".join(subject.split())
    markers = subject_markers(subject)
    from_name, from_email = parse_from(decode_text_header(raw_header(headers, "From")) or "")
    date, flagged = normalise_date(raw_header(headers, "Date"), archive_date)
    list_id_header = raw_header(headers, "List-Id")
    list_id = first_msgid(list_id_header) or (list_id_header or "").strip() or None

    text = decode_body(raw, headers)
    lines = body_split.split_lines(text)
    return Message(
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
        is_patch=any(line.kind == "diff" for line in lines) or "PATCH" in markers["tags"],
        trailers=body_split.trailers(lines),
        patch_files=body_split.patch_files(lines),
        prose=body_split.prose_text(lines),
        lines=lines,
        message_id_synthetic=synthetic,
    )


def raw_headers(headers: EmailMessage, name: str) -> list[str]:
    """All values of header ``name`` as stored, raw 8-bit bytes kept as surrogates."""
    wanted = name.lower()
    return [value for key, value in headers._headers if key.lower() == wanted]


def raw_header(headers: EmailMessage, name: str) -> str | None:
    """The first value of header ``name`` (see :func:`raw_headers`)."""
    values = raw_headers(headers, name)
    return values[0] if values else None


def first_msgid(value: str | None) -> str | None:
    """The first ``<id>`` in a header value, without angle brackets."""
    if not value:
        return None
    match = MSGID.search(str(value))
    if match:
        return match.group(1)
    bare = str(value).strip().split()
    if len(bare) == 1 and "@" in bare[0]:
        return bare[0].strip("<>")
    return None


def all_msgids(values: list[str]) -> list[str]:
    """Every ``<id>`` in References headers, in order, without duplicates."""
    seen: dict[str, None] = {}
    for value in values:
        for match in MSGID.finditer(str(value)):
            seen.setdefault(match.group(1), None)
    return list(seen)


def _recover_8bit(text: str) -> str:
    """compat32 keeps raw 8-bit header bytes as surrogates; read them as UTF-8, else Latin-1."""
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
        except (LookupError, UnicodeDecodeError):
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
            for token in re.split(r"[\s,]+", inner.strip()):
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
                    glued = re.match(r"^PATCH[vV](\d+)$", token)
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
        return value.strip().strip('"') or None, None  # archive pages show only the name
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
        if EARLIEST_PLAUSIBLE <= parsed <= datetime.now(timezone.utc).replace(year=datetime.now().year + 1):
            return parsed.strftime("%Y-%m-%dT%H:%M:%SZ"), False
    return archive_date, True


def _parse_date(value: str) -> datetime | None:
    text = " ".join(str(value).split())
    text = re.sub(r"\s*\([^)]*\)\s*$", "", text)  # trailing "(PDT)" comments
    for candidate in (text, _fix_tz_name(text)):
        try:
            parsed = parsedate_to_datetime(candidate)
        except (TypeError, ValueError, IndexError):
            continue
        if parsed is None:
            continue
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.astimezone(timezone.utc)
    return None


def _fix_tz_name(text: str) -> str:
    for name, offset in TZ_NAMES.items():
        text = re.sub(rf"\b{name}\b", offset, text)
    return text


def decode_body(raw: bytes, headers: EmailMessage) -> str:
    """The message's text: single-part fast path, else text parts of the MIME tree."""
    content_type = (headers.get("Content-Type") or "text/plain").lower()
    encoding = (headers.get("Content-Transfer-Encoding") or "").strip().lower()
    if "multipart/" not in content_type and "message/" not in content_type:
        split = HEADER_SPLIT.search(raw)
        payload = raw[split.end():] if split else b""
        if not content_type.lstrip().startswith("text/") and not _is_patch_attachment(headers, content_type):
            return ""  # a lone image or binary: no text to keep
        return _decode_payload(payload, encoding, _charset(content_type)).replace("\r\n", "\n")
    message = message_from_bytes(raw, policy=compat32)
    texts: list[str] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        part_type = part.get_content_type()
        disposition = (part.get("Content-Disposition") or "").lower()
        if part_type == "text/plain" or part_type in ("text/x-patch", "text/x-diff") or (
            part_type.startswith("application/") and _is_patch_attachment(part, part_type)
        ):
            payload = part.get_payload(decode=True) or b""
            texts.append(decode_bytes(payload, part.get_content_charset()))
        elif part_type == "text/html" and not texts and "attachment" not in disposition:
            continue  # HTML-only mail: no prose we can trust; keep scanning for text parts
    return "\n".join(t.replace("\r\n", "\n") for t in texts)


def _is_patch_attachment(part: EmailMessage, content_type: str) -> bool:
    name = (part.get_filename() if hasattr(part, "get_filename") else None) or ""
    return "patch" in content_type or "diff" in content_type or name.endswith((".patch", ".diff"))


def _charset(content_type: str) -> str | None:
    match = re.search(r'charset\s*=\s*"?([^";\s]+)', content_type)
    return match.group(1) if match else None


def _decode_payload(payload: bytes, encoding: str, charset: str | None) -> str:
    if encoding == "quoted-printable":
        payload = quopri.decodestring(payload)
    elif encoding == "base64":
        try:
            payload = binascii.a2b_base64(payload)
        except binascii.Error:
            pass
    return decode_bytes(payload, charset)
