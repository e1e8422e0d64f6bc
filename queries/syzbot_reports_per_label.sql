-- title: syzbot reports per label
-- description: Threads started by syzbot (sender syzbot...@ or a [syzbot] subject) per label, and how many of them got a patch (a message with a diff) in the same thread.
-- param label: only this label; empty for every label
WITH syzbot_threads AS (
  SELECT t.thread_id
  FROM threads t
  JOIN messages first ON first.thread_id = t.thread_id AND first.ghost = 0 AND first.date = t.first_date
  WHERE first.from_email LIKE 'syzbot%' OR t.subject LIKE '%[syzbot]%'
  GROUP BY t.thread_id
), patched AS (
  SELECT DISTINCT m.thread_id
  FROM messages m JOIN patch_files f ON f.message_id = m.message_id
  WHERE m.ghost = 0
)
SELECT l.label, count(*) AS syzbot_threads,
       count(p.thread_id) AS with_patch,
       round(100.0 * count(p.thread_id) / count(*), 1) AS percent_with_patch
FROM syzbot_threads s
JOIN labels l ON l.thread_id = s.thread_id
LEFT JOIN patched p ON p.thread_id = s.thread_id
WHERE (:label = '' OR l.label = :label)
GROUP BY l.label
ORDER BY l.label
