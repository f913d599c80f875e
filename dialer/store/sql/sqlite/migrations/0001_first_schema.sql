-- 1: the whole first schema

CREATE TABLE clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    phone TEXT NOT NULL,
    timezone TEXT NOT NULL,
    country TEXT NOT NULL,
    schedule TEXT,
    campaign TEXT,
    campaign_pinned INTEGER NOT NULL DEFAULT 0,
    stage TEXT NOT NULL DEFAULT 'prospect',
    complaint INTEGER NOT NULL DEFAULT 0,
    hot_calls INTEGER NOT NULL DEFAULT 0,
    attempts_today INTEGER NOT NULL DEFAULT 0,
    attempts_total INTEGER NOT NULL DEFAULT 0,
    attempts_day TEXT,
    callback_at TEXT,
    awaiting_disposition INTEGER NOT NULL DEFAULT 0,
    invalid_number INTEGER NOT NULL DEFAULT 0,
    due_at TEXT,
    next_dial_at TEXT,
    window_closes_at TEXT,
    cap_until TEXT,
    priority INTEGER NOT NULL DEFAULT 4,
    schedule_reason TEXT,
    needs_schedule INTEGER NOT NULL DEFAULT 1,
    lease_owner TEXT,
    lease_token TEXT,
    lease_until TEXT,
    open_call_id TEXT,
    attributes TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- Claim: equality on campaign, then walk in call order; rows not yet due are skipped.
CREATE INDEX clients_claim ON clients(campaign, priority, window_closes_at)
    WHERE next_dial_at IS NOT NULL;
CREATE INDEX clients_next ON clients(next_dial_at) WHERE next_dial_at IS NOT NULL;
CREATE INDEX clients_stale ON clients(window_closes_at) WHERE next_dial_at IS NOT NULL;
CREATE INDEX clients_needs ON clients(needs_schedule) WHERE needs_schedule = 1;
CREATE INDEX clients_lease ON clients(lease_owner) WHERE lease_owner IS NOT NULL;

CREATE TABLE calls (
    call_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients(id),
    campaign TEXT NOT NULL,
    agent TEXT,
    phone TEXT NOT NULL,
    client_tz TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    local_day TEXT NOT NULL,
    status TEXT NOT NULL,
    provider TEXT NOT NULL,
    provider_call_id TEXT,
    answered_at TEXT,
    ended_at TEXT,
    ring_s REAL NOT NULL DEFAULT 0,
    talk_s REAL NOT NULL DEFAULT 0,
    guideline TEXT,
    disposition TEXT,
    disposition_at TEXT,
    note TEXT,
    error TEXT,
    allowed_by TEXT NOT NULL,
    lease_token TEXT
);
CREATE INDEX calls_started ON calls(started_at);
CREATE INDEX calls_client ON calls(client_id, started_at);
CREATE INDEX calls_open ON calls(status) WHERE status = 'dialing';
CREATE INDEX calls_provider ON calls(provider_call_id) WHERE provider_call_id IS NOT NULL;

CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    client_id TEXT NOT NULL,
    call_id TEXT,
    kind TEXT NOT NULL,
    from_stage TEXT,
    to_stage TEXT,
    reason TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_client ON events(client_id, id);
CREATE INDEX events_at ON events(at);
-- Append-only: the audit trail cannot be edited through SQL by accident.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

CREATE TABLE plans (
    campaign TEXT NOT NULL,
    day TEXT NOT NULL,
    capacity INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (campaign, day)
);
CREATE TABLE plan_entries (
    campaign TEXT NOT NULL,
    day TEXT NOT NULL,
    position INTEGER NOT NULL,
    client_id TEXT NOT NULL,
    priority INTEGER NOT NULL,
    next_dial_at TEXT NOT NULL,
    window_closes_at TEXT,
    fits INTEGER NOT NULL,
    PRIMARY KEY (campaign, day, position)
);
CREATE TABLE job_runs (
    job TEXT NOT NULL,
    campaign TEXT NOT NULL,
    day TEXT NOT NULL,
    owner TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    PRIMARY KEY (job, campaign, day)
);
