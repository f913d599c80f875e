-- The client queue and its leases: import, placement, claims, heartbeats, rescue.
-- A client row is always read in the order of dialer.store.rows.CLIENT_COLUMNS.

-- name: insert_client
INSERT INTO clients(id, name, phone, timezone, country, schedule, campaign, campaign_pinned,
    stage, complaint, due_at, priority, attributes, created_at, updated_at, next_dial_at,
    window_closes_at, schedule_reason, needs_schedule, imported_stage, imported_next_contact,
    imported_complaint, imported_at, slack_key)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)

-- name: reimport_client
-- A known client imported again. Contact data (name, phone, zone, country, schedule,
-- campaign, attributes) is taken from the file. Stage, next contact and complaint change
-- only when the file's cell differs from what the last import said (the CRM changed it
-- since): re-importing the same list never undoes what the calls did. An empty cell
-- says nothing (the stored value and the remembered one stay). Do-not-call is sticky;
-- a changed phone clears a "wrong number" mark. A client whose last import is unknown
-- (imported_at NULL, see migration 0005) only gets it recorded. The client is
-- rescheduled only when something its place in the queue depends on changed.
UPDATE clients SET
    name=:name, phone=:phone, timezone=:tz, country=:country, schedule=:schedule,
    campaign=COALESCE(:campaign, CASE WHEN campaign_pinned=1 THEN NULL ELSE campaign END), campaign_pinned=(:campaign IS NOT NULL),
    stage=CASE WHEN stage='dnc' OR :dnc=1 THEN 'dnc' WHEN :stage IS NOT NULL AND imported_at IS NOT NULL AND :stage IS NOT imported_stage THEN :stage ELSE stage END, complaint=CASE WHEN :complaint IS NOT NULL AND imported_at IS NOT NULL AND :complaint IS NOT imported_complaint THEN :complaint ELSE complaint END, due_at=CASE WHEN :due IS NOT NULL AND imported_at IS NOT NULL AND :due IS NOT imported_next_contact THEN :due ELSE due_at END, invalid_number=CASE WHEN phone<>:phone THEN 0 ELSE invalid_number END,
    imported_stage=COALESCE(:stage, imported_stage),
    imported_next_contact=COALESCE(:due, imported_next_contact),
    imported_complaint=COALESCE(:complaint, imported_complaint),
    imported_at=:now, attributes=:attrs, updated_at=:now,
    needs_schedule=CASE WHEN needs_schedule=1 OR timezone IS NOT :tz OR schedule IS NOT :schedule
        OR country IS NOT :country OR campaign IS NOT COALESCE(:campaign, CASE WHEN campaign_pinned=1 THEN NULL ELSE campaign END)
        OR campaign_pinned <> (:campaign IS NOT NULL) OR stage <> CASE WHEN stage='dnc' OR :dnc=1 THEN 'dnc' WHEN :stage IS NOT NULL AND imported_at IS NOT NULL AND :stage IS NOT imported_stage THEN :stage ELSE stage END
        OR complaint <> CASE WHEN :complaint IS NOT NULL AND imported_at IS NOT NULL AND :complaint IS NOT imported_complaint THEN :complaint ELSE complaint END OR due_at IS NOT CASE WHEN :due IS NOT NULL AND imported_at IS NOT NULL AND :due IS NOT imported_next_contact THEN :due ELSE due_at END OR invalid_number <> CASE WHEN phone<>:phone THEN 0 ELSE invalid_number END
        THEN 1 ELSE 0 END
WHERE id=:id

-- name: clients_needing_schedule
SELECT id, name, phone, timezone, country, schedule, campaign, campaign_pinned, stage, complaint, hot_calls,
       attempts_today, attempts_total, attempts_day, callback_at, awaiting_disposition, invalid_number, due_at,
       next_dial_at, window_closes_at, cap_until, priority, schedule_reason, needs_schedule, lease_owner,
       lease_token, lease_until, open_call_id, attributes, slack_key
