-- title: Lock pairs in lock-order inversions
-- description: The two lock classes a lockdep report names first (the lock being acquired and the one already held) in bug records whose main subtype (the first, the strongest evidence) is D1 lock-order inversion, as an unordered pair, with how many threads name them and how many of those were merged.
-- param limit: how many pairs (default 25)
WITH pairs AS (
  SELECT b.thread_id, b.fix_status,
         json_extract(b.locks, '$[0]') AS lock_1, json_extract(b.locks, '$[1]') AS lock_2
  FROM bugs b
  WHERE (json_extract(b.subtypes, '$[0]') LIKE 'D1 %' OR json_extract(b.subtypes, '$[0]') = 'D1')
    AND json_array_length(b.locks) >= 2
)
SELECT min(lock_1, lock_2) AS lock_a, max(lock_1, lock_2) AS lock_b,
       count(*) AS threads, sum(fix_status = 'applied') AS merged,
       group_concat(thread_id) AS thread_ids
FROM pairs
GROUP BY lock_a, lock_b
ORDER BY threads DESC, lock_a, lock_b
LIMIT CAST(coalesce(nullif(:limit, ''), 25) AS INTEGER)
