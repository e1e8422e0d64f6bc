-- title: Top files per label
-- description: Files touched most often by the patches of labelled threads (counted once per thread).
-- param label: only this label; empty for every label
-- param limit: rows per label (default 10)
WITH per_file AS (
  SELECT l.label, f.path, f.subsystem, count(DISTINCT l.thread_id) AS threads,
         sum(f.added) AS added, sum(f.removed) AS removed
  FROM labels l
  JOIN messages m ON m.thread_id = l.thread_id AND m.ghost = 0
  JOIN patch_files f ON f.message_id = m.message_id
  WHERE (:label = '' OR l.label = :label)
  GROUP BY l.label, f.path
), ranked AS (
  SELECT *, row_number() OVER (PARTITION BY label ORDER BY threads DESC, path) AS rank
  FROM per_file
)
SELECT label, rank, path, subsystem, threads, added, removed
FROM ranked
WHERE rank <= CAST(coalesce(nullif(:limit, ''), 10) AS INTEGER)
ORDER BY label, rank
