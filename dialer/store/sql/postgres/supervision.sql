-- Named queries of the "supervision" store role (dialer/store/supervision.py): a
-- supervisor finds clients and changes one by hand (next contact, do-not-call). A
-- client row is read in the order of dialer.store.rows.CLIENT_COLUMNS. Scope: $2 true
-- for every campaign, else the client's campaign is in the array $3.

-- name: clients_by_phone
SELECT id, name, phone, timezone, country, schedule, campaign, campaign_pinned, stage, complaint, hot_calls,
       attempts_today, attempts_total, attempts_day, callback_at, awaiting_disposition, invalid_number, due_at,
       next_dial_at, window_closes_at, cap_until, priority, schedule_reason, needs_schedule, lease_owner,
       lease_token, lease_until, open_call_id, attributes, slack_key
FROM clients WHERE phone = $1 AND ($2::boolean OR campaign = ANY($3::text[]))
ORDER BY id LIMIT $4

-- name: clients_by_name
SELECT id, name, phone, timezone, country, schedule, campaign, campaign_pinned, stage, complaint, hot_calls,
       attempts_today, attempts_total, attempts_day, callback_at, awaiting_disposition, invalid_number, due_at,
       next_dial_at, window_closes_at, cap_until, priority, schedule_reason, needs_schedule, lease_owner,
       lease_token, lease_until, open_call_id, attributes, slack_key
FROM clients WHERE strpos(lower(name), lower($1)) > 0 AND ($2::boolean OR campaign = ANY($3::text[]))
ORDER BY name, id LIMIT $4

-- name: move_next_contact
-- Only while no worker holds the client (claimed or in a call): a worker's release or
-- outcome would overwrite it. Do-not-call clients are never moved. The event is written
-- in the same statement.
WITH cl AS (
    UPDATE clients SET due_at = $2, next_dial_at = $3, window_closes_at = $4, slack_key = $5,
        schedule_reason = $6, campaign = COALESCE($7, campaign), needs_schedule = false, updated_at = $8
    WHERE id = $1 AND stage <> 'dnc' AND open_call_id IS NULL AND (lease_until IS NULL OR lease_until <= $8)
    RETURNING id
), ev AS (
    INSERT INTO events(at, client_id, call_id, kind, from_stage, to_stage, reason, data)
    SELECT $8, cl.id, NULL, $9, $10, $11, $12, $13::jsonb FROM cl
)
SELECT count(*) FROM cl

-- name: mark_do_not_call
WITH cl AS (
    UPDATE clients SET stage = 'dnc', next_dial_at = NULL, window_closes_at = NULL, callback_at = NULL,
        schedule_reason = $2, needs_schedule = false, updated_at = $3
    WHERE id = $1 AND stage <> 'dnc' AND open_call_id IS NULL AND (lease_until IS NULL OR lease_until <= $3)
    RETURNING id
), ev AS (
    INSERT INTO events(at, client_id, call_id, kind, from_stage, to_stage, reason, data)
    SELECT $3, cl.id, NULL, $4, $5, 'dnc', $6, $7::jsonb FROM cl
)
SELECT count(*) FROM cl
