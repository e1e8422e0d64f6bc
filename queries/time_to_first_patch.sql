-- title: Time from first message to first patch
-- description: For each labelled thread that got a patch (a message with a diff): when it started, when the first patch came, and the hours in between.
-- param label: only this label; empty for every label
WITH first_patch AS (
  SELECT m.thread_id, min(m.date) AS first_patch_date
  FROM messages m
  WHERE m.ghost = 0 AND EXISTS (SELECT 1 FROM patch_files f WHERE f.message_id = m.message_id)
  GROUP BY m.thread_id
)
SELECT l.label, t.thread_id, t.subject, t.first_date, p.first_patch_date,
       round((julianday(p.first_patch_date) - julianday(t.first_date)) * 24, 1) AS hours_to_first_patch
FROM labels l
JOIN threads t ON t.thread_id = l.thread_id
JOIN first_patch p ON p.thread_id = t.thread_id
WHERE (:label = '' OR l.label = :label)
ORDER BY l.label, hours_to_first_patch, t.thread_id
