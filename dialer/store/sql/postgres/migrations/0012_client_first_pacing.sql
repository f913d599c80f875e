-- 12: client-first pacing (issue 13). The pacer reads a campaign's recent finished calls
-- (answer rate, ring and talk times) every few seconds, newest first, from this index.
CREATE INDEX calls_campaign_started ON calls(campaign, started_at);
