-- The client queue and its leases: import, placement, claims, heartbeats, rescue.
-- A client row is always read in the order of dialer.store.rows.CLIENT_COLUMNS.

-- name: upsert_clients
-- Bulk upsert of one batch, passed as column arrays. Both halves read the table as it
-- was before the statement, so `upd` touches exactly the known ids and `ins` exactly
-- the new ones: the counts are exact. A known client: contact data (name, phone, zone,
-- country, schedule, campaign, attributes) is taken from the file; stage, next contact
-- and complaint change only when the file's cell differs from what the last import said
-- (the CRM changed it since), so re-importing the same list never undoes what the calls
-- did; an empty cell (NULL) says nothing. Do-not-call is sticky, a changed phone clears
-- invalid_number, an import without a campaign unpins (the stored campaign stays unless
-- it was pinned). A client whose last import is unknown (imported_at NULL, see
-- migration 0005) only gets it recorded. It is rescheduled only when something its place
-- in the queue depends on changed.
WITH t AS MATERIALIZED (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                         $8::text[], $9::boolean[], $10::boolean[], $11::timestamptz[], $12::jsonb[],
                         $13::text[], $14::text[], $15::boolean[], $16::integer[], $17::timestamptz[],
                         $18::timestamptz[], $19::text[], $20::boolean[], $21::timestamptz[])
        AS t(id, name, phone, timezone, country, schedule, campaign, stage, dnc, complaint, due_at, attributes,
             new_campaign, new_stage, new_complaint, new_priority, next_dial_at, window_closes_at, reason,
             scheduled, slack_key)
), upd AS (
    UPDATE clients c SET
        name = t.name, phone = t.phone, timezone = t.timezone, country = t.country, schedule = t.schedule,
        campaign = COALESCE(t.campaign, CASE WHEN c.campaign_pinned THEN NULL ELSE c.campaign END), campaign_pinned = t.campaign IS NOT NULL,
        stage = CASE WHEN c.stage = 'dnc' OR t.dnc THEN 'dnc' WHEN t.stage IS NOT NULL AND c.imported_at IS NOT NULL AND t.stage IS DISTINCT FROM c.imported_stage THEN t.stage ELSE c.stage END, complaint = CASE WHEN t.complaint IS NOT NULL AND c.imported_at IS NOT NULL AND t.complaint IS DISTINCT FROM c.imported_complaint THEN t.complaint ELSE c.complaint END, due_at = CASE WHEN t.due_at IS NOT NULL AND c.imported_at IS NOT NULL AND t.due_at IS DISTINCT FROM c.imported_next_contact THEN t.due_at ELSE c.due_at END, invalid_number = CASE WHEN c.phone <> t.phone THEN false ELSE c.invalid_number END,
        imported_stage = COALESCE(t.stage, c.imported_stage),
        imported_next_contact = COALESCE(t.due_at, c.imported_next_contact),
        imported_complaint = COALESCE(t.complaint, c.imported_complaint),
        imported_at = $22, attributes = t.attributes, updated_at = $22,
        needs_schedule = c.needs_schedule OR c.timezone IS DISTINCT FROM t.timezone
            OR c.schedule IS DISTINCT FROM t.schedule OR c.country IS DISTINCT FROM t.country
            OR c.campaign IS DISTINCT FROM COALESCE(t.campaign, CASE WHEN c.campaign_pinned THEN NULL ELSE c.campaign END) OR c.campaign_pinned <> (t.campaign IS NOT NULL)
            OR c.stage <> CASE WHEN c.stage = 'dnc' OR t.dnc THEN 'dnc' WHEN t.stage IS NOT NULL AND c.imported_at IS NOT NULL AND t.stage IS DISTINCT FROM c.imported_stage THEN t.stage ELSE c.stage END OR c.complaint <> CASE WHEN t.complaint IS NOT NULL AND c.imported_at IS NOT NULL AND t.complaint IS DISTINCT FROM c.imported_complaint THEN t.complaint ELSE c.complaint END
            OR c.due_at IS DISTINCT FROM CASE WHEN t.due_at IS NOT NULL AND c.imported_at IS NOT NULL AND t.due_at IS DISTINCT FROM c.imported_next_contact THEN t.due_at ELSE c.due_at END OR c.invalid_number <> CASE WHEN c.phone <> t.phone THEN false ELSE c.invalid_number END
    FROM t WHERE c.id = t.id
    RETURNING 1
), ins AS (
    INSERT INTO clients(id, name, phone, timezone, country, schedule, campaign, campaign_pinned, stage, complaint,
                        due_at, priority, attributes, created_at, updated_at, next_dial_at, window_closes_at,
                        schedule_reason, needs_schedule, imported_stage, imported_next_contact,
                        imported_complaint, imported_at, slack_key)
    SELECT t.id, t.name, t.phone, t.timezone, t.country, t.schedule, t.new_campaign, t.campaign IS NOT NULL,
           t.new_stage, t.new_complaint, t.due_at, t.new_priority, t.attributes, $22, $22, t.next_dial_at,
           t.window_closes_at, t.reason, NOT t.scheduled, t.stage, t.due_at, t.complaint, $22, t.slack_key
    FROM t WHERE NOT EXISTS (SELECT 1 FROM clients x WHERE x.id = t.id)
    RETURNING 1
)
SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM upd)

