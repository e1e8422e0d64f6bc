-- title: Threads with Fixes: tags per label
-- description: Per label, how many threads carry at least one Fixes: trailer (a patch naming the commit it repairs).
SELECT l.label, count(*) AS threads,
       sum(EXISTS (SELECT 1 FROM messages m JOIN trailers tr ON tr.message_id = m.message_id
                   WHERE m.thread_id = l.thread_id AND tr.name = 'Fixes')) AS with_fixes,
       round(100.0 * sum(EXISTS (SELECT 1 FROM messages m JOIN trailers tr ON tr.message_id = m.message_id
                                 WHERE m.thread_id = l.thread_id AND tr.name = 'Fixes')) / count(*), 1)
         AS percent_with_fixes
FROM labels l
GROUP BY l.label
ORDER BY l.label
