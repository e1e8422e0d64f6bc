-- title: Top subsystems per label
-- description: Subsystems (first two path components) touched most often by the patches of labelled threads, counted once per thread. thread_ids lists the threads behind each row (Datasette links them).
-- param label: only this label; empty for every label
-- param limit: rows per label (default 10)
WITH per_subsystem AS (
  SELECT l.label, f.subsystem, count(DISTINCT l.thread_id) AS threads, count(DISTINCT f.path) AS files,
         group_concat(DISTINCT l.thread_id) AS thread_ids
  FROM labels l
  JOIN messages m ON m.thread_id = l.thread_id AND m.ghost = 0
  JOIN patch_files f ON f.message_id = m.message_id
  WHERE (:label = '' OR l.label = :label)
  GROUP BY l.label, f.subsystem
), ranked AS (
  SELECT *, row_number() OVER (PARTITION BY label ORDER BY threads DESC, subsystem) AS rank
  FROM per_subsystem
)
SELECT label, rank, subsystem, threads, files, thread_ids
FROM ranked
WHERE rank <= CAST(coalesce(nullif(:limit, ''), 10) AS INTEGER)
ORDER BY label, rank
