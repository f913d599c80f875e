-- 11: the abandon rate (issue 13). A campaign's live answers and abandoned calls over its
-- rolling window (24 h or 30 days) are counted from this index, not by scanning the log.
CREATE INDEX calls_answered ON calls(campaign, answered_at) WHERE answered_at IS NOT NULL;
