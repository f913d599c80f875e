-- Calls and the audit trail: call rows, outcomes, dispositions, events.

-- name: open_call
-- The client's call in progress, only while the caller still holds its lease.
UPDATE clients SET open_call_id = ? WHERE id = ? AND lease_token = ?

-- name: insert_call
-- The attempt number is assigned here, in the same transaction as the row; the call's
-- worker is the client's lease owner.
INSERT INTO calls(call_id, client_id, campaign, agent, phone, client_tz, attempt, started_at, local_day,
                  status, provider, provider_call_id, answered_at, ended_at, ring_s, talk_s, guideline,
                  disposition, disposition_at, note, error, allowed_by, worker, lease_token)
SELECT :call_id, :client_id, :campaign, :agent, :phone, :client_tz, COALESCE(MAX(attempt), 0) + 1,
       :started_at, :local_day, 'dialing', :provider, NULL, NULL, NULL, 0.0, 0.0, NULL, NULL, NULL, NULL, NULL,
       :allowed_by, (SELECT lease_owner FROM clients WHERE id = :client_id), :lease_token
FROM calls WHERE client_id = :client_id RETURNING attempt

-- name: set_provider_call_id
UPDATE calls SET provider_call_id = ? WHERE call_id = ?

-- name: outcome_client
-- The client's new state after a call's outcome, only while the lease token matches.
UPDATE clients SET stage = :stage, complaint = :complaint, hot_calls = :hot_calls,
    attempts_today = :attempts_today, attempts_total = :attempts_total, attempts_day = :attempts_day,
    callback_at = :callback_at, awaiting_disposition = :awaiting_disposition,
    invalid_number = :invalid_number, due_at = :due_at, next_dial_at = :next_dial_at,
    window_closes_at = :window_closes_at, slack_key = :slack_key, cap_until = :cap_until, priority = :priority,
    campaign = CASE WHEN campaign_pinned = 1 THEN campaign ELSE COALESCE(:campaign, campaign) END,
    schedule_reason = :reason, needs_schedule = 0,
    lease_owner = NULL, lease_token = NULL, lease_until = NULL,
    open_call_id = CASE WHEN open_call_id = :call_id THEN NULL ELSE open_call_id END,
    updated_at = :now
WHERE id = :id AND lease_token = :lease_token

-- name: disposition_client
-- The client's new state after a disposition, only while no live lease (not in a call now).
UPDATE clients SET stage = :stage, complaint = :complaint, hot_calls = :hot_calls,
    attempts_today = :attempts_today, attempts_total = :attempts_total, attempts_day = :attempts_day,
    callback_at = :callback_at, awaiting_disposition = :awaiting_disposition,
    invalid_number = :invalid_number, due_at = :due_at, next_dial_at = :next_dial_at,
    window_closes_at = :window_closes_at, slack_key = :slack_key, cap_until = :cap_until, priority = :priority,
    campaign = CASE WHEN campaign_pinned = 1 THEN campaign ELSE COALESCE(:campaign, campaign) END,
    schedule_reason = :reason, needs_schedule = 0,
    lease_owner = NULL, lease_token = NULL, lease_until = NULL,
    open_call_id = CASE WHEN open_call_id = :call_id THEN NULL ELSE open_call_id END,
    updated_at = :now
WHERE id = :id AND (lease_until IS NULL OR lease_until <= :now)

-- name: update_call
UPDATE calls SET status = ?, provider_call_id = COALESCE(?, provider_call_id), answered_at = ?, ended_at = ?,
    ring_s = ?, talk_s = ?, guideline = ?, disposition = ?, disposition_at = ?, note = COALESCE(?, note), error = ?,
    state_before = COALESCE(state_before, ?)
WHERE call_id = ?

-- name: insert_event
INSERT INTO events(at, client_id, call_id, kind, from_stage, to_stage, reason, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)

-- name: call_disposition
SELECT client_id, disposition FROM calls WHERE call_id = ?

-- name: get_call
SELECT call_id, client_id, campaign, agent, phone, client_tz, attempt, started_at, local_day, status, provider,
       provider_call_id, answered_at, ended_at, ring_s, talk_s, guideline, disposition, disposition_at, note,
       error, allowed_by, worker, state_before
FROM calls WHERE call_id = ?

-- name: calls_between
SELECT call_id, client_id, campaign, agent, phone, client_tz, attempt, started_at, local_day, status, provider,
       provider_call_id, answered_at, ended_at, ring_s, talk_s, guideline, disposition, disposition_at, note,
       error, allowed_by, worker, state_before
FROM calls WHERE started_at >= ? AND started_at < ? ORDER BY started_at, call_id

-- name: client_calls
SELECT call_id, client_id, campaign, agent, phone, client_tz, attempt, started_at, local_day, status, provider,
       provider_call_id, answered_at, ended_at, ring_s, talk_s, guideline, disposition, disposition_at, note,
       error, allowed_by, worker, state_before
FROM calls WHERE client_id = ? ORDER BY started_at DESC LIMIT ?

-- name: conversation_times
SELECT started_at FROM calls WHERE client_id = ? AND started_at >= ? AND status = 'answered' ORDER BY started_at

-- name: attempt_times
-- Calls the dialer itself cut are not the client's attempts.
SELECT started_at FROM calls WHERE client_id = ? AND started_at >= ? AND status NOT IN ('canceled', 'interrupted')
ORDER BY started_at

-- name: events_for
SELECT id, at, client_id, call_id, kind, from_stage, to_stage, reason, data FROM events
WHERE client_id = ? ORDER BY id DESC LIMIT ?

-- name: events_between
SELECT id, at, client_id, call_id, kind, from_stage, to_stage, reason, data FROM events
WHERE at >= ? AND at < ? ORDER BY id

-- name: awaiting_disposition
SELECT call_id, client_id, campaign, agent, phone, client_tz, attempt, started_at, local_day, status, provider,
       provider_call_id, answered_at, ended_at, ring_s, talk_s, guideline, disposition, disposition_at, note,
       error, allowed_by, worker, state_before
FROM calls WHERE agent = ? AND status = 'answered' AND disposition IS NULL ORDER BY started_at LIMIT ?

-- name: set_call_agent
-- issue 13: a client-first call got its agent at the answer (only while it is up).
UPDATE calls SET agent = ? WHERE call_id = ? AND status = 'dialing'
