"""Raw HTTP cache: every final response (URL, status, headers, body, time) kept in the database.

Parsing can be re-run from it with ``--offline``; refreshes send its ETag / Last-Modified back
as conditional requests. One row per (method, URL, request body): the latest response wins.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass

from miner.compress import compress, decompress


@dataclass(frozen=True)
class CachedResponse:
    """One response as stored in ``http_responses``."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes
    fetched_at: str
    etag: str | None
    last_modified: str | None
    request_key: str


def request_key(method: str, url: str, request_body: bytes | None) -> str:
    """The cache key of a request: method, URL and a hash of the form body, if any."""
    suffix = "" if not request_body else " " + hashlib.sha256(request_body).hexdigest()[:16]
    return f"{method.upper()} {url}{suffix}"


class ResponseCache:
    """The ``http_responses`` table of an open store."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def get(self, method: str, url: str, request_body: bytes | None = None) -> CachedResponse | None:
        """The stored response for this request, or None."""
        key = request_key(method, url, request_body)
        row = self.conn.execute(
            "SELECT url, status, headers, body, fetched_at, etag, last_modified FROM http_responses"
            " WHERE request_key=?", (key,),
        ).fetchone()
        if row is None:
            return None
        url, status, headers, body, fetched_at, etag, last_modified = row
        return CachedResponse(url, status, json.loads(headers), decompress(body), fetched_at, etag,
                              last_modified, key)

    def put(self, method: str, url: str, request_body: bytes | None, status: int, headers: dict[str, str],
            body: bytes, fetched_at: str) -> None:
        """Keep a response (replacing an older one for the same request)."""
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO http_responses(request_key, method, url, request_body, status, headers,"
                " body, body_size, etag, last_modified, fetched_at, checked_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (request_key(method, url, request_body), method.upper(), url,
                 request_body.decode("utf-8", "replace") if request_body else None, status,
                 json.dumps(headers, sort_keys=True), compress(body), len(body), headers.get("etag"),
                 headers.get("last-modified"), fetched_at, fetched_at),
            )

    def touch(self, cached: CachedResponse, checked_at: str) -> None:
        """Record that the server confirmed a cached response is still current (HTTP 304)."""
        with self.conn:
            self.conn.execute("UPDATE http_responses SET checked_at=? WHERE request_key=?",
                              (checked_at, cached.request_key))
