-- The PostgreSQL store's own bookkeeping: the meta table (schema version and numbering),
-- the schema, advisory locks.

-- name: has_meta
-- to_regclass follows the search_path; NULL when the table (or schema) is not there.
SELECT to_regclass('meta')

-- name: schema_usable
SELECT has_schema_privilege(oid, 'USAGE') FROM pg_namespace WHERE nspname = $1

-- name: schema_exists
SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)

-- name: lock
-- A transaction-scoped advisory lock on a name (migrations, imports, a campaign's claims).
SELECT pg_advisory_xact_lock(hashtext($1))

-- name: create_meta
CREATE TABLE IF NOT EXISTS meta (key text PRIMARY KEY, value text NOT NULL)

-- name: get_meta
SELECT value FROM meta WHERE key = $1

-- name: set_meta
INSERT INTO meta(key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value

-- name: ping
SELECT 1
