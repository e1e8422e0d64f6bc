-- title: Time from report to first patch and to merge
-- description: From the bug records: per label, subsystem and year of the first report, how many bugs, how many got a patch and a merge (applied evidence), and the days from the first message to the first patch and to the merge (average and longest). Bugs whose patches touch no file are counted under subsystem "(none)".
-- param label: only this label; empty for every label
-- param by: "label" to group per label and year only (all subsystems together); empty for label, subsystem and year
WITH per_bug AS (
  SELECT l.value AS label,
         CASE WHEN :by = 'label' THEN '(all)' ELSE coalesce(s.value, '(none)') END AS subsystem,
         CAST(substr(b.first_report, 1, 4) AS INTEGER) AS year,
         b.thread_id,
         julianday(b.first_patch) - julianday(b.first_report) AS days_to_patch,
         julianday(b.merged_at) - julianday(b.first_report) AS days_to_merge
  FROM bugs b
  JOIN json_each(b.labels) AS l
  LEFT JOIN json_each(CASE WHEN :by = 'label' OR b.subsystems = '[]' THEN '[null]' ELSE b.subsystems END) AS s
  WHERE (:label = '' OR l.value = :label)
)
SELECT label, subsystem, year, count(DISTINCT thread_id) AS bugs,
       count(DISTINCT CASE WHEN days_to_patch IS NOT NULL THEN thread_id END) AS with_patch,
       count(DISTINCT CASE WHEN days_to_merge IS NOT NULL THEN thread_id END) AS merged,
       round(avg(days_to_patch), 1) AS avg_days_to_patch, round(max(days_to_patch), 1) AS max_days_to_patch,
       round(avg(days_to_merge), 1) AS avg_days_to_merge, round(max(days_to_merge), 1) AS max_days_to_merge
FROM per_bug
GROUP BY label, subsystem, year
ORDER BY label, year, bugs DESC, subsystem
