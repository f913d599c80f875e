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
