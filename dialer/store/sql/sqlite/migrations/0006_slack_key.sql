-- 6: claims take the least slack first (callable time left in the client's day). Existing
-- rows keep their closing-window order until they are placed again (all are marked for it);
-- the claim index walks the new key.

ALTER TABLE clients ADD COLUMN slack_key TEXT;
UPDATE clients SET slack_key = window_closes_at, needs_schedule = 1 WHERE next_dial_at IS NOT NULL;
DROP INDEX clients_claim;
CREATE INDEX clients_claim ON clients(campaign, priority, slack_key, window_closes_at, next_dial_at, id)
    WHERE next_dial_at IS NOT NULL;