-- name: clients_needing_schedule
SELECT id, name, phone, timezone, country, schedule, campaign, campaign_pinned, stage, complaint, hot_calls,
       attempts_today, attempts_total, attempts_day, callback_at, awaiting_disposition, invalid_number, due_at,
       next_dial_at, window_closes_at, cap_until, priority, schedule_reason, needs_schedule, lease_owner,
       lease_token, lease_until, open_call_id, attributes, slack_key
FROM clients WHERE needs_schedule AND lease_owner IS NULL LIMIT $1

-- name: clients_window_passed
-- Window passed without a claim (worker down, lines busy): find the next one.
SELECT id, name, phone, timezone, country, schedule, campaign, campaign_pinned, stage, complaint, hot_calls,
       attempts_today, attempts_total, attempts_day, callback_at, awaiting_disposition, invalid_number, due_at,
       next_dial_at, window_closes_at, cap_until, priority, schedule_reason, needs_schedule, lease_owner,
       lease_token, lease_until, open_call_id, attributes, slack_key
FROM clients WHERE next_dial_at IS NOT NULL AND window_closes_at <= $1
    AND NOT needs_schedule AND lease_owner IS NULL AND open_call_id IS NULL LIMIT $2

-- name: set_schedules
-- Priority too (dialer.store.rows.priority_sql): a re-import may have changed stage or complaint.
UPDATE clients c SET next_dial_at = s.next_dial_at, window_closes_at = s.window_closes_at,
    slack_key = s.slack_key,
    schedule_reason = s.reason, campaign = COALESCE(s.campaign, c.campaign), needs_schedule = false,
    priority = CASE WHEN c.complaint THEN 0 WHEN callback_at IS NOT NULL THEN 1 WHEN stage = 'hot' THEN 2 WHEN stage = 'customer' THEN 3 ELSE 4 END
FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::text[], $5::text[], $6::timestamptz[])
    AS s(id, next_dial_at, window_closes_at, reason, campaign, slack_key)
WHERE c.id = s.id

-- name: lines_in_use
-- The lines a campaign has in use, for every worker: live leases, and calls not yet
-- settled (a dead worker's call holds its line until it is reconciled, so the call rows
-- never show more calls in progress than lines). Uses the partial index clients_busy.
SELECT count(*) FROM clients WHERE campaign = $1 AND (lease_owner IS NOT NULL OR open_call_id IS NOT NULL) AND (open_call_id IS NOT NULL OR lease_until > $2)

-- name: claim
-- One claim statement, one index range per priority class (complaints, callbacks, hot,
-- customers, prospects; $6 lists them): within a class the index (campaign, priority,
-- slack_key, window_closes_at, next_dial_at, id) is read in call order, least slack first,
-- from "after now" (a client inside its window has a key after its last start) to a day
-- ahead ($7; a key is at most a day after its opening), so clients due on later days are
-- never walked, whatever the size of the queue. Rows other transactions hold are skipped;
-- each row gets its own token. `= ANY(ARRAY(...))`, not `IN (...)`: the picked ids become
-- one array and the update looks them up by primary key whatever the planner guesses for
-- LIMIT (with `IN`, a generic plan hash-joins a scan of the whole table: ~280 ms a claim
-- at 1M clients instead of ~2 ms).
UPDATE clients c SET lease_owner = $1, lease_token = gen_random_uuid()::text, lease_until = $2
WHERE c.id = ANY(ARRAY(
    SELECT x.id FROM unnest($6::int[]) AS p(priority)
    CROSS JOIN LATERAL (
        SELECT id, slack_key, window_closes_at, next_dial_at FROM clients
        WHERE campaign = $3 AND priority = p.priority AND next_dial_at IS NOT NULL
          AND slack_key > $4 AND slack_key <= $7
          AND window_closes_at > $4 AND next_dial_at <= $4
          AND open_call_id IS NULL
          AND (lease_until IS NULL OR lease_until <= $4)
          AND (cap_until IS NULL OR cap_until <= $4)
        ORDER BY slack_key, window_closes_at, next_dial_at, id COLLATE "C"
        LIMIT $5
        FOR UPDATE SKIP LOCKED) x
    ORDER BY p.priority, x.slack_key, x.window_closes_at, x.next_dial_at, x.id COLLATE "C"
    LIMIT $5))
