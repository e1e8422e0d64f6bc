-- title: KCSAN function pairs and their fix status
-- description: For bug records found by KCSAN: the two functions of the report (title "data-race in A / B", else the two access frames), how many threads report the pair, and how many got a patch and a merge.
-- param limit: how many pairs (default 25)
WITH pairs AS (
  SELECT b.thread_id, b.fix_status, b.first_patch,
         json_extract(b.functions, '$[0]') AS function_a,
         coalesce(json_extract(b.functions, '$[1]'), json_extract(b.functions, '$[0]')) AS function_b
  FROM bugs b
  WHERE EXISTS (SELECT 1 FROM json_each(b.tools) WHERE value = 'KCSAN') AND json_array_length(b.functions) >= 1
)
SELECT function_a, function_b, count(*) AS threads,
       count(first_patch) AS with_patch, sum(fix_status = 'applied') AS merged,
       group_concat(DISTINCT fix_status) AS fix_statuses, group_concat(thread_id) AS thread_ids
FROM pairs
GROUP BY function_a, function_b
ORDER BY threads DESC, function_a, function_b
LIMIT CAST(coalesce(nullif(:limit, ''), 25) AS INTEGER)
