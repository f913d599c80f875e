-- 2: `dialer why` finds a client's place in a plan without a scan

CREATE INDEX plan_entries_client ON plan_entries(campaign, day, client_id);
