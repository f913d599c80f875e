-- 3: global calls-per-second pacing per campaign; live leases per campaign

CREATE TABLE pacing (campaign TEXT PRIMARY KEY, next_start REAL NOT NULL);
CREATE INDEX clients_leased ON clients(campaign, lease_until) WHERE lease_owner IS NOT NULL;
