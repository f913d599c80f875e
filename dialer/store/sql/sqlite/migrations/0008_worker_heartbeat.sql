-- 8: short leases renewed by a heartbeat: when each worker was last alive (a crashed call
-- ends then), which worker placed each call, and the lines a campaign has in use (live
-- leases and calls not yet settled) counted without a scan

CREATE TABLE workers (worker TEXT PRIMARY KEY, seen_at TEXT NOT NULL);
ALTER TABLE calls ADD COLUMN worker TEXT;
CREATE INDEX clients_busy ON clients(campaign) WHERE lease_owner IS NOT NULL OR open_call_id IS NOT NULL;
