-- 5: what the last import said (a re-import applies only what the CRM changed since), and
-- the client's state before a call's first disposition (for a correction). A client never
-- called has exactly what its import said; one called before may have moved on, so what its
-- last import said is unknown: imported_at stays NULL and its next import only records it.

ALTER TABLE clients ADD COLUMN imported_stage text, ADD COLUMN imported_next_contact timestamptz,
    ADD COLUMN imported_complaint boolean, ADD COLUMN imported_at timestamptz;
ALTER TABLE calls ADD COLUMN state_before jsonb;
UPDATE clients SET imported_stage = CASE WHEN stage = 'dnc' THEN NULL ELSE stage END,
    imported_next_contact = due_at, imported_complaint = complaint, imported_at = updated_at
WHERE NOT EXISTS (SELECT 1 FROM calls WHERE calls.client_id = clients.id);
