-- title: Label co-occurrence
-- description: How many threads carry both labels of each pair (label_a = label_b: threads with that label). thread_ids lists the threads behind each row (Datasette links them).
SELECT a.label AS label_a, b.label AS label_b, count(*) AS threads, group_concat(a.thread_id) AS thread_ids
FROM labels a
JOIN labels b ON b.thread_id = a.thread_id AND b.label >= a.label
GROUP BY a.label, b.label
ORDER BY a.label, b.label
