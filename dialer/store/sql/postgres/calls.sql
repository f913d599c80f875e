-- Calls and the audit trail: call rows, outcomes, dispositions, events.

-- name: start_call
-- One statement: the client's open call (guarded by the lease) and the call row with its
-- attempt number commit together; no row back = the lease moved on.
WITH c AS (
    UPDATE clients SET open_call_id = $1 WHERE id = $2 AND lease_token = $3 RETURNING id, lease_owner
)
INSERT INTO calls(call_id, client_id, campaign, agent, phone, client_tz, attempt, started_at, local_day, status,
                  provider, provider_call_id, answered_at, ended_at, ring_s, talk_s, guideline, disposition,
                  disposition_at, note, error, allowed_by, worker, lease_token)
SELECT $1, c.id, $4, $5, $6, $7,
       (SELECT COALESCE(MAX(attempt), 0) + 1 FROM calls WHERE client_id = $2),
       $8, $9, 'dialing', $10, NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, $11, c.lease_owner, $3
FROM c
RETURNING attempt

-- name: set_provider_call_id
UPDATE calls SET provider_call_id = $2 WHERE call_id = $1

-- name: record_outcome
-- An outcome in one statement, hence one transaction: the client row only where its lease
-- token ($37) holds; the call row and the event only if it did. $1-$16 client, $17 call id,
-- $18 now, $19-$29 call, $30-$34 event, $35 the call's state_before, $36 client id,
-- $37 lease token, $38 slack key.
WITH cl AS (
    UPDATE clients SET stage = $1, complaint = $2, hot_calls = $3, attempts_today = $4, attempts_total = $5,
        attempts_day = $6, callback_at = $7, awaiting_disposition = $8, invalid_number = $9, due_at = $10,
        next_dial_at = $11, window_closes_at = $12, slack_key = $38::timestamptz, cap_until = $13, priority = $14,
        campaign = CASE WHEN campaign_pinned THEN campaign ELSE COALESCE($15, campaign) END,
        schedule_reason = $16, needs_schedule = false,
        lease_owner = NULL, lease_token = NULL, lease_until = NULL,
        open_call_id = CASE WHEN open_call_id = $17 THEN NULL ELSE open_call_id END,
        updated_at = $18
    WHERE id = $36 AND lease_token = $37
    RETURNING id
), ca AS (
    UPDATE calls SET status = $19, provider_call_id = COALESCE($20, provider_call_id), answered_at = $21,
        ended_at = $22, ring_s = $23, talk_s = $24, guideline = $25, disposition = $26, disposition_at = $27,
        note = COALESCE($28, note), error = $29, state_before = COALESCE(state_before, $35::jsonb)
    WHERE call_id = $17 AND EXISTS (SELECT 1 FROM cl)
), ev AS (
    INSERT INTO events(at, client_id, call_id, kind, from_stage, to_stage, reason, data)
    SELECT $18, cl.id, $17, $30, $31, $32, $33, $34::jsonb FROM cl
)
SELECT count(*) FROM cl

-- name: record_disposition
-- A disposition, the same way: the call's client, only while no live lease (not in a call
-- right now); the second column tells "no such call" from "in a call". $36 slack key.
WITH cl AS (
    UPDATE clients SET stage = $1, complaint = $2, hot_calls = $3, attempts_today = $4, attempts_total = $5,
        attempts_day = $6, callback_at = $7, awaiting_disposition = $8, invalid_number = $9, due_at = $10,
        next_dial_at = $11, window_closes_at = $12, slack_key = $36::timestamptz, cap_until = $13, priority = $14,
        campaign = CASE WHEN campaign_pinned THEN campaign ELSE COALESCE($15, campaign) END,
        schedule_reason = $16, needs_schedule = false,
        lease_owner = NULL, lease_token = NULL, lease_until = NULL,
        open_call_id = CASE WHEN open_call_id = $17 THEN NULL ELSE open_call_id END,
        updated_at = $18
    WHERE id = (SELECT client_id FROM calls WHERE call_id = $17) AND (lease_until IS NULL OR lease_until <= $18)
    RETURNING id
), ca AS (
    UPDATE calls SET status = $19, provider_call_id = COALESCE($20, provider_call_id), answered_at = $21,
        ended_at = $22, ring_s = $23, talk_s = $24, guideline = $25, disposition = $26, disposition_at = $27,
        note = COALESCE($28, note), error = $29, state_before = COALESCE(state_before, $35::jsonb)
    WHERE call_id = $17 AND EXISTS (SELECT 1 FROM cl)
), ev AS (
    INSERT INTO events(at, client_id, call_id, kind, from_stage, to_stage, reason, data)
    SELECT $18, cl.id, $17, $30, $31, $32, $33, $34::jsonb FROM cl
)
SELECT count(*), EXISTS (SELECT 1 FROM calls WHERE call_id = $17) FROM cl

-- name: lock_call_disposition
-- The call row is locked until commit: two agents disposing the same call at once take
-- turns, and the second sees the first one's disposition.
SELECT client_id, disposition FROM calls WHERE call_id = $1 FOR UPDATE

-- name: get_call
SELECT call_id, client_id, campaign, agent, phone, client_tz, attempt, started_at, local_day, status, provider,
       provider_call_id, answered_at, ended_at, ring_s, talk_s, guideline, disposition, disposition_at, note,
       error, allowed_by, worker, state_before
FROM calls WHERE call_id = $1

-- name: calls_between
SELECT call_id, client_id, campaign, agent, phone, client_tz, attempt, started_at, local_day, status, provider,
       provider_call_id, answered_at, ended_at, ring_s, talk_s, guideline, disposition, disposition_at, note,
       error, allowed_by, worker, state_before
FROM calls WHERE started_at >= $1 AND started_at < $2 ORDER BY started_at, call_id COLLATE "C"

-- name: client_calls
SELECT call_id, client_id, campaign, agent, phone, client_tz, attempt, started_at, local_day, status, provider,
       provider_call_id, answered_at, ended_at, ring_s, talk_s, guideline, disposition, disposition_at, note,
       error, allowed_by, worker, state_before
FROM calls WHERE client_id = $1 ORDER BY started_at DESC LIMIT $2

-- name: conversation_times
SELECT started_at FROM calls WHERE client_id = $1 AND started_at >= $2 AND status = 'answered' ORDER BY started_at

-- name: attempt_times
-- Calls the dialer itself cut are not the client's attempts.
SELECT started_at FROM calls WHERE client_id = $1 AND started_at >= $2 AND status NOT IN ('canceled', 'interrupted')
ORDER BY started_at

-- name: events_for
SELECT id, at, client_id, call_id, kind, from_stage, to_stage, reason, data FROM events
WHERE client_id = $1 ORDER BY id DESC LIMIT $2

-- name: events_between
SELECT id, at, client_id, call_id, kind, from_stage, to_stage, reason, data FROM events
WHERE at >= $1 AND at < $2 ORDER BY id

-- name: awaiting_disposition
SELECT call_id, client_id, campaign, agent, phone, client_tz, attempt, started_at, local_day, status, provider,
       provider_call_id, answered_at, ended_at, ring_s, talk_s, guideline, disposition, disposition_at, note,
       error, allowed_by, worker, state_before
FROM calls WHERE agent = $1 AND status = 'answered' AND disposition IS NULL ORDER BY started_at LIMIT $2

-- name: set_call_agent
-- issue 13: a client-first call got its agent at the answer (only while it is up).
UPDATE calls SET agent = $1 WHERE call_id = $2 AND status = 'dialing'
