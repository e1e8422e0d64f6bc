-- title: KCSAN function pairs
-- description: The two functions of each "KCSAN: data-race in A / B" report (from subjects and message bodies), with the threads that mention them and their labels. thread_ids lists the threads behind each row (Datasette links them).
-- param limit: how many pairs (default 25)
WITH mentions AS (
  SELECT thread_id, substr(subject, instr(subject, 'KCSAN: data-race in ') + 20) AS pair_text
  FROM messages WHERE ghost = 0 AND instr(subject, 'KCSAN: data-race in ') > 0
  UNION ALL
  SELECT thread_id, substr(body, instr(body, 'KCSAN: data-race in ') + 20) AS pair_text
  FROM messages WHERE ghost = 0 AND instr(body, 'KCSAN: data-race in ') > 0
), pairs AS (
  SELECT DISTINCT thread_id,
         trim(substr(pair_line, 1, instr(pair_line, ' / ') - 1)) AS function_a,
         trim(substr(pair_line, instr(pair_line, ' / ') + 3)) AS function_b
  FROM (SELECT thread_id, substr(pair_text, 1, instr(pair_text || char(10), char(10)) - 1) AS pair_line
        FROM mentions)
  WHERE instr(pair_line, ' / ') > 0
)
SELECT p.function_a, p.function_b, count(DISTINCT p.thread_id) AS threads,
       group_concat(DISTINCT p.thread_id) AS thread_ids,
       (SELECT group_concat(DISTINCT l.label) FROM labels l
         WHERE l.thread_id IN (SELECT thread_id FROM pairs q
                               WHERE q.function_a = p.function_a AND q.function_b = p.function_b)) AS labels
FROM pairs p
GROUP BY p.function_a, p.function_b
ORDER BY threads DESC, p.function_a, p.function_b
LIMIT CAST(coalesce(nullif(:limit, ''), 25) AS INTEGER)
