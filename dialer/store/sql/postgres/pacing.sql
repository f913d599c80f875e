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
