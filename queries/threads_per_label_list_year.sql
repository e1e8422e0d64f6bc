-- title: Threads per label, list and year
-- description: Threads per classifier label and mailing list (a thread seen on two lists counts for both), by year of the first message. thread_ids lists the threads behind each row (Datasette links them).
-- param label: only this label; empty for every label
-- param list: only this List-Id (e.g. io-uring.vger.kernel.org); empty for every list
SELECT l.label, list.value AS list_id, t.year, count(*) AS threads, group_concat(t.thread_id) AS thread_ids
FROM labels l
JOIN threads t ON t.thread_id = l.thread_id
JOIN json_each(t.lists) AS list
WHERE (:label = '' OR l.label = :label)
  AND (:list = '' OR list.value = :list)
GROUP BY l.label, list.value, t.year
ORDER BY l.label, list.value, t.year
