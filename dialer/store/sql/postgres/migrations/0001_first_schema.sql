-- 1: the whole first schema
--
-- In PostgreSQL it also holds what SQLite adds in 0002 and 0003: the PostgreSQL store started
-- from SQLite's third version, so its 0002 and 0003 have nothing to do.

CREATE TABLE clients (
    id text PRIMARY KEY,
    name text NOT NULL,
    phone text NOT NULL,
    timezone text NOT NULL,
    country text NOT NULL,
    schedule text,
    campaign text,
    campaign_pinned boolean NOT NULL DEFAULT false,
    stage text NOT NULL DEFAULT 'prospect',
    complaint boolean NOT NULL DEFAULT false,
    hot_calls integer NOT NULL DEFAULT 0,
    attempts_today integer NOT NULL DEFAULT 0,
    attempts_total integer NOT NULL DEFAULT 0,
    attempts_day date,
    callback_at timestamptz,
    awaiting_disposition boolean NOT NULL DEFAULT false,
    invalid_number boolean NOT NULL DEFAULT false,
    due_at timestamptz,
    next_dial_at timestamptz,
    window_closes_at timestamptz,
    cap_until timestamptz,
    priority integer NOT NULL DEFAULT 4,
    schedule_reason text,
    needs_schedule boolean NOT NULL DEFAULT true,
    lease_owner text,
    lease_token text,
    lease_until timestamptz,
    open_call_id text,
    attributes jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
) WITH (fillfactor = 90);
-- Claim: equality on campaign, then walk in call order; rows not yet due are skipped.
CREATE INDEX clients_claim ON clients(campaign, priority, window_closes_at)
    WHERE next_dial_at IS NOT NULL;
CREATE INDEX clients_next ON clients(next_dial_at) WHERE next_dial_at IS NOT NULL;
CREATE INDEX clients_stale ON clients(window_closes_at) WHERE next_dial_at IS NOT NULL;
CREATE INDEX clients_needs ON clients(id) WHERE needs_schedule;
CREATE INDEX clients_lease ON clients(lease_owner) WHERE lease_owner IS NOT NULL;
-- Live leases per campaign (global campaign lines).
CREATE INDEX clients_leased ON clients(campaign, lease_until) WHERE lease_owner IS NOT NULL;

CREATE TABLE calls (
    call_id text PRIMARY KEY,
    client_id text NOT NULL REFERENCES clients(id),
    campaign text NOT NULL,
    agent text,
    phone text NOT NULL,
    client_tz text NOT NULL,
    attempt integer NOT NULL,
    started_at timestamptz NOT NULL,
    local_day date NOT NULL,
    status text NOT NULL,
    provider text NOT NULL,
    provider_call_id text,
    answered_at timestamptz,
    ended_at timestamptz,
    ring_s double precision NOT NULL DEFAULT 0,
    talk_s double precision NOT NULL DEFAULT 0,
    guideline text,
    disposition text,
    disposition_at timestamptz,
    note text,
    error text,
    allowed_by text NOT NULL,
    lease_token text
);
CREATE INDEX calls_started ON calls(started_at);
CREATE INDEX calls_client ON calls(client_id, started_at);
-- Open calls only: small however long the history; orphaned_calls starts here.
CREATE INDEX calls_open ON calls(call_id) WHERE status = 'dialing';
CREATE INDEX calls_provider ON calls(provider_call_id) WHERE provider_call_id IS NOT NULL;

CREATE TABLE events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL,
    client_id text NOT NULL,
    call_id text,
    kind text NOT NULL,
    from_stage text,
    to_stage text,
    reason text NOT NULL,
    data jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX events_client ON events(client_id, id);
CREATE INDEX events_at ON events(at);
-- Append-only: the audit trail cannot be edited through SQL by accident.
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only';
END
$$;
CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

CREATE TABLE plans (
    campaign text NOT NULL,
    day date NOT NULL,
    capacity integer NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (campaign, day)
);
CREATE TABLE plan_entries (
    campaign text NOT NULL,
    day date NOT NULL,
    position integer NOT NULL,
    client_id text NOT NULL,
    priority integer NOT NULL,
    next_dial_at timestamptz NOT NULL,
    window_closes_at timestamptz,
    fits boolean NOT NULL,
    PRIMARY KEY (campaign, day, position)
);
-- `dialer why` finds a client's place in a plan without a scan.
CREATE INDEX plan_entries_client ON plan_entries(campaign, day, client_id);
CREATE TABLE job_runs (
    job text NOT NULL,
    campaign text NOT NULL,
    day date NOT NULL,
    owner text NOT NULL,
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    PRIMARY KEY (job, campaign, day)
);
-- Global calls-per-second pacing per campaign (epoch seconds of the next free slot).
CREATE TABLE pacing (campaign text PRIMARY KEY, next_start double precision NOT NULL);
