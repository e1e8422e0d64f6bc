-- title: Threads per label per year
-- description: How many threads carry each classifier label, by the year of their first message. thread_ids lists the threads behind each row (Datasette links them).
-- param label: only this label (deadlock, race or ordering); empty for every label
SELECT l.label, t.year, count(*) AS threads, group_concat(t.thread_id) AS thread_ids
FROM labels l
JOIN threads t ON t.thread_id = l.thread_id
WHERE (:label = '' OR l.label = :label)
GROUP BY l.label, t.year
ORDER BY l.label, t.year
