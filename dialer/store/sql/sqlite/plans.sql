-- The daily plans and the daily jobs' runs.

-- name: count_due
SELECT COUNT(*) FROM clients WHERE campaign = ? AND next_dial_at IS NOT NULL AND next_dial_at < ?

-- name: due_groups
SELECT timezone, schedule, priority, next_dial_at, MIN(window_closes_at), MIN(slack_key), COUNT(*)
FROM clients WHERE campaign = ? AND next_dial_at IS NOT NULL AND next_dial_at < ?
GROUP BY timezone, schedule, priority, next_dial_at

-- name: delete_plan_entries
DELETE FROM plan_entries WHERE campaign = ? AND day = ?

-- name: create_plan_fit
-- The forecast per group, joined by key (a temporary table of this connection).
CREATE TEMP TABLE IF NOT EXISTS plan_fit
    (tz TEXT, sched TEXT, prio INTEGER, nda TEXT, k INTEGER, PRIMARY KEY (tz, sched, prio, nda))

-- name: clear_plan_fit
DELETE FROM temp.plan_fit

-- name: insert_plan_fit
INSERT OR REPLACE INTO temp.plan_fit VALUES (?, ?, ?, ?, ?)

-- name: insert_plan_entries
-- The claims take a group's clients in id order, and clients of tied groups (see below)
-- in id order across them.
INSERT INTO plan_entries(campaign, day, position, client_id, priority, next_dial_at,
                         window_closes_at, fits)
SELECT ?, ?, ROW_NUMBER() OVER (ORDER BY q.priority, q.slack_key, q.window_closes_at,
                                         q.next_dial_at, q.id) - 1,
       q.id, q.priority, q.next_dial_at, q.window_closes_at, q.trn <= q.class_k
FROM (SELECT g.*,
             -- Clients the claims cannot tell apart but by id (the same class,
             -- slack, window and dial moment, even in another zone or schedule)
             -- are taken in id order across their groups: as many of such a tie
             -- class fit as the per-group forecast says, but its first by id.
             ROW_NUMBER() OVER (PARTITION BY priority, slack_key, window_closes_at, next_dial_at
                                ORDER BY id) AS trn,
             SUM(CASE WHEN grn <= COALESCE(k, 0) THEN 1 ELSE 0 END)
                 OVER (PARTITION BY priority, slack_key, window_closes_at, next_dial_at) AS class_k
      FROM (SELECT c.id, c.timezone, c.schedule, c.priority, c.next_dial_at, c.window_closes_at,
                   c.slack_key, f.k,
                   ROW_NUMBER() OVER (PARTITION BY c.timezone, c.schedule, c.priority, c.next_dial_at
                                      ORDER BY c.id) AS grn
            FROM clients c
            LEFT JOIN temp.plan_fit f
              ON f.tz = c.timezone AND f.sched = COALESCE(c.schedule, '') AND f.prio = c.priority
             AND f.nda = c.next_dial_at
            WHERE c.campaign = ? AND c.next_dial_at IS NOT NULL AND c.next_dial_at < ?) g) q

-- name: upsert_plan
INSERT INTO plans(campaign, day, capacity, created_at) VALUES (?, ?, ?, ?)
ON CONFLICT(campaign, day) DO UPDATE SET capacity = excluded.capacity, created_at = excluded.created_at

-- name: plan_head
SELECT capacity, created_at, (SELECT COUNT(*) FROM plan_entries WHERE campaign = ? AND day = ?)
FROM plans WHERE campaign = ? AND day = ?

-- name: plan_entries
-- LIMIT -1: no limit.
SELECT client_id, priority, next_dial_at, window_closes_at, fits FROM plan_entries
WHERE campaign = ? AND day = ? ORDER BY position LIMIT ?

-- name: plan_position
SELECT position, fits, (SELECT COUNT(*) FROM plan_entries WHERE campaign = ? AND day = ?)
FROM plan_entries WHERE campaign = ? AND day = ? AND client_id = ?

-- name: plan_exists
SELECT 1 FROM plans WHERE campaign = ? AND day = ?

-- name: plan_counts
SELECT COUNT(*), SUM(dialed),
       SUM(CASE WHEN dialed = 0 AND (:now >= :end OR next_dial_at IS NULL OR next_dial_at >= :end)
           THEN 1 ELSE 0 END)
FROM (SELECT EXISTS (SELECT 1 FROM calls WHERE calls.client_id = pe.client_id
                     AND calls.started_at >= :start AND calls.started_at < :end) AS dialed,
             c.next_dial_at
      FROM plan_entries pe LEFT JOIN clients c ON c.id = pe.client_id
      WHERE pe.campaign = :campaign AND pe.day = :day)

-- name: start_job
-- A run whose worker died before finishing is taken over after JOB_TAKEOVER (the last argument).
INSERT INTO job_runs(job, campaign, day, owner, started_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT(job, campaign, day) DO UPDATE SET owner = excluded.owner, started_at = excluded.started_at
WHERE job_runs.finished_at IS NULL AND job_runs.started_at < ?

-- name: finish_job
UPDATE job_runs SET finished_at = ? WHERE job = ? AND campaign = ? AND day = ?
