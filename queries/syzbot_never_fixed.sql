-- title: syzbot concurrency reports never fixed
-- description: Bug records with a syzbot id and no evidence of a merge (no applied reply, commit notice or linked commit), oldest first, with the dashboard link and whether a patch was posted in the thread.
-- param label: only this label; empty for every label
SELECT b.thread_id, b.subject, b.labels, b.syzbot_id,
       'https://syzkaller.appspot.com/bug?extid=' || b.syzbot_id AS dashboard,
       b.first_report, b.fix_status, b.first_patch, b.functions, b.locks,
       'https://lore.kernel.org/r/' || b.root_message_id AS lore
FROM bugs b
WHERE b.syzbot_id IS NOT NULL AND b.fix_status != 'applied'
  AND (:label = '' OR EXISTS (SELECT 1 FROM json_each(b.labels) WHERE value = :label))
ORDER BY b.first_report, b.thread_id
