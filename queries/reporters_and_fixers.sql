-- title: Who reports and who fixes each label
-- description: Reporters are the senders of the first message of labelled threads; fixers are the Signed-off-by people of messages with a diff in those threads. Counted in threads.
-- param label: only this label; empty for every label
-- param limit: people per label and role (default 10)
WITH first_messages AS (
  SELECT m.thread_id, m.from_email, m.from_name
  FROM messages m JOIN threads t ON t.thread_id = m.thread_id
  WHERE m.ghost = 0 AND m.date = t.first_date
), people_roles AS (
  SELECT l.label, 'reporter' AS role, f.from_email AS email, max(f.from_name) AS name,
         count(DISTINCT l.thread_id) AS threads
  FROM labels l JOIN first_messages f ON f.thread_id = l.thread_id
  WHERE (:label = '' OR l.label = :label) AND f.from_email IS NOT NULL
  GROUP BY l.label, f.from_email
  UNION ALL
  SELECT l.label, 'fixer' AS role, tr.person_email AS email, max(tr.person_name) AS name,
         count(DISTINCT l.thread_id) AS threads
  FROM labels l
  JOIN messages m ON m.thread_id = l.thread_id AND m.ghost = 0
  JOIN trailers tr ON tr.message_id = m.message_id AND tr.name = 'Signed-off-by'
  WHERE (:label = '' OR l.label = :label) AND tr.person_email IS NOT NULL
    AND EXISTS (SELECT 1 FROM patch_files f WHERE f.message_id = m.message_id)
  GROUP BY l.label, tr.person_email
), ranked AS (
  SELECT *, row_number() OVER (PARTITION BY label, role ORDER BY threads DESC, email) AS rank
  FROM people_roles
)
SELECT label, role, rank, name, email, threads
FROM ranked
WHERE rank <= CAST(coalesce(nullif(:limit, ''), 10) AS INTEGER)
ORDER BY label, role DESC, rank
