-- Named queries of the "people" store role (dialer/store/people.py): accounts, API
-- tokens, agent presence, campaign pauses, login failures, audit. Campaign lists are
-- JSON arrays in text columns (the same shape as on SQLite).

-- name: add_account
INSERT INTO accounts(name, role, campaigns, password_hash, disabled, created_at, updated_at)
VALUES ($1, $2, $3, $4, false, $5, $6)

-- name: get_account
SELECT name, role, campaigns, password_hash, disabled, created_at FROM accounts WHERE name = $1

-- name: list_accounts
SELECT name, role, campaigns, password_hash, disabled, created_at FROM accounts ORDER BY name COLLATE "C"

-- name: set_password
UPDATE accounts SET password_hash = $1, updated_at = $2 WHERE name = $3

-- name: set_disabled
UPDATE accounts SET disabled = $1, updated_at = $2 WHERE name = $3

-- name: add_token
INSERT INTO api_tokens(id, token_hash, role, campaigns, label, created_at) VALUES ($1, $2, $3, $4, $5, $6)

-- name: token_by_hash
SELECT id, role, campaigns, label, created_at, revoked_at FROM api_tokens WHERE token_hash = $1

-- name: list_tokens
SELECT id, role, campaigns, label, created_at, revoked_at FROM api_tokens ORDER BY created_at, id COLLATE "C"

-- name: revoke_token
UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL

-- name: presence_all
SELECT agent, state, reason, since, wrap_up_until, call_id, campaign, updated_by FROM agent_presence
ORDER BY agent COLLATE "C"

-- name: presence_of
SELECT agent, state, reason, since, wrap_up_until, call_id, campaign, updated_by FROM agent_presence WHERE agent = $1

-- name: set_presence
-- An agent in a call keeps it: Paused / Logged out are stored (the call's end then
-- leaves them so, no wrap-up); Ready keeps them on-call until the call ends. Logging
-- out frees them entirely (also an agent whose worker died mid-call).
INSERT INTO agent_presence(agent, state, reason, since, wrap_up_until, call_id, campaign, updated_by, updated_at)
VALUES ($1, $2, $3, $4, NULL, NULL, NULL, $5, $6)
ON CONFLICT(agent) DO UPDATE SET
    state = CASE WHEN agent_presence.in_call AND excluded.state = 'ready' THEN 'on_call' ELSE excluded.state END,
    reason = excluded.reason,
    in_call = CASE WHEN excluded.state = 'logged_out' THEN false ELSE agent_presence.in_call END,
    since = CASE WHEN agent_presence.state = excluded.state THEN agent_presence.since ELSE excluded.since END,
    wrap_up_until = NULL, updated_by = excluded.updated_by, updated_at = excluded.updated_at

-- name: take_agent
-- One Ready agent of the list (or one whose wrap-up ran out), longest waiting first,
-- taken for a call; another worker's transaction skips the row it locked.
UPDATE agent_presence SET state = 'on_call', in_call = true, reason = NULL, since = $1, wrap_up_until = NULL, call_id = $2,
    campaign = $3, updated_by = $4, updated_at = $1
WHERE agent = (
    SELECT agent FROM agent_presence
    WHERE agent = ANY($5::text[]) AND NOT in_call AND (state = 'ready' OR (state = 'wrap_up' AND wrap_up_until <= $1))
    ORDER BY COALESCE(wrap_up_until, since), agent COLLATE "C"
    LIMIT 1 FOR UPDATE SKIP LOCKED
)
RETURNING agent

-- name: ready_agents
SELECT agent FROM agent_presence
WHERE agent = ANY($1::text[]) AND NOT in_call AND (state = 'ready' OR (state = 'wrap_up' AND wrap_up_until <= $2))
ORDER BY COALESCE(wrap_up_until, since), agent COLLATE "C"

-- name: end_call
-- The call ended: the agent is free again. Still on-call: wrap-up until the given end
-- (Ready at once without one); paused or logged out meanwhile: stays so.
UPDATE agent_presence SET in_call = false,
    state = CASE WHEN state <> 'on_call' THEN state WHEN $1::timestamptz IS NULL THEN 'ready' ELSE 'wrap_up' END,
    since = CASE WHEN state = 'on_call' THEN $2 ELSE since END,
    wrap_up_until = CASE WHEN state = 'on_call' THEN $1::timestamptz ELSE wrap_up_until END, updated_by = $3,
    updated_at = $2
WHERE agent = $4 AND in_call AND call_id = $5

-- name: extend_wrap_up
UPDATE agent_presence SET wrap_up_until = $1, updated_by = $2, updated_at = $3
WHERE agent = $4 AND state = 'wrap_up' AND wrap_up_until > $3

-- name: set_campaign_paused
INSERT INTO campaign_pauses(campaign, paused, by_name, at) VALUES ($1, $2, $3, $4)
ON CONFLICT(campaign) DO UPDATE SET paused = excluded.paused, by_name = excluded.by_name, at = excluded.at

-- name: campaign_pauses
SELECT campaign, paused, by_name, at FROM campaign_pauses ORDER BY campaign COLLATE "C"

-- name: paused_campaigns
SELECT campaign FROM campaign_pauses WHERE paused

-- name: add_login_failure
INSERT INTO login_failures(account, address, at) VALUES ($1, $2, $3)

-- name: failures_of_account
SELECT count(*) FROM login_failures WHERE account = $1 AND at >= $2

-- name: failures_of_address
SELECT count(*) FROM login_failures WHERE address = $1 AND at >= $2

-- name: clear_login_failures
DELETE FROM login_failures WHERE (account = $1 AND address = $2) OR at < $3

-- name: add_audit
INSERT INTO audit(at, actor, action, subject, data) VALUES ($1, $2, $3, $4, $5)

-- name: audit_since
-- People's actions; presence changes (action 'presence', one per change) are read
-- with presence_changes.
SELECT id, at, actor, action, subject, data FROM audit WHERE at >= $1 AND action <> 'presence' ORDER BY id LIMIT $2

-- name: presence_state
-- The stored state before a change (locked on PostgreSQL until the change commits, so
-- two writers of one agent record a chain of changes, each from the state before it).
SELECT state FROM agent_presence WHERE agent = $1 FOR UPDATE

-- name: presence_changes
-- Every presence change from an instant on (issue 13: logged-in time is rebuilt from
-- them; the audit_at index bounds the scan), oldest first.
SELECT at, subject, data FROM audit WHERE action = 'presence' AND at >= $1 ORDER BY at, id
