-- 4: one call per client and attempt, enforced by the database itself

CREATE UNIQUE INDEX calls_attempt ON calls(client_id, attempt);
