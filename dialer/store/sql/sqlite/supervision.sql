-- Named queries of the "supervision" store role (dialer/store/supervision.py): a
-- supervisor finds clients and changes one by hand (next contact, do-not-call). A
-- client row is read in the order of dialer.store.rows.CLIENT_COLUMNS. Scope: :all = 1
-- for every campaign, else the client's campaign is in the JSON array :scope.

-- name: clients_by_phone
SELECT id, name, phone, timezone, country, schedule, campaign, campaign_pinned, stage, complaint, hot_calls,
       attempts_today, attempts_total, attempts_day, callback_at, awaiting_disposition, invalid_number, due_at,
       next_dial_at, window_closes_at, cap_until, priority, schedule_reason, needs_schedule, lease_owner,
       lease_token, lease_until, open_call_id, attributes, slack_key
FROM clients WHERE phone = :phone
    AND (:all = 1 OR campaign IN (SELECT value FROM json_each(:scope)))
ORDER BY id LIMIT :limit

-- name: clients_by_name
-- dialer_fold is Python's str.casefold, registered on the connection: SQLite's own
-- lower() folds ASCII only, and most names here are Cyrillic.
SELECT id, name, phone, timezone, country, schedule, campaign, campaign_pinned, stage, complaint, hot_calls,
       attempts_today, attempts_total, attempts_day, callback_at, awaiting_disposition, invalid_number, due_at,
       next_dial_at, window_closes_at, cap_until, priority, schedule_reason, needs_schedule, lease_owner,
       lease_token, lease_until, open_call_id, attributes, slack_key
FROM clients WHERE instr(dialer_fold(name), :text) > 0
    AND (:all = 1 OR campaign IN (SELECT value FROM json_each(:scope)))
ORDER BY name, id LIMIT :limit

-- name: move_next_contact
-- Only while no worker holds the client (claimed or in a call): a worker's release or
-- outcome would overwrite it. Do-not-call clients are never moved.
UPDATE clients SET due_at = :due, next_dial_at = :next, window_closes_at = :closes, slack_key = :slack,
    schedule_reason = :reason, campaign = COALESCE(:campaign, campaign), needs_schedule = 0, updated_at = :now
WHERE id = :id AND stage <> 'dnc' AND open_call_id IS NULL AND (lease_until IS NULL OR lease_until <= :now)

-- name: mark_do_not_call
UPDATE clients SET stage = 'dnc', next_dial_at = NULL, window_closes_at = NULL, callback_at = NULL,
    schedule_reason = :reason, needs_schedule = 0, updated_at = :now
WHERE id = :id AND stage <> 'dnc' AND open_call_id IS NULL AND (lease_until IS NULL OR lease_until <= :now)

-- name: insert_event
INSERT INTO events(at, client_id, call_id, kind, from_stage, to_stage, reason, data)
VALUES (:now, :id, NULL, :kind, :from_stage, :to_stage, :reason, :data)
