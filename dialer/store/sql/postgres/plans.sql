-- The daily plans and the daily jobs' runs.

-- name: count_due
SELECT count(*) FROM clients WHERE campaign = $1 AND next_dial_at IS NOT NULL AND next_dial_at < $2

-- name: due_groups
SELECT timezone, schedule, priority, next_dial_at, min(window_closes_at), min(slack_key), count(*)
FROM clients WHERE campaign = $1 AND next_dial_at IS NOT NULL AND next_dial_at < $2
GROUP BY timezone, schedule, priority, next_dial_at

-- name: delete_plan_entries
DELETE FROM plan_entries WHERE campaign = $1 AND day = $2

-- name: insert_plan_entries
-- The forecast per group ($4-$8, column arrays), joined by key: the claims take a group's
-- clients in id order, and clients of tied groups (see below) in id order across them.
INSERT INTO plan_entries(campaign, day, position, client_id, priority, next_dial_at,
                         window_closes_at, fits)
SELECT $1, $2,
       ROW_NUMBER() OVER (ORDER BY q.priority, q.slack_key, q.window_closes_at, q.next_dial_at,
                          q.id COLLATE "C") - 1,
       q.id, q.priority, q.next_dial_at, q.window_closes_at, q.trn <= q.class_k
FROM (SELECT g.*,
             -- Clients the claims cannot tell apart but by id (the same class,
             -- slack, window and dial moment, even in another zone or schedule)
             -- are taken in id order across their groups: as many of such a tie
             -- class fit as the per-group forecast says, but its first by id.
             ROW_NUMBER() OVER (PARTITION BY priority, slack_key, window_closes_at, next_dial_at
                                ORDER BY id COLLATE "C") AS trn,
             SUM(CASE WHEN grn <= COALESCE(k, 0) THEN 1 ELSE 0 END)
                 OVER (PARTITION BY priority, slack_key, window_closes_at, next_dial_at) AS class_k
      FROM (SELECT c.id, c.timezone, c.schedule, c.priority, c.next_dial_at, c.window_closes_at,
                   c.slack_key, f.k,
                   ROW_NUMBER() OVER (PARTITION BY c.timezone, c.schedule, c.priority, c.next_dial_at
                                      ORDER BY c.id COLLATE "C") AS grn
            FROM clients c
            LEFT JOIN unnest($4::text[], $5::text[], $6::int[], $7::timestamptz[], $8::int[])
                 AS f(tz, sched, prio, nda, k)
              ON f.tz = c.timezone AND f.sched = COALESCE(c.schedule, '') AND f.prio = c.priority
             AND f.nda = c.next_dial_at
            WHERE c.campaign = $1 AND c.next_dial_at IS NOT NULL AND c.next_dial_at < $3) g) q

-- name: upsert_plan
INSERT INTO plans(campaign, day, capacity, created_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (campaign, day) DO UPDATE SET capacity = excluded.capacity, created_at = excluded.created_at

-- name: plan_head
SELECT capacity, created_at, (SELECT count(*) FROM plan_entries WHERE campaign = $1 AND day = $2)
FROM plans WHERE campaign = $1 AND day = $2

-- name: plan_entries
-- LIMIT NULL: no limit.
SELECT client_id, priority, next_dial_at, window_closes_at, fits FROM plan_entries
WHERE campaign = $1 AND day = $2 ORDER BY position LIMIT $3

-- name: plan_position
SELECT position, fits, (SELECT count(*) FROM plan_entries WHERE campaign = $1 AND day = $2)
FROM plan_entries WHERE campaign = $1 AND day = $2 AND client_id = $3

-- name: plan_counts
SELECT EXISTS (SELECT 1 FROM plans WHERE campaign = $1 AND day = $2),
       count(*),
       count(*) FILTER (WHERE dialed),
       count(*) FILTER (WHERE NOT dialed AND ($5 >= $4 OR next_dial_at IS NULL OR next_dial_at >= $4))
FROM (SELECT EXISTS (SELECT 1 FROM calls WHERE calls.client_id = pe.client_id
                     AND calls.started_at >= $3 AND calls.started_at < $4) AS dialed,
             c.next_dial_at
      FROM plan_entries pe LEFT JOIN clients c ON c.id = pe.client_id
      WHERE pe.campaign = $1 AND pe.day = $2) p

-- name: start_job
-- A run whose worker died before finishing is taken over after JOB_TAKEOVER ($6).
INSERT INTO job_runs(job, campaign, day, owner, started_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (job, campaign, day) DO UPDATE SET owner = EXCLUDED.owner, started_at = EXCLUDED.started_at
WHERE job_runs.finished_at IS NULL AND job_runs.started_at < $6

-- name: finish_job
UPDATE job_runs SET finished_at = $4 WHERE job = $1 AND campaign = $2 AND day = $3