RETURNING c.id, c.name, c.phone, c.timezone, c.country, c.schedule, c.campaign, c.campaign_pinned, c.stage, c.complaint, c.hot_calls,
       c.attempts_today, c.attempts_total, c.attempts_day, c.callback_at, c.awaiting_disposition, c.invalid_number, c.due_at,
       c.next_dial_at, c.window_closes_at, c.cap_until, c.priority, c.schedule_reason, c.needs_schedule, c.lease_owner,
       c.lease_token, c.lease_until, c.open_call_id, c.attributes, c.slack_key

-- name: claim_within_lines
-- The claim with global lines ($8 = max_in_use): at most what the lines in use of all
-- workers (counted as in lines_in_use) leave.
UPDATE clients c SET lease_owner = $1, lease_token = gen_random_uuid()::text, lease_until = $2
WHERE c.id = ANY(ARRAY(
    SELECT x.id FROM unnest($6::int[]) AS p(priority)
    CROSS JOIN LATERAL (
        SELECT id, slack_key, window_closes_at, next_dial_at FROM clients
        WHERE campaign = $3 AND priority = p.priority AND next_dial_at IS NOT NULL
          AND slack_key > $4 AND slack_key <= $7
          AND window_closes_at > $4 AND next_dial_at <= $4
          AND open_call_id IS NULL
          AND (lease_until IS NULL OR lease_until <= $4)
          AND (cap_until IS NULL OR cap_until <= $4)
        ORDER BY slack_key, window_closes_at, next_dial_at, id COLLATE "C"
        LIMIT GREATEST(0, LEAST($5, $8 - (SELECT count(*) FROM clients WHERE campaign = $3 AND (lease_owner IS NOT NULL OR open_call_id IS NOT NULL) AND (open_call_id IS NOT NULL OR lease_until > $4))))
        FOR UPDATE SKIP LOCKED) x
    ORDER BY p.priority, x.slack_key, x.window_closes_at, x.next_dial_at, x.id COLLATE "C"
    LIMIT GREATEST(0, LEAST($5, $8 - (SELECT count(*) FROM clients WHERE campaign = $3 AND (lease_owner IS NOT NULL OR open_call_id IS NOT NULL) AND (open_call_id IS NOT NULL OR lease_until > $4))))))
RETURNING c.id, c.name, c.phone, c.timezone, c.country, c.schedule, c.campaign, c.campaign_pinned, c.stage, c.complaint, c.hot_calls,
       c.attempts_today, c.attempts_total, c.attempts_day, c.callback_at, c.awaiting_disposition, c.invalid_number, c.due_at,
       c.next_dial_at, c.window_closes_at, c.cap_until, c.priority, c.schedule_reason, c.needs_schedule, c.lease_owner,
       c.lease_token, c.lease_until, c.open_call_id, c.attributes, c.slack_key

-- name: release
UPDATE clients SET lease_owner = NULL, lease_token = NULL, lease_until = NULL,
    cap_until = COALESCE($3, cap_until) WHERE id = $1 AND lease_token = $2

-- name: release_and_place
UPDATE clients SET lease_owner = NULL, lease_token = NULL, lease_until = NULL, next_dial_at = $3,
    window_closes_at = $4, schedule_reason = $5, cap_until = COALESCE($6, cap_until),
    slack_key = $7 WHERE id = $1 AND lease_token = $2

-- name: mark_all_for_schedule
UPDATE clients SET needs_schedule = true WHERE stage <> 'dnc' AND NOT needs_schedule

-- name: expire_leases
-- Claimed but never dialed: released. In a call when the worker died: the lease ends now,
-- so reconciliation takes the call over at once.
UPDATE clients SET
    lease_owner = CASE WHEN open_call_id IS NULL THEN NULL ELSE lease_owner END,
    lease_token = CASE WHEN open_call_id IS NULL THEN NULL ELSE lease_token END,
    lease_until = CASE WHEN open_call_id IS NULL THEN NULL ELSE $2::timestamptz END
WHERE lease_owner = $1

-- name: extend_leases
UPDATE clients SET lease_until = $2 WHERE lease_owner = $1 AND lease_until < $2

