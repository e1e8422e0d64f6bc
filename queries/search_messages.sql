-- title: Full-text search
-- description: Messages whose subject or new prose (no quotes, no diffs) match the search, best first, with a snippet; matches are shown in [brackets].
-- param q (required): words, identifiers (lock-order, READ_ONCE(), a->b) or "quoted phrases", e.g. uring_lock or "circular locking"
-- param raw: 1 to read q as raw FTS5 syntax (NEAR, column filters, operators)
-- param limit: how many messages (default 20)
SELECT m.message_id, m.thread_id, m.date, m.from_name, m.subject, t.labels,
       snippet(messages_fts, 1, '[', ']', ' … ', 16) AS snippet
FROM messages_fts
JOIN messages m ON m.rowid = messages_fts.rowid
JOIN threads t ON t.thread_id = m.thread_id
WHERE messages_fts MATCH fts_query(:q, :raw)
ORDER BY messages_fts.rank
LIMIT CAST(coalesce(nullif(:limit, ''), 20) AS INTEGER)
