-- title: Time to first patch, per label
-- description: Per label: threads, how many got a patch (a message with a diff), and the hours from the first message to the first patch (minimum, average, maximum).
WITH first_patch AS (
  SELECT m.thread_id, min(m.date) AS first_patch_date
  FROM messages m
  WHERE m.ghost = 0 AND EXISTS (SELECT 1 FROM patch_files f WHERE f.message_id = m.message_id)
  GROUP BY m.thread_id
), hours AS (
  SELECT l.label, (julianday(p.first_patch_date) - julianday(t.first_date)) * 24 AS hours
  FROM labels l
  JOIN threads t ON t.thread_id = l.thread_id
  LEFT JOIN first_patch p ON p.thread_id = t.thread_id
)
SELECT label, count(*) AS threads, count(hours) AS with_patch,
       round(min(hours), 1) AS min_hours, round(avg(hours), 1) AS avg_hours, round(max(hours), 1) AS max_hours
FROM hours
GROUP BY label
ORDER BY label
