-- What the workers share to pace calls: start slots (calls per second) and readiness.

-- name: reserve_start
-- The campaign's next free start slot (epoch seconds), taken and moved on by one gap.
INSERT INTO pacing(campaign, next_start) VALUES ($1, $2) ON CONFLICT (campaign) DO UPDATE
SET next_start = GREATEST(pacing.next_start, $3) + $4 RETURNING next_start

-- name: report_readiness
INSERT INTO provider_readiness(owner, provider, ready, reason, since, checked_at)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (owner, provider) DO UPDATE SET ready = EXCLUDED.ready,
    reason = EXCLUDED.reason, since = EXCLUDED.since, checked_at = EXCLUDED.checked_at

-- name: readiness_reports
SELECT owner, provider, ready, reason, since, checked_at FROM provider_readiness
WHERE checked_at >= $1 ORDER BY provider, owner

-- name: abandon_counts
-- issue 13: live answers (answered or abandoned; a machine is live only where it reached
-- the dialer as answered, SIP) and abandoned calls of a campaign answered in [since, until).
SELECT count(*) FILTER (WHERE status IN ('answered', 'abandoned')), count(*) FILTER (WHERE status = 'abandoned')
FROM calls WHERE campaign = $1 AND answered_at >= $2 AND answered_at < $3

-- name: ringing_unattached
-- issue 13: start instants of the campaign's client-first calls still up with no agent
-- attached (ringing, or answered and waiting up to abandon_after for one); every worker's.
SELECT started_at FROM calls WHERE status = 'dialing' AND agent IS NULL AND campaign = $1 ORDER BY started_at

-- name: recent_calls
-- issue 13: the campaign's finished calls started at or after the instant, newest first:
-- what the pacing statistics are built from.
SELECT call_id, client_id, campaign, agent, phone, client_tz, attempt, started_at, local_day, status, provider,
       provider_call_id, answered_at, ended_at, ring_s, talk_s, guideline, disposition, disposition_at, note,
       error, allowed_by, worker, state_before
FROM calls WHERE campaign = $1 AND started_at >= $2 AND status <> 'dialing' ORDER BY started_at DESC LIMIT $3

-- name: recent_outcomes
-- issue 13: recent_calls narrowed to the columns the pacing statistics read.
SELECT status, started_at, answered_at, ended_at, ring_s, talk_s
FROM calls WHERE campaign = $1 AND started_at >= $2 AND status <> 'dialing' ORDER BY started_at DESC LIMIT $3

-- name: abandoned_since
-- issue 13: of the listed clients, those abandoned at or after the instant, with their
-- latest abandon (the 72 h rule); read from the calls by client.
SELECT client_id, MAX(COALESCE(answered_at, started_at)) FROM calls
WHERE client_id = ANY($1::text[]) AND status = 'abandoned' AND COALESCE(answered_at, started_at) >= $2
GROUP BY client_id
