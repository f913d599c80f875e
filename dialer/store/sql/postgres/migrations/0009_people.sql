-- 9: the people at the dialer (agent desktop, supervisor console, API). Accounts, API tokens, agent presence, campaign
-- pauses, login failures (throttling) and an append-only audit trail of people's actions
-- (the events table is per client; these actions are about accounts and campaigns).
CREATE TABLE accounts (
    name text PRIMARY KEY,
    role text NOT NULL CHECK (role IN ('agent', 'supervisor')),
    campaigns text NOT NULL DEFAULT '[]',
    password_hash text NOT NULL,
    disabled boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE TABLE api_tokens (
    id text PRIMARY KEY,
    token_hash text NOT NULL UNIQUE,
    role text NOT NULL CHECK (role IN ('agent', 'supervisor')),
    campaigns text NOT NULL DEFAULT '[]',
    label text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE TABLE agent_presence (
    agent text PRIMARY KEY,
    state text NOT NULL,
    reason text,
    since timestamptz NOT NULL,
    wrap_up_until timestamptz,
    call_id text,
    in_call boolean NOT NULL DEFAULT false,
    campaign text,
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE TABLE campaign_pauses (
    campaign text PRIMARY KEY,
    paused boolean NOT NULL,
    by_name text NOT NULL,
    at timestamptz NOT NULL
);
CREATE TABLE login_failures (
    id bigserial PRIMARY KEY,
    account text NOT NULL,
    address text NOT NULL,
    at timestamptz NOT NULL
);
CREATE INDEX login_failures_account ON login_failures(account, at);
CREATE INDEX login_failures_address ON login_failures(address, at);
CREATE TABLE audit (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    subject text NOT NULL,
    data text NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_at ON audit(at);
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit is append-only';
END;
$$;
CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
