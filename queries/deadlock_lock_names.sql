-- title: Lock names in deadlock threads
-- description: Lock classes named in lockdep reports (lines like "(&ctx->uring_lock){+.+.}-{3:3}, at: ...") in the bodies of deadlock threads, quoted copies included; threads counts each thread once. thread_ids lists the threads behind each row (Datasette links them).
-- param limit: how many lock names (default 25)
WITH RECURSIVE bodies AS (
  SELECT m.thread_id, m.message_id, m.body || char(10) AS rest
  FROM messages m
  JOIN labels l ON l.thread_id = m.thread_id AND l.label = 'deadlock'
  WHERE m.ghost = 0 AND m.body LIKE '%){%}%'
), lines(thread_id, message_id, line, rest) AS (
  SELECT thread_id, message_id, NULL, rest FROM bodies
  UNION ALL
  SELECT thread_id, message_id, substr(rest, 1, instr(rest, char(10)) - 1), substr(rest, instr(rest, char(10)) + 1)
  FROM lines WHERE rest != ''
), lockdep_lines AS (
  SELECT thread_id, message_id, line,
         instr(line, '(') AS open_at, instr(line, '){') AS close_at
  FROM lines
  WHERE line GLOB '*(*){[-+.?][-+.?]}*' OR line GLOB '*(*){[-+.?][-+.?][-+.?][-+.?]}*'
     OR line GLOB '*(*){[-+.?][-+.?][-+.?][-+.?][-+.?][-+.?]}*'
)
SELECT substr(line, open_at + 1, close_at - open_at - 1) AS lock_name,
       count(DISTINCT thread_id) AS threads,
       count(DISTINCT message_id) AS messages,
       count(*) AS mentions,
       group_concat(DISTINCT thread_id) AS thread_ids
FROM lockdep_lines
WHERE open_at > 0 AND close_at > open_at
GROUP BY lock_name
ORDER BY threads DESC, mentions DESC, lock_name
LIMIT CAST(coalesce(nullif(:limit, ''), 25) AS INTEGER)
