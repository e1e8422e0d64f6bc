"""Full-text search text as a kernel person types it, turned into an FTS5 query (pure functions).

FTS5 reads ``lock-order`` as the column filter ``order``, ``READ_ONCE(`` as a syntax error and
``->`` as nothing it knows. By default every term is quoted, so the tokenizer sees only words:
``lock-order`` becomes the phrase "lock order", ``READ_ONCE(`` the word read_once, ``a->b`` the
phrase "a b". Quoted phrases stay phrases, ``word*`` stays a prefix query, and AND / OR / NOT
in capitals between terms stay operators. ``raw=True`` passes FTS5 syntax through untouched.
"""

from __future__ import annotations

import re
import sqlite3

from miner.errors import MinerError

SQL_FUNCTION = "fts_query"  # fts_query(:q, :raw) in queries/*.sql; registered on every connection that runs them
_TERM = re.compile(r'"([^"]*)"?|(\S+)')
_OPERATORS = {"AND", "OR", "NOT"}
_WORD = re.compile(r"\w")


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def fts_query(text: str, raw: bool = False) -> str:
    """The FTS5 MATCH expression for search ``text`` (terms quoted unless ``raw``); MinerError if it has no word."""
    if raw:
        if not text.strip():
            raise MinerError("empty search: type a word, an identifier or a \"quoted phrase\"")
        return text
    parts: list[str] = []
    for match in _TERM.finditer(text):
        phrase, term = match.group(1), match.group(2)
        if phrase is not None:
            if _WORD.search(phrase):
                parts.append(_quoted(phrase))
            continue
        if term in _OPERATORS:
            parts.append(term)
            continue
        prefix = term.endswith("*") and len(term) > 1
        core = term.rstrip("*") if prefix else term
        if _WORD.search(core):
            parts.append(_quoted(core) + ("*" if prefix else ""))
    while parts and parts[0] in _OPERATORS:  # an operator needs a term on each side
        parts.pop(0)
    while parts and parts[-1] in _OPERATORS:
        parts.pop()
    cleaned = [part for index, part in enumerate(parts)
               if not (part in _OPERATORS and parts[index - 1] in _OPERATORS)]
    if not cleaned:
        raise MinerError(f"{text!r}: nothing to search for; type a word, an identifier such as"
                         " uring_lock or a \"quoted phrase\"")
    return " ".join(cleaned)


def is_raw(value) -> bool:
    """True for the values that ask for raw FTS5 syntax: 1, raw, yes, true."""
    return str(value or "").strip().lower() in {"1", "raw", "yes", "true"}


def _sql_fts_query(text, raw) -> str:
    """SQLite function form; search text with nothing to search for matches nothing (``""``) instead of failing.

    Callers that can say why (``miner query``) check the text with :func:`fts_query` first.
    """
    try:
        return fts_query("" if text is None else str(text), is_raw(raw))
    except MinerError:
        return '""'


def register_functions(conn: sqlite3.Connection) -> None:
    """Make ``fts_query(text, raw)`` callable from SQL on ``conn``."""
    conn.create_function(SQL_FUNCTION, 2, _sql_fts_query, deterministic=True)


def fts_error(error: Exception, raw: bool) -> MinerError | None:
    """A one-line error saying what to type instead, for an FTS5 failure; None if ``error`` is something else."""
    text = str(error)
    if "fts5" in text or "no such column" in text or "unterminated string" in text:
        if raw:
            return MinerError(f"not valid FTS5 syntax ({text}); drop raw=1 (or --fts5) to search the words"
                              ' as typed, or quote terms such as "lock-order"')
        return MinerError(f"search failed ({text}); quote the terms, such as \"READ_ONCE\"")
    return None


FTS_CALL = re.compile(r"\bfts_query\s*\(\s*:(\w+)\s*,\s*:(\w+)\s*\)", re.IGNORECASE)


def check_search_params(sql: str, params: dict | None) -> None:
    """MinerError for search text the SQL passes to ``fts_query(:q, :raw)`` that has nothing to search for."""
    for text_name, raw_name in FTS_CALL.findall(sql):
        fts_query(str((params or {}).get(text_name) or ""), is_raw((params or {}).get(raw_name)))