-- name: heartbeat
-- One statement, one transaction: the worker's last sign of life and its leases.
WITH seen AS (
    INSERT INTO workers(worker, seen_at) VALUES ($1, $3) ON CONFLICT (worker)
    DO UPDATE SET seen_at = GREATEST(workers.seen_at, excluded.seen_at) RETURNING 1
), leases AS (
    UPDATE clients SET lease_until = $2 WHERE lease_owner = $1 AND lease_until < $2 RETURNING 1
)
SELECT count(*) FROM leases  -- `seen` runs all the same (data-modifying CTE)

-- name: worker_seen_at
SELECT seen_at FROM workers WHERE worker = $1

-- name: orphaned_calls
-- Calls still dialing whose client's lease ran out. Driven by the small partial index of
-- open calls; each one looks its client up by primary key (OFFSET 0 keeps the lookup a
-- per-row subquery, so the planner cannot turn it into a join that scans clients).
SELECT o.call_id, o.client_id, o.campaign, o.agent, o.phone, o.client_tz, o.attempt, o.started_at, o.local_day,
       o.status, o.provider, o.provider_call_id, o.answered_at, o.ended_at, o.ring_s, o.talk_s, o.guideline,
       o.disposition, o.disposition_at, o.note, o.error, o.allowed_by, o.worker, o.state_before
FROM calls o
WHERE o.status = 'dialing'
  AND EXISTS (SELECT 1 FROM clients c
              WHERE c.id = o.client_id AND c.open_call_id = o.call_id
                AND (c.lease_until IS NULL OR c.lease_until <= $1) OFFSET 0)
LIMIT $2

-- name: rescue
UPDATE clients SET lease_owner = $2, lease_token = gen_random_uuid()::text, lease_until = $4
WHERE id = (SELECT client_id FROM calls WHERE call_id = $1) AND open_call_id = $1
    AND (lease_until IS NULL OR lease_until <= $3)
RETURNING id, name, phone, timezone, country, schedule, campaign, campaign_pinned, stage, complaint, hot_calls,
       attempts_today, attempts_total, attempts_day, callback_at, awaiting_disposition, invalid_number, due_at,
       next_dial_at, window_closes_at, cap_until, priority, schedule_reason, needs_schedule, lease_owner,
       lease_token, lease_until, open_call_id, attributes, slack_key

-- name: get_client
SELECT id, name, phone, timezone, country, schedule, campaign, campaign_pinned, stage, complaint, hot_calls,
       attempts_today, attempts_total, attempts_day, callback_at, awaiting_disposition, invalid_number, due_at,
       next_dial_at, window_closes_at, cap_until, priority, schedule_reason, needs_schedule, lease_owner,
       lease_token, lease_until, open_call_id, attributes, slack_key
FROM clients WHERE id = $1

-- name: get_clients
-- Several clients by id in one statement (the simulation's audit reads every client called).
SELECT id, name, phone, timezone, country, schedule, campaign, campaign_pinned, stage, complaint, hot_calls,
       attempts_today, attempts_total, attempts_day, callback_at, awaiting_disposition, invalid_number, due_at,
       next_dial_at, window_closes_at, cap_until, priority, schedule_reason, needs_schedule, lease_owner,
       lease_token, lease_until, open_call_id, attributes, slack_key
FROM clients WHERE id = ANY($1::text[])

-- name: due_clients
-- In call order; LIMIT NULL: no limit.
SELECT id, name, phone, timezone, country, schedule, campaign, campaign_pinned, stage, complaint, hot_calls,
       attempts_today, attempts_total, attempts_day, callback_at, awaiting_disposition, invalid_number, due_at,
       next_dial_at, window_closes_at, cap_until, priority, schedule_reason, needs_schedule, lease_owner,
       lease_token, lease_until, open_call_id, attributes, slack_key
FROM clients WHERE campaign = $1 AND next_dial_at IS NOT NULL AND next_dial_at < $2
ORDER BY priority, slack_key, window_closes_at, next_dial_at, id COLLATE "C" LIMIT $3

-- name: next_dial_after
SELECT min(next_dial_at) FROM clients WHERE next_dial_at > $1 AND ($2::text IS NULL OR campaign = $2)

-- name: queue_stats
SELECT count(*) FILTER (WHERE lease_until > $2 OR open_call_id IS NOT NULL),
       count(*) FILTER (WHERE next_dial_at <= $2 AND window_closes_at > $2 AND open_call_id IS NULL
                        AND (lease_until IS NULL OR lease_until <= $2)),
       count(*),
       count(*) FILTER (WHERE window_closes_at <= $2 AND open_call_id IS NULL
                        AND (lease_until IS NULL OR lease_until <= $2))
FROM clients WHERE campaign = $1 AND next_dial_at IS NOT NULL
