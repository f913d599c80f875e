-- The SQLite store's own bookkeeping: the meta table (schema version and numbering).

-- name: has_meta
SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'

-- name: create_meta
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)

-- name: get_meta
SELECT value FROM meta WHERE key = ?

-- name: set_meta
INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value

-- name: ping
SELECT 1