FROM clients WHERE needs_schedule = 1 AND lease_owner IS NULL LIMIT ?

-- name: clients_window_passed
-- Window passed without a claim (worker down, lines busy): find the next one.
SELECT id, name, phone, timezone, country, schedule, campaign, campaign_pinned, stage, complaint, hot_calls,
       attempts_today, attempts_total, attempts_day, callback_at, awaiting_disposition, invalid_number, due_at,
       next_dial_at, window_closes_at, cap_until, priority, schedule_reason, needs_schedule, lease_owner,
       lease_token, lease_until, open_call_id, attributes, slack_key
FROM clients WHERE next_dial_at IS NOT NULL AND window_closes_at <= ?
    AND needs_schedule = 0 AND lease_owner IS NULL AND open_call_id IS NULL LIMIT ?

-- name: set_schedule
-- Priority too (dialer.store.rows.priority_sql): a re-import may have changed stage or complaint.
UPDATE clients SET next_dial_at = ?, window_closes_at = ?, slack_key = ?, schedule_reason = ?,
    campaign = COALESCE(?, campaign), needs_schedule = 0,
    priority = CASE WHEN complaint = 1 THEN 0 WHEN callback_at IS NOT NULL THEN 1 WHEN stage = 'hot' THEN 2 WHEN stage = 'customer' THEN 3 ELSE 4 END
WHERE id = ?

-- name: lines_in_use
-- The lines a campaign has in use, for every worker: live leases, and calls not yet
-- settled (a dead worker's call holds its line until it is reconciled, so the call rows
-- never show more calls in progress than lines). Uses the partial index clients_busy.
SELECT COUNT(*) FROM clients WHERE campaign = :campaign AND (lease_owner IS NOT NULL OR open_call_id IS NOT NULL) AND (open_call_id IS NOT NULL OR lease_until > :now)

