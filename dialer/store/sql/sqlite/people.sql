-- Named queries of the "people" store role (dialer/store/people.py): accounts, API
-- tokens, agent presence, campaign pauses, login failures, audit. Instants are ISO
-- text in UTC (see sqlite.py); campaign lists are JSON arrays.

-- name: add_account
INSERT INTO accounts(name, role, campaigns, password_hash, disabled, created_at, updated_at)
VALUES (?, ?, ?, ?, 0, ?, ?)

-- name: get_account
SELECT name, role, campaigns, password_hash, disabled, created_at FROM accounts WHERE name = ?

-- name: list_accounts
SELECT name, role, campaigns, password_hash, disabled, created_at FROM accounts ORDER BY name

-- name: set_password
UPDATE accounts SET password_hash = ?, updated_at = ? WHERE name = ?

-- name: set_disabled
UPDATE accounts SET disabled = ?, updated_at = ? WHERE name = ?

-- name: add_token
INSERT INTO api_tokens(id, token_hash, role, campaigns, label, created_at) VALUES (?, ?, ?, ?, ?, ?)

-- name: token_by_hash
SELECT id, role, campaigns, label, created_at, revoked_at FROM api_tokens WHERE token_hash = ?

-- name: list_tokens
SELECT id, role, campaigns, label, created_at, revoked_at FROM api_tokens ORDER BY created_at, id

-- name: revoke_token
UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL

-- name: presence_all
SELECT agent, state, reason, since, wrap_up_until, call_id, campaign, updated_by FROM agent_presence ORDER BY agent

-- name: presence_of
SELECT agent, state, reason, since, wrap_up_until, call_id, campaign, updated_by FROM agent_presence WHERE agent = ?

-- name: set_presence
-- An agent in a call keeps it: Paused / Logged out are stored (the call's end then
-- leaves them so, no wrap-up); Ready keeps them on-call until the call ends. Logging
-- out frees them entirely (also an agent whose worker died mid-call).
INSERT INTO agent_presence(agent, state, reason, since, wrap_up_until, call_id, campaign, updated_by, updated_at)
VALUES (?, ?, ?, ?, NULL, NULL, NULL, ?, ?)
ON CONFLICT(agent) DO UPDATE SET
    state = CASE WHEN agent_presence.in_call = 1 AND excluded.state = 'ready' THEN 'on_call' ELSE excluded.state END,
    reason = excluded.reason,
    in_call = CASE WHEN excluded.state = 'logged_out' THEN 0 ELSE agent_presence.in_call END,
    since = CASE WHEN agent_presence.state = excluded.state THEN agent_presence.since ELSE excluded.since END,
    wrap_up_until = NULL, updated_by = excluded.updated_by, updated_at = excluded.updated_at

-- name: ready_agents
-- Ready, or in a wrap-up that has run out (it ends by itself, seen by every worker),
-- longest waiting first.
SELECT agent FROM agent_presence
WHERE agent IN (SELECT value FROM json_each(?))
  AND in_call = 0 AND (state = 'ready' OR (state = 'wrap_up' AND wrap_up_until <= ?))
ORDER BY COALESCE(wrap_up_until, since), agent

-- name: take_agent
UPDATE agent_presence SET state = 'on_call', in_call = 1, reason = NULL, since = ?, wrap_up_until = NULL, call_id = ?,
    campaign = ?, updated_by = ?, updated_at = ?
WHERE agent = ? AND in_call = 0 AND (state = 'ready' OR (state = 'wrap_up' AND wrap_up_until <= ?))

-- name: end_call
-- The call ended: the agent is free again. Still on-call: wrap-up until the given end
-- (Ready at once without one); paused or logged out meanwhile: stays so.
UPDATE agent_presence SET in_call = 0,
    state = CASE WHEN state <> 'on_call' THEN state WHEN ?1 IS NULL THEN 'ready' ELSE 'wrap_up' END,
    since = CASE WHEN state = 'on_call' THEN ?2 ELSE since END,
    wrap_up_until = CASE WHEN state = 'on_call' THEN ?1 ELSE wrap_up_until END, updated_by = ?3, updated_at = ?2
WHERE agent = ?4 AND in_call = 1 AND call_id = ?5

-- name: extend_wrap_up
UPDATE agent_presence SET wrap_up_until = ?, updated_by = ?, updated_at = ?
WHERE agent = ? AND state = 'wrap_up' AND wrap_up_until > ?

-- name: set_campaign_paused
INSERT INTO campaign_pauses(campaign, paused, by_name, at) VALUES (?, ?, ?, ?)
ON CONFLICT(campaign) DO UPDATE SET paused = excluded.paused, by_name = excluded.by_name, at = excluded.at

-- name: campaign_pauses
SELECT campaign, paused, by_name, at FROM campaign_pauses ORDER BY campaign

-- name: paused_campaigns
SELECT campaign FROM campaign_pauses WHERE paused = 1

-- name: add_login_failure
INSERT INTO login_failures(account, address, at) VALUES (?, ?, ?)

-- name: failures_of_account
SELECT count(*) FROM login_failures WHERE account = ? AND at >= ?

-- name: failures_of_address
SELECT count(*) FROM login_failures WHERE address = ? AND at >= ?

-- name: clear_login_failures
DELETE FROM login_failures WHERE (account = ? AND address = ?) OR at < ?

-- name: add_audit
INSERT INTO audit(at, actor, action, subject, data) VALUES (?, ?, ?, ?, ?)

-- name: audit_since
-- People's actions; presence changes (action 'presence', one per change) are read
-- with presence_changes.
SELECT id, at, actor, action, subject, data FROM audit WHERE at >= ? AND action <> 'presence' ORDER BY id LIMIT ?

-- name: presence_state
-- The stored state before a change (locked on PostgreSQL until the change commits, so
-- two writers of one agent record a chain of changes, each from the state before it).
SELECT state FROM agent_presence WHERE agent = ?

-- name: presence_changes
-- Every presence change from an instant on (issue 13: logged-in time is rebuilt from
-- them; the audit_at index bounds the scan), oldest first.
SELECT at, subject, data FROM audit WHERE action = 'presence' AND at >= ? ORDER BY at, id
