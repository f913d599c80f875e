-- What the workers share to pace calls: start slots (calls per second) and readiness.

-- name: reserve_start
-- The campaign's next free start slot (epoch seconds), taken and moved on by one gap.
INSERT INTO pacing(campaign, next_start) VALUES (?, ?) ON CONFLICT(campaign) DO UPDATE
SET next_start = MAX(next_start, ?) + ? RETURNING next_start

-- name: report_readiness
INSERT INTO provider_readiness(owner, provider, ready, reason, since, checked_at) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT(owner, provider) DO UPDATE SET ready = excluded.ready, reason = excluded.reason,
    since = excluded.since, checked_at = excluded.checked_at

-- name: readiness_reports
SELECT owner, provider, ready, reason, since, checked_at FROM provider_readiness
WHERE checked_at >= ? ORDER BY provider, owner

-- name: abandon_counts
-- issue 13: live answers (answered or abandoned; a machine is live only where it reached
-- the dialer as answered, SIP) and abandoned calls of a campaign answered in [since, until).
SELECT COALESCE(SUM(status IN ('answered', 'abandoned')), 0), COALESCE(SUM(status = 'abandoned'), 0)
FROM calls WHERE campaign = ? AND answered_at >= ? AND answered_at < ?