-- name: claim
-- One statement (one round trip to the database thread), one index range per priority
-- class (dialer.domain.Priority: 0 to 4, one branch each; a contract test checks the
-- classes): within a class the index (campaign, priority, slack_key, window_closes_at,
-- next_dial_at, id) is read in call order, least slack first, from "after now" (a client
-- inside its window has a key after its window's last start, so after now) to a day ahead
-- (:horizon; a key is at most a day after its opening): clients due on later days are
-- never walked, whatever the size of the queue.
UPDATE clients SET lease_owner=:owner, lease_token=lower(hex(randomblob(12))), lease_until=:until
WHERE id IN (
    SELECT id FROM (SELECT * FROM (
        SELECT id, priority, slack_key, window_closes_at, next_dial_at FROM clients INDEXED BY clients_claim
        WHERE campaign=:campaign AND priority=0 AND next_dial_at IS NOT NULL
          AND slack_key > :now AND slack_key <= :horizon
          AND window_closes_at > :now AND next_dial_at <= :now
          AND open_call_id IS NULL AND (lease_until IS NULL OR lease_until <= :now)
          AND (cap_until IS NULL OR cap_until <= :now)
        ORDER BY slack_key, window_closes_at, next_dial_at, id LIMIT :limit) UNION ALL SELECT * FROM (
        SELECT id, priority, slack_key, window_closes_at, next_dial_at FROM clients INDEXED BY clients_claim
        WHERE campaign=:campaign AND priority=1 AND next_dial_at IS NOT NULL
          AND slack_key > :now AND slack_key <= :horizon
          AND window_closes_at > :now AND next_dial_at <= :now
          AND open_call_id IS NULL AND (lease_until IS NULL OR lease_until <= :now)
          AND (cap_until IS NULL OR cap_until <= :now)
        ORDER BY slack_key, window_closes_at, next_dial_at, id LIMIT :limit) UNION ALL SELECT * FROM (
        SELECT id, priority, slack_key, window_closes_at, next_dial_at FROM clients INDEXED BY clients_claim
        WHERE campaign=:campaign AND priority=2 AND next_dial_at IS NOT NULL
          AND slack_key > :now AND slack_key <= :horizon
          AND window_closes_at > :now AND next_dial_at <= :now
          AND open_call_id IS NULL AND (lease_until IS NULL OR lease_until <= :now)
          AND (cap_until IS NULL OR cap_until <= :now)
        ORDER BY slack_key, window_closes_at, next_dial_at, id LIMIT :limit) UNION ALL SELECT * FROM (
        SELECT id, priority, slack_key, window_closes_at, next_dial_at FROM clients INDEXED BY clients_claim
        WHERE campaign=:campaign AND priority=3 AND next_dial_at IS NOT NULL
          AND slack_key > :now AND slack_key <= :horizon
          AND window_closes_at > :now AND next_dial_at <= :now
          AND open_call_id IS NULL AND (lease_until IS NULL OR lease_until <= :now)
          AND (cap_until IS NULL OR cap_until <= :now)
        ORDER BY slack_key, window_closes_at, next_dial_at, id LIMIT :limit) UNION ALL SELECT * FROM (
        SELECT id, priority, slack_key, window_closes_at, next_dial_at FROM clients INDEXED BY clients_claim
        WHERE campaign=:campaign AND priority=4 AND next_dial_at IS NOT NULL
          AND slack_key > :now AND slack_key <= :horizon
          AND window_closes_at > :now AND next_dial_at <= :now
          AND open_call_id IS NULL AND (lease_until IS NULL OR lease_until <= :now)
          AND (cap_until IS NULL OR cap_until <= :now)
        ORDER BY slack_key, window_closes_at, next_dial_at, id LIMIT :limit))
    ORDER BY priority, slack_key, window_closes_at, next_dial_at, id LIMIT :limit)
RETURNING id, name, phone, timezone, country, schedule, campaign, campaign_pinned, stage, complaint, hot_calls,
       attempts_today, attempts_total, attempts_day, callback_at, awaiting_disposition, invalid_number, due_at,
       next_dial_at, window_closes_at, cap_until, priority, schedule_reason, needs_schedule, lease_owner,
       lease_token, lease_until, open_call_id, attributes, slack_key

-- name: release
UPDATE clients SET lease_owner = NULL, lease_token = NULL, lease_until = NULL,
    cap_until = COALESCE(?, cap_until) WHERE id = ? AND lease_token = ?

-- name: release_and_place
UPDATE clients SET lease_owner = NULL, lease_token = NULL, lease_until = NULL, next_dial_at = ?,
    window_closes_at = ?, slack_key = ?, schedule_reason = ?, cap_until = COALESCE(?, cap_until)
WHERE id = ? AND lease_token = ?

-- name: mark_all_for_schedule
UPDATE clients SET needs_schedule = 1 WHERE stage <> 'dnc' AND needs_schedule = 0

-- name: release_unstarted_leases
-- Claimed but never dialed: simply released.
UPDATE clients SET lease_owner = NULL, lease_token = NULL, lease_until = NULL
WHERE lease_owner = ? AND open_call_id IS NULL

-- name: expire_call_leases
-- In a call when the worker died: expired, so reconciliation takes them over now.
UPDATE clients SET lease_until = ? WHERE lease_owner = ? AND open_call_id IS NOT NULL

-- name: worker_seen
INSERT INTO workers(worker, seen_at) VALUES (?, ?)
ON CONFLICT(worker) DO UPDATE SET seen_at = MAX(seen_at, excluded.seen_at)

-- name: extend_leases
UPDATE clients SET lease_until = ? WHERE lease_owner = ? AND lease_until < ?

-- name: worker_seen_at
SELECT seen_at FROM workers WHERE worker = ?

-- name: orphaned_calls
-- Driven by the small partial index of open calls, joined by primary key: never a scan
-- of the clients table.
SELECT calls.call_id, calls.client_id, calls.campaign, calls.agent, calls.phone, calls.client_tz,
       calls.attempt, calls.started_at, calls.local_day, calls.status, calls.provider, calls.provider_call_id,
       calls.answered_at, calls.ended_at, calls.ring_s, calls.talk_s, calls.guideline, calls.disposition,
       calls.disposition_at, calls.note, calls.error, calls.allowed_by, calls.worker, calls.state_before
FROM calls JOIN clients ON clients.id = calls.client_id
WHERE calls.status = 'dialing' AND clients.open_call_id = calls.call_id
    AND (clients.lease_until IS NULL OR clients.lease_until <= ?) LIMIT ?

-- name: rescue
UPDATE clients SET lease_owner = :o, lease_token = lower(hex(randomblob(12))), lease_until = :u
WHERE id = (SELECT client_id FROM calls WHERE call_id = :c) AND open_call_id = :c
    AND (lease_until IS NULL OR lease_until <= :n)
RETURNING id, name, phone, timezone, country, schedule, campaign, campaign_pinned, stage, complaint, hot_calls,
       attempts_today, attempts_total, attempts_day, callback_at, awaiting_disposition, invalid_number, due_at,
       next_dial_at, window_closes_at, cap_until, priority, schedule_reason, needs_schedule, lease_owner,
       lease_token, lease_until, open_call_id, attributes, slack_key

-- name: get_client
SELECT id, name, phone, timezone, country, schedule, campaign, campaign_pinned, stage, complaint, hot_calls,
       attempts_today, attempts_total, attempts_day, callback_at, awaiting_disposition, invalid_number, due_at,
       next_dial_at, window_closes_at, cap_until, priority, schedule_reason, needs_schedule, lease_owner,
       lease_token, lease_until, open_call_id, attributes, slack_key
FROM clients WHERE id = ?

-- name: get_clients
-- Several clients by id in one statement (the simulation's audit reads every client called).
SELECT id, name, phone, timezone, country, schedule, campaign, campaign_pinned, stage, complaint, hot_calls,
       attempts_today, attempts_total, attempts_day, callback_at, awaiting_disposition, invalid_number, due_at,
       next_dial_at, window_closes_at, cap_until, priority, schedule_reason, needs_schedule, lease_owner,
       lease_token, lease_until, open_call_id, attributes, slack_key
FROM clients WHERE id IN (SELECT value FROM json_each(?))

-- name: due_clients
-- In call order; LIMIT -1: no limit.
SELECT id, name, phone, timezone, country, schedule, campaign, campaign_pinned, stage, complaint, hot_calls,
       attempts_today, attempts_total, attempts_day, callback_at, awaiting_disposition, invalid_number, due_at,
       next_dial_at, window_closes_at, cap_until, priority, schedule_reason, needs_schedule, lease_owner,
       lease_token, lease_until, open_call_id, attributes, slack_key
FROM clients WHERE campaign = ? AND next_dial_at IS NOT NULL AND next_dial_at < ?
ORDER BY priority, slack_key, window_closes_at, next_dial_at, id LIMIT ?

-- name: next_dial_after
SELECT MIN(next_dial_at) FROM clients WHERE next_dial_at > ?

-- name: next_dial_after_in_campaign
SELECT MIN(next_dial_at) FROM clients WHERE campaign = ? AND next_dial_at > ?

-- name: queue_stats
SELECT
  SUM(CASE WHEN lease_until > :n OR open_call_id IS NOT NULL THEN 1 ELSE 0 END),
  SUM(CASE WHEN next_dial_at <= :n AND window_closes_at > :n AND open_call_id IS NULL
            AND (lease_until IS NULL OR lease_until <= :n) THEN 1 ELSE 0 END),
  COUNT(*),
  SUM(CASE WHEN window_closes_at <= :n AND open_call_id IS NULL
            AND (lease_until IS NULL OR lease_until <= :n) THEN 1 ELSE 0 END)
FROM clients WHERE campaign = :c AND next_dial_at IS NOT NULL
